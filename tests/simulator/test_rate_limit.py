"""The account's rate limit: the API gateway's token bucket, on the simulated clock."""

from __future__ import annotations

import orjson
import pytest

from evs_job_watch import cli
from evs_job_watch.simulator import EvsSimulator, RateLimit, Reply
from evs_job_watch.simulator._standalone import build_parser, simulator_from_args
from evs_job_watch.simulator._throttle import TokenBucket

THROTTLE_MSG = "The throttling threshold has been reached: policy user over ratelimit,limit:"


def takes(bucket: TokenBucket, at: float, count: int) -> list[float | None]:
    return [bucket.take(at) for _ in range(count)]


def test_a_rate_limit_checks_its_values() -> None:
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="rate"):
            RateLimit(bad)
    with pytest.raises(ValueError, match="burst"):
        RateLimit(10, burst=0.5)
    with pytest.raises(ValueError, match="time order"):
        RateLimit(10, changes=[(20, 5), (10, 5)])
    with pytest.raises(ValueError, match="0 or more"):
        RateLimit(10, changes=[(-1, 5)])
    with pytest.raises(ValueError, match="changed rate"):
        RateLimit(10, changes=[(1, 0)])
    assert RateLimit(10, changes=[(1, 2)]).changes == ((1.0, 2.0),)


def test_the_burst_is_a_tenth_of_the_rate_in_force_unless_given() -> None:
    assert RateLimit(200).size(200) == 20
    assert RateLimit(200).size(100) == 10
    assert RateLimit(5).size(5) == 1  # never less than one request
    assert RateLimit(200, burst=3).size(100) == 3


def test_the_bucket_lets_its_burst_through_then_its_rate() -> None:
    bucket = TokenBucket(RateLimit(10, burst=3), speed=1.0, start=0.0)
    assert takes(bucket, 0.0, 3) == [None, None, None]
    assert bucket.take(0.0) == pytest.approx(0.1)  # the simulated seconds until a token
    assert bucket.take(0.05) == pytest.approx(0.05)
    assert takes(bucket, 0.1, 2) == [None, pytest.approx(0.1)]
    # A long idle time fills the bucket up to its burst, no more.
    assert takes(bucket, 100.0, 4) == [None, None, None, pytest.approx(0.1)]


def test_the_rate_changes_on_schedule_and_refills_piece_by_piece() -> None:
    limit = RateLimit(10, burst=1000, changes=[(1, 100), (3, 5)])
    assert [limit.rate_at(t) for t in (0, 0.99, 1, 2.5, 3, 60)] == [10, 10, 100, 100, 5, 5]
    bucket = TokenBucket(limit, speed=1.0, start=0.0)
    assert all(wait is None for wait in takes(bucket, 0.0, 1000))
    # From 0 to 2: one second at 10/s, one at 100/s.
    granted = takes(bucket, 2.0, 111)
    assert granted.count(None) == 110 and granted[-1] is not None


def test_the_bucket_runs_on_the_simulated_clock_from_its_first_request() -> None:
    bucket = TokenBucket(RateLimit(10, burst=1), speed=10.0, start=None)
    assert bucket.take(50.0) is None  # the first request starts it, full
    assert bucket.take(50.0) == pytest.approx(0.1)  # simulated seconds
    assert bucket.take(50.011) is None  # 0.011 loop s = 0.11 simulated s: a token


@pytest.fixture
def evs_simulator_options() -> dict[str, object]:
    return {"speed": 1.0}


async def test_the_account_is_throttled_with_the_gateway_429(
    evs_simulator: EvsSimulator, get_job
) -> None:
    first = evs_simulator.add_job(timeline=[(0, "RUNNING")])
    second = evs_simulator.add_job(timeline=[(0, "RUNNING")])
    assert evs_simulator.rate_limit is None
    # Set on a running simulator: it takes effect now, full. Next to nothing refills in
    # the time a test takes.
    evs_simulator.rate_limit = RateLimit(0.01, burst=2)
    statuses = [(await get_job(evs_simulator, job_id))[0] for job_id in (first, second, first)]
    assert statuses == [200, 200, 429]  # one bucket for the whole account
    status, headers, body = await get_job(evs_simulator, second)
    error = orjson.loads(body)
    assert status == 429
    assert error["error_code"] == "APIG.0308"
    assert error["error_msg"].startswith(THROTTLE_MSG)
    assert set(error) == {"error_msg", "error_code", "request_id"}
    assert "Retry-After" not in headers
    assert [r.fault for r in evs_simulator.requests] == [None, None, "rate_limit", "rate_limit"]
    evs_simulator.rate_limit = None
    assert (await get_job(evs_simulator, first))[0] == 200


async def test_scripted_replies_pass_the_gateway_untouched(
    evs_simulator: EvsSimulator, get_job
) -> None:
    job_id = evs_simulator.add_job(timeline=[(0, "RUNNING")])
    evs_simulator.rate_limit = RateLimit(0.01, burst=1)
    assert (await get_job(evs_simulator, job_id))[0] == 200
    evs_simulator.inject(job_id, Reply(status=503))
    assert (await get_job(evs_simulator, job_id))[0] == 503
    assert (await get_job(evs_simulator, job_id))[0] == 429


@pytest.mark.parametrize("speed", [1.0, 4.0])
async def test_retry_after_says_in_loop_seconds_when_a_token_is_free(get_job, speed: float) -> None:
    async with EvsSimulator(
        speed=speed, rate_limit=RateLimit(0.5, burst=1, retry_after=True)
    ) as sim:
        job_id = sim.add_job(timeline=[(0, "RUNNING")])
        assert (await get_job(sim, job_id))[0] == 200
        status, headers, _ = await get_job(sim, job_id)
    assert status == 429
    # A token every 2 simulated seconds, that is 2 / speed seconds of the loop's clock.
    assert 0 < float(headers["Retry-After"]) <= 2.0 / speed


def test_the_command_line_sets_the_rate_limit() -> None:
    args = build_parser().parse_args(
        ["--rate-limit", "200/50", "30:100", "60:200", "--rate-limit-retry-after"]
    )
    assert simulator_from_args(args).rate_limit == RateLimit(
        200, burst=50, changes=((30, 100), (60, 200)), retry_after=True
    )
    plain = build_parser().parse_args(["--rate-limit", "80"])
    assert simulator_from_args(plain).rate_limit == RateLimit(80)
    assert simulator_from_args(build_parser().parse_args([])).rate_limit is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (["x"], "could not convert"),
        (["100", "30"], "AT:RATE"),
        (["100", "30:0"], "changed rate"),
        (["100/0"], "burst"),
    ],
)
def test_a_bad_rate_limit_option_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], spec: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["simulate", "--rate-limit", *spec])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--rate-limit" in err and message in err
