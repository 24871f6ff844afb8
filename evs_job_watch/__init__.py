"""Watch Elastic Volume Service jobs on Open Telekom Cloud and Huawei Cloud from asyncio."""

from ._api._client import EvsJobClient
from ._core._events import JobEvent
from ._core._handle import JobHandle
from ._core._store import LocalStore, Store
from ._core._stream import EventStream
from ._core._watcher import JobWatcher, WatcherStats
from ._credentials._auth import AkSkAuth, TokenAuth
from ._credentials._iam import PasswordAuth
from ._credentials._keys import Credentials
from ._credentials._metadata import MetadataCredentials
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
    VolumeFailedError,
    WatcherClosedError,
    WatchTimeoutError,
)
from ._models import ApiError, Job, JobEntities, JobStatus, JobType, Volume
from ._policy import PollPolicy
from ._version import __version__
from ._wire._regions import endpoint_for

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
    "Volume",
    "VolumeFailedError",
    "WatchTimeoutError",
    "WatcherClosedError",
    "WatcherStats",
    "__version__",
    "endpoint_for",
]
