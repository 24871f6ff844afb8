"""An EVS job API look-alike on loopback: the oracle the library is tested against.

It builds its JSON on its own and imports nothing of the library's models, codec,
client or watcher, so a bug there cannot hide itself here.
"""

from ._faults import Faults, Reply
from ._jobs import Duration
from ._scenario import Transition
from ._simulator import EvsSimulator, RequestRecord
from ._standalone import main
from ._throttle import RateLimit

__all__ = [
    "Duration",
    "EvsSimulator",
    "Faults",
    "RateLimit",
    "Reply",
    "RequestRecord",
    "Transition",
    "main",
]
