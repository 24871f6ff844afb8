"""Watch Elastic Volume Service jobs on Open Telekom Cloud and Huawei Cloud from asyncio."""

import logging

from ._api._client import EvsJobClient
from ._core._events import ErrorCallback, EventCallback, JobEvent
from ._core._fanout import CompletedJobs
from ._core._handle import JobHandle
from ._core._snapshot import Snapshot, SnapshotWatch
from ._core._source import JobSource
from ._core._store import LocalStore, Store
from ._core._stream import EventStream
from ._core._watcher import JobWatcher, WatcherStats
from ._credentials._auth import AkSkAuth, Auth, TokenAuth, TokenProvider
from ._credentials._iam import PasswordAuth
from ._credentials._keys import Credentials, CredentialsProvider
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
from ._wire._codec import Answer
from ._wire._http import HttpOptions, HttpSettings
from ._wire._regions import endpoint_for

# A library configures no logging, but keeps Python's last-resort handler from printing
# its warnings on stderr when the application configured none either (docs/logging.md).
logging.getLogger("evs_job_watch").addHandler(logging.NullHandler())

__all__ = [
    "AkSkAuth",
    "Answer",
    "ApiError",
    "Auth",
    "AuthenticationError",
    "CompletedJobs",
    "ConnectionSetupError",
    "Credentials",
    "CredentialsProvider",
    "ErrorCallback",
    "EventCallback",
    "EventStream",
    "EvsApiError",
    "EvsJobClient",
    "EvsJobWatchError",
    "HttpOptions",
    "HttpSettings",
    "Job",
    "JobEntities",
    "JobEvent",
    "JobFailedError",
    "JobHandle",
    "JobNotFoundError",
    "JobSource",
    "JobStatus",
    "JobType",
    "JobWatcher",
    "LocalStore",
    "MalformedResponseError",
    "MetadataCredentials",
    "PasswordAuth",
    "PollPolicy",
    "ServerError",
    "Snapshot",
    "SnapshotWatch",
    "Store",
    "ThrottledError",
    "TokenAuth",
    "TokenProvider",
    "Volume",
    "VolumeFailedError",
    "WatchTimeoutError",
    "WatcherClosedError",
    "WatcherStats",
    "__version__",
    "endpoint_for",
]
