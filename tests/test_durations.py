"""One rule for durations everywhere: seconds as a number or a ``timedelta``; anything else
is a TypeError naming the argument (and a bad number a ValueError naming it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from evs_job_watch import (
    EvsJobClient,
    JobWatcher,
    MetadataCredentials,
    PasswordAuth,
    PollPolicy,
)
from evs_job_watch.redis import RedisStore

ENDPOINT = "https://evs.eu-de.otc.t-systems.com"
IAM = "https://iam.eu-de.otc.t-systems.com/v3"


def client(**kwargs: Any) -> object:
    return EvsJobClient(ENDPOINT, "p1", **kwargs)


def password(**kwargs: Any) -> object:
    return PasswordAuth("u", "pw", domain_name="d", project_id="p1", iam_endpoint=IAM, **kwargs)


def redis(**kwargs: Any) -> object:
    return RedisStore("redis://127.0.0.1:1", **kwargs)


# (what makes the object, the argument, where the seconds can be read back)
DURATIONS: list[tuple[Callable[..., object], str, Callable[[Any], float]]] = [
    (PollPolicy, "interval", lambda made: made.interval),
    (PollPolicy, "max_interval", lambda made: made.max_interval),
    (PollPolicy, "not_found_grace", lambda made: made.not_found_grace),
    (PollPolicy, "latency", lambda made: made.latency),
    (client, "timeout", lambda made: made.http.timeout),
    (password, "timeout", lambda made: made.http.timeout),
    (MetadataCredentials, "timeout", lambda made: made._remote.http.timeout),
    (redis, "lease", lambda made: made.lease),
    (redis, "open_timeout", lambda made: made._open_timeout),
    (redis, "keep_ended", lambda made: made._keep_ms / 1000),
]
IDS = [f"{make.__name__}-{name}" for make, name, _ in DURATIONS]


@pytest.mark.parametrize(("make", "name", "read"), DURATIONS, ids=IDS)
def test_a_duration_is_seconds_or_a_timedelta(
    make: Callable[..., object], name: str, read: Callable[[Any], float]
) -> None:
    extra = {"max_interval": 3600} if name == "interval" else {}
    assert read(make(**{name: 20}, **extra)) == 20.0
    assert read(make(**{name: 20.5}, **extra)) == 20.5
    assert read(make(**{name: timedelta(seconds=21)}, **extra)) == 21.0


@pytest.mark.parametrize(("make", "name", "read"), DURATIONS, ids=IDS)
@pytest.mark.parametrize("wrong", ["2", b"2", True, [2], None])
def test_anything_else_is_a_type_error_naming_the_argument(
    make: Callable[..., object], name: str, read: Callable[[Any], float], wrong: object
) -> None:
    if wrong is None and name == "latency":
        return  # latency=None turns learning off (its own test)
    with pytest.raises(TypeError, match=rf"^{name} must be seconds \(a number\)"):
        make(**{name: wrong})


@pytest.mark.parametrize(("make", "name", "read"), DURATIONS, ids=IDS)
def test_a_bad_number_is_a_value_error_naming_the_argument(
    make: Callable[..., object], name: str, read: Callable[[Any], float]
) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be"):
        make(**{name: -1})


@pytest.mark.parametrize("name", ["multiplier", "jitter"])
@pytest.mark.parametrize("wrong", ["2", True, timedelta(seconds=1), None])
def test_the_policy_s_plain_numbers_refuse_anything_else_naming_it(
    name: str, wrong: object
) -> None:
    with pytest.raises(TypeError, match=rf"^{name} must be a number"):
        PollPolicy(**{name: wrong})


async def test_the_watcher_s_timeouts_follow_the_rule() -> None:
    watcher = JobWatcher(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^timeout must be seconds"):
        watcher.watch("a", timeout="9")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^timeout must be"):
        watcher.watch("a", timeout=timedelta(0))
    await watcher.aclose()
