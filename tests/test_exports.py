"""The public surface: ``__all__`` is exactly the public names, and holds the contract."""

from __future__ import annotations

import inspect
import re
import types

import evs_job_watch

# DESIGN.md section 3: the names users import.
CONTRACT = {
    "EvsJobClient",
    "JobWatcher",
    "JobHandle",
    "PollPolicy",
    "TokenAuth",
    "AkSkAuth",
    "Job",
    "JobEntities",
    "JobStatus",
    "JobType",
    "ApiError",
    "JobEvent",
    "EvsJobWatchError",
    "EvsApiError",
    "JobNotFoundError",
    "AuthenticationError",
    "ThrottledError",
    "ServerError",
    "MalformedResponseError",
    "JobFailedError",
    "WatchTimeoutError",
    "WatcherClosedError",
}
PUBLIC_DUNDERS = {"__version__"}


def test_all_is_sorted() -> None:
    assert evs_job_watch.__all__ == sorted(evs_job_watch.__all__)
    assert len(set(evs_job_watch.__all__)) == len(evs_job_watch.__all__)


def test_all_is_exactly_the_public_names_of_the_package() -> None:
    public = {
        name
        for name, value in vars(evs_job_watch).items()
        # Submodules (``simulator``, ``cli``) become attributes once imported; they are
        # reached by their dotted path, not re-exported.
        if (not name.startswith("_") or name in PUBLIC_DUNDERS)
        and not isinstance(value, types.ModuleType)
    }
    assert set(evs_job_watch.__all__) == public


def test_every_exported_name_resolves() -> None:
    for name in evs_job_watch.__all__:
        assert getattr(evs_job_watch, name) is not None


def test_all_holds_every_name_of_the_design_contract() -> None:
    assert set(evs_job_watch.__all__) >= CONTRACT


def test_version_is_a_string() -> None:
    assert isinstance(evs_job_watch.__version__, str)
    assert evs_job_watch.__version__


def test_exceptions_form_the_documented_tree() -> None:
    ew = evs_job_watch
    api_errors = [ew.JobNotFoundError, ew.AuthenticationError, ew.ThrottledError, ew.ServerError]
    for error in api_errors:
        assert issubclass(error, ew.EvsApiError)
    for error in [
        ew.EvsApiError,
        ew.ConnectionSetupError,
        ew.MalformedResponseError,
        ew.JobFailedError,
        ew.WatchTimeoutError,
        ew.WatcherClosedError,
    ]:
        assert issubclass(error, ew.EvsJobWatchError)
        assert not issubclass(error, ew.EvsApiError) or error is ew.EvsApiError
    assert issubclass(ew.WatchTimeoutError, TimeoutError)
    # A connection that never worked is a setup problem, not a server error to retry.
    assert not issubclass(ew.ConnectionSetupError, ew.ServerError)
    assert issubclass(ew.EvsJobWatchError, Exception)


def test_what_a_user_implements_or_passes_is_exported() -> None:
    # JobWatcher's source, the client's auth, the callbacks, the token and key providers,
    # what as_completed, poll_job and snapshot() return.
    implemented_or_passed = {
        "JobSource": "client",
        "Auth": "auth",
        "EventCallback": "on_status_change",
        "ErrorCallback": "on_error",
        "TokenProvider": "token",
        "CredentialsProvider": "provider",
        "CompletedJobs": "as_completed",
        "Answer": "poll_job",
        "Snapshot": "snapshot",
        "SnapshotWatch": "snapshot",
    }
    assert set(implemented_or_passed) <= set(evs_job_watch.__all__)


def test_public_signatures_name_only_public_types() -> None:
    # Every annotation of a public method of the client and the watcher names a type a
    # user can import (from evs_job_watch, the standard library, aiohttp or yarl).
    exported = set(evs_job_watch.__all__)
    allowed = exported | {
        "str",
        "int",
        "float",
        "bool",
        "None",
        "bytes",
        "object",
        "Any",
        "Literal",
        "Unpack",
        "False",
        "timedelta",
        "datetime",
        "Mapping",
        "Iterable",
        "Sequence",
        "AsyncIterator",
        "list",
        "dict",
        "tuple",
        "frozenset",
        "BaseException",
        "ClientSession",
        "PathLike",
        "Random",
        "URL",
        "SSLContext",
        "Path",
        "TracebackType",
        "type",
        "aiohttp",
        "ssl",
        "os",
        "random",
        "yarl",
    }
    for cls in (evs_job_watch.EvsJobClient, evs_job_watch.JobWatcher):
        for name, member in vars(cls).items():
            if name.startswith("_") and name != "__init__":
                continue
            function = getattr(member, "__func__", member)
            if not callable(function):
                continue
            annotations = [str(v) for v in inspect.get_annotations(function).values()]
            for text in annotations:
                for word in re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text):
                    assert word in allowed, f"{cls.__name__}.{name}: {word} in {text}"
