"""Watch Elastic Volume Service jobs on Open Telekom Cloud and Huawei Cloud from asyncio."""

from ._auth import AkSkAuth, TokenAuth
from ._client import EvsJobClient
from ._credentials import Credentials
from ._errors import (
    AuthenticationError,
    ConnectionSetupError,
    EvsApiError,
    EvsJobWatchError,
    JobFailedError,
    JobNotFoundError,
    MalformedResponseError,
    ServerError,
    ThrottledError,
    WatcherClosedError,
    WatchTimeoutError,
)
from ._events import JobEvent
from ._handle import JobHandle
from ._iam import PasswordAuth
from ._metadata import MetadataCredentials
from ._models import ApiError, Job, JobEntities, JobStatus, JobType
from ._policy import PollPolicy
from ._regions import endpoint_for
from ._store import LocalStore, Store
from ._stream import EventStream
from ._version import __version__
from ._watcher import JobWatcher, WatcherStats

__all__ = [
    "AkSkAuth",
    "ApiError",
    "AuthenticationError",
    "ConnectionSetupError",
    "Credentials",
    "EventStream",
    "EvsApiError",
    "EvsJobClient",
    "EvsJobWatchError",
    "Job",
    "JobEntities",
    "JobEvent",
    "JobFailedError",
    "JobHandle",
    "JobNotFoundError",
    "JobStatus",
    "JobType",
    "JobWatcher",
    "LocalStore",
    "MalformedResponseError",
    "MetadataCredentials",
    "PasswordAuth",
    "PollPolicy",
    "ServerError",
    "Store",
    "ThrottledError",
    "TokenAuth",
    "WatchTimeoutError",
    "WatcherClosedError",
    "WatcherStats",
    "__version__",
    "endpoint_for",
]
