"""An EVS job API look-alike on loopback: the oracle the library is tested against.

It builds its JSON on its own and imports nothing of the library's models, codec,
client or watcher, so a bug there cannot hide itself here.
"""

from ._answers import RequestRecord
from ._faults import Faults, Reply
from ._jobs import Duration
from ._scenario import Transition
from ._simulator import EvsSimulator
from ._standalone import main
from ._throttle import RateLimit
from ._volumes import Quirks

__all__ = [
    "Duration",
    "EvsSimulator",
    "Faults",
    "Quirks",
    "RateLimit",
    "Reply",
    "RequestRecord",
    "Transition",
    "main",
]
