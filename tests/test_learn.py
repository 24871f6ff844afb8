"""The learned schedule: what the model takes from answers, and the delays it suggests.

Pure decisions, pinned without an event loop: jobs are built with their API times, and
every call passes the wall clock (``now``) in. One watcher-level test at the end checks
that the poller asks the model, and that a restart keeps what was learned.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import datetime, timedelta, timezone

import attrs
import pytest

from evs_job_watch import (
    Job,
    JobEntities,
    JobStatus,
    JobType,
    JobWatcher,
    PollPolicy,
)
from evs_job_watch._core import _snapshot
from evs_job_watch._core._learn import DurationModel
from evs_job_watch._core._schedule import START, after_answer
from evs_job_watch._core._survival import BINS, Curve, bin_of, prior_hazards

from .scripted import ScriptedClient

CREATE = JobType.CREATE_VOLUME
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
EPOCH = T0.timestamp()
LATENCY = 4.2  # the default: below it, the skip shrinks (see test_policy_knob.py)


def running(job_id: str, age: float, job_type: JobType | None = CREATE, **kw: object) -> Job:
    """A job ``age`` seconds old at EPOCH (begun before it)."""
    begin = T0 - timedelta(seconds=age)
    return Job(job_id, JobStatus.RUNNING, job_type, begin, **kw)  # type: ignore[arg-type]


def ended(job_id: str, duration: float, job_type: JobType | None = CREATE) -> Job:
    """A job that began at T0 and ended ``duration`` seconds later."""
    return Job(job_id, JobStatus.SUCCESS, job_type, T0, T0 + timedelta(seconds=duration))


def learned(durations: list[float], job_type: JobType = CREATE) -> DurationModel:
    model = DurationModel()
    for n, duration in enumerate(durations):
        model.seen(ended(f"{job_type.value}{n}", duration, job_type), EPOCH + duration)
    return model


def spread(low: float, high: float, count: int, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [rng.uniform(low, high) for _ in range(count)]


# -- the survival curve ----------------------------------------------------------------


def test_a_curve_without_jobs_is_its_parent() -> None:
    prior = prior_hazards(20.0, 1.0)
    curve = Curve([0.0] * BINS, [0.0] * BINS, prior, 2.0)
    assert curve.hazards == pytest.approx(prior)
    # Half of a log-normal's jobs end by its median.
    assert curve.ending_within(0.0, 20.0) == pytest.approx(0.5, abs=0.02)
    assert curve.at_risk(5.0) == 0.0


def test_censored_jobs_keep_the_curve_up_where_no_job_ended() -> None:
    events, alive = [0.0] * BINS, [0.0] * BINS
    events[bin_of(10.0)] = 10.0
    ended_only = Curve(events, alive, [0.0] * BINS, 1.0)
    alive[bin_of(60.0)] = 90.0  # 90 jobs seen running at 60 s: they last longer
    with_censored = Curve(events, alive, [0.0] * BINS, 1.0)
    assert ended_only.ending_within(0.0, 15.0) > 0.9
    assert with_censored.ending_within(0.0, 15.0) == pytest.approx(0.1, abs=0.02)
    assert with_censored.at_risk(30.0) == pytest.approx(90.0)


def test_quiet_is_the_longest_wait_within_a_chance_of_ending() -> None:
    events = [0.0] * BINS
    for duration in range(10, 110):
        events[bin_of(float(duration))] += 1
    curve = Curve(events, [0.0] * BINS, [0.0] * BINS, 0.0)
    wait = curve.quiet(0.0, 0.05)
    assert curve.ending_within(0.0, wait) == pytest.approx(0.05, abs=1e-6)
    assert 13.0 < wait < 16.0  # the fifth of a hundred durations from 10 s to 109 s
    assert curve.quiet(50.0, 0.0) == 0.0
    # Past the grid the tail is scale-free: the wait grows with the age.
    old = 30_000.0
    assert curve.quiet(old, 0.05) == pytest.approx(old * 0.05 / 0.95, rel=1e-6)


def test_calm_is_the_time_until_jobs_end_at_a_rate() -> None:
    events = [0.0] * BINS
    for duration in range(30, 40):
        events[bin_of(float(duration))] += 10
    curve = Curve(events, [0.0] * BINS, [0.0] * BINS, 0.0)
    assert curve.calm(0.0, 0.01) == pytest.approx(29.6, abs=0.5)  # the bin holding 30 s
    assert curve.calm(35.0, 0.01) == 0.0


# -- learning ------------------------------------------------------------------------


def test_ended_jobs_and_ended_sub_jobs_are_samples_counted_once() -> None:
    model = DurationModel()
    subs = tuple(ended(f"s{n}", 20.0 + n) for n in range(3))
    batch = running("b", 25.0, JobType.BATCH_CREATE_VOLUME, entities=JobEntities(sub_jobs=subs))
    for _ in range(3):  # a batch shows its ended sub-jobs in every answer
        model.seen(batch, EPOCH)
    model.seen(ended("j", 12.5), EPOCH)
    model.seen(ended("j", 12.5), EPOCH)
    assert model.history() == {
        "batchCreateVolume/createVolume": [20.0, 21.0, 22.0],
        "createVolume": [12.5],
    }


def test_jobs_without_times_teach_nothing_and_memory_is_bounded() -> None:
    model = DurationModel()
    model.seen(Job("j", JobStatus.SUCCESS, CREATE), EPOCH)
    model.seen(Job("k", JobStatus.SUCCESS, CREATE, T0), EPOCH)  # no end_time
    model.seen(Job("x", JobStatus.SUCCESS, CREATE, T0 + timedelta(1), T0), EPOCH)  # negative
    assert model.history() == {}
    assert model.delay(Job("j", JobStatus.RUNNING, CREATE), EPOCH, LATENCY) is None
    model.add("createVolume", range(300))
    assert model.history()["createVolume"] == list(range(100, 300))  # the 200 most recent
    for n in range(100):
        model.add(f"invented{n}", [7.0])
    assert len(model.history()) == 64  # past the cap of kinds, nothing more is learned
    model.add("y" * 201, [1.0])
    assert "y" * 201 not in model.history()


def test_running_jobs_are_a_sample_that_more_jobs_leave_as_it_is() -> None:
    # 600 running jobs of one kind, polled in turn: the first 512 are the sample, the
    # other 88 are not counted, so polling them changes no count and rebuilds no curve.
    model, sampled = DurationModel(), DurationModel()
    jobs = [running(f"r{n}", 60.0) for n in range(600)]
    for job in jobs:
        model.seen(job, EPOCH)
    for job in jobs[:512]:
        sampled.seen(job, EPOCH)
    generation = model._generation
    for step in range(3 * 600):  # within 2 s: each job stays in its age bin
        model.seen(jobs[step % 600], EPOCH + step * 0.001)
    assert model._generation == generation
    for age in (0.0, 30.0, 61.0, 300.0):
        probe = running("probe", age)
        assert model.delay(probe, EPOCH, LATENCY) == sampled.delay(probe, EPOCH, LATENCY)
    # A job in the sample not seen for ten minutes gives its place to the next one.
    running_ids = model._kinds["createVolume"].running
    for n in range(1, 512):
        model.seen(jobs[n], EPOCH + 1000.0)
    model.seen(jobs[600 - 1], EPOCH + 1000.0)  # r0 was last seen at EPOCH + 1.2 s
    assert "r0" not in running_ids and "r599" in running_ids and len(running_ids) == 512
    model.seen(jobs[598], EPOCH + 1000.0)  # every other one was seen just now: no place
    assert "r598" not in running_ids


# -- deciding ------------------------------------------------------------------------


def test_a_cold_start_polls_every_latency_seconds() -> None:
    model = DurationModel()  # nothing seen: a fresh job is polled `latency` seconds on
    assert model.delay(running("new", 0.0), EPOCH, LATENCY) == LATENCY
    assert model.delay(running("new", 0.0, None), EPOCH, 9.0) == 9.0


def test_history_skips_the_quiet_start_and_polls_densely_where_jobs_end() -> None:
    model = learned(spread(30.0, 40.0, 100))
    young = model.delay(running("a", 0.0), EPOCH, LATENCY)
    assert young is not None and 25.0 < young < 36.0  # first poll near the first ends
    for age in (31.0, 35.0, 38.0):
        delay = model.delay(running("b", age), EPOCH, LATENCY)
        assert delay is not None and delay <= LATENCY + 0.5


def test_jobs_still_running_are_evidence() -> None:
    durations = spread(8.0, 12.0, 20)
    without = learned(durations)
    with_running = learned(durations)
    for n in range(100):  # a hundred jobs seen alive at 60 s: this kind is slower now
        with_running.seen(running(f"r{n}", 60.0), EPOCH)
    # At 13 s, past every job seen to end: without the running ones, that is the tail;
    # with them, a hundred jobs lived to 60 s and the next poll can wait.
    plain = without.delay(running("x", 13.0), EPOCH, LATENCY)
    informed = with_running.delay(running("x", 13.0), EPOCH, LATENCY)
    assert plain is not None and informed is not None
    assert plain < LATENCY + 1 < 20 < informed


def test_the_tail_past_history_grows_with_the_age_not_to_the_cap() -> None:
    model = learned(spread(9.0, 11.0, 100))
    delays = [model.delay(running("late", age), EPOCH, LATENCY) for age in (60, 120, 240, 480)]
    skips = [d - LATENCY for d in delays]  # type: ignore[operator]
    skip = 0.025  # the README's promise: at most a 2.5% chance of ending unseen in a skip
    chance = skip / (1 - skip)
    assert skips == pytest.approx([chance * age for age in (60, 120, 240, 480)], rel=0.05)
    policy = PollPolicy(jitter=0)
    assert [after_answer(START, False, d, policy, random.Random(1))[1] for d in delays] == [
        pytest.approx(d) for d in delays[:3]
    ] + [policy.max_interval]


def test_a_late_watch_uses_the_age_from_begin_time() -> None:
    model = learned(spread(30.0, 40.0, 100))
    fresh = model.delay(running("a", 0.0), EPOCH, LATENCY)
    late = model.delay(running("a", 29.0), EPOCH, LATENCY)
    assert fresh is not None and late is not None and late < fresh - 20


def test_a_kind_seen_three_times_borrows_from_the_pool() -> None:
    def rare_after(pool: list[float]) -> float | None:
        model = learned(pool)
        for n, duration in enumerate((60.0, 62.0, 65.0)):
            model.seen(ended(f"r{n}", duration, JobType.RETYPE_VOLUME), EPOCH)
        return model.delay(running("x", 50.0, JobType.RETYPE_VOLUME), EPOCH, LATENCY)

    among_slow, among_fast = rare_after(spread(50, 90, 200)), rare_after(spread(3, 6, 200))
    assert among_slow is not None and among_fast is not None
    assert among_slow < among_fast  # the pool says 50-90 s jobs end around now


def test_a_batch_whose_sub_jobs_all_ended_is_polled_soon_then_backs_off() -> None:
    model = DurationModel()
    for since, expected in ((0.0, 0.0), (1.5, 1.5), (30.0, LATENCY)):
        begin = T0 - timedelta(seconds=22.0 + since)  # the last sub-job ended at 22 s
        subs = tuple(
            Job(f"s{n}", JobStatus.SUCCESS, CREATE, begin, begin + timedelta(seconds=20.0 + n))
            for n in range(3)
        )
        batch = Job("b", JobStatus.RUNNING, JobType.BATCH_CREATE_VOLUME, begin)
        batch = attrs.evolve(batch, entities=JobEntities(sub_jobs=subs))
        assert model.delay(batch, EPOCH, LATENCY) == pytest.approx(expected)


def test_a_batch_ends_with_its_last_sub_job() -> None:
    model = learned(spread(15.0, 25.0, 100), JobType.CREATE_VOLUME)
    for n, duration in enumerate(spread(15.0, 25.0, 100, seed=2)):
        subs = (ended(f"s{n}", duration),)
        parent = Job("p", JobStatus.RUNNING, JobType.BATCH_CREATE_VOLUME, T0)
        model.seen(attrs.evolve(parent, entities=JobEntities(sub_jobs=subs)), EPOCH)

    def batch(count: int) -> Job:
        subs = tuple(running(f"b{n}", 10.0) for n in range(count))
        return running("b", 10.0, JobType.BATCH_CREATE_VOLUME, entities=JobEntities(sub_jobs=subs))

    one, eight = model.delay(batch(1), EPOCH, LATENCY), model.delay(batch(8), EPOCH, LATENCY)
    assert one is not None and eight is not None
    assert eight > one  # eight sub-jobs all ending early is less likely than one


def test_the_decisions_are_deterministic() -> None:
    def run() -> list[float]:
        model, rng, cadence = learned(spread(5, 50, 150)), random.Random(7), START
        delays = []
        for age in range(0, 60, 3):
            delay = model.delay(running("j", float(age)), EPOCH, LATENCY)
            cadence, spread_delay = after_answer(cadence, False, delay, PollPolicy(), rng)
            delays.append(spread_delay)
        return delays

    assert run() == run()
    assert min(run()) >= PollPolicy().floor


def test_history_round_trips_through_a_snapshot() -> None:
    model = learned(spread(30.0, 40.0, 50))
    data = _snapshot.dump([], model.history())
    again = DurationModel()
    for kind, durations in _snapshot.learned(data).items():
        again.add(kind, durations)
    assert again.history() == {k: [round(d, 3) for d in v] for k, v in model.history().items()}
    job = running("a", 0.0)
    assert again.delay(job, EPOCH, LATENCY) == pytest.approx(
        model.delay(job, EPOCH, LATENCY), abs=0.01
    )


def test_every_kind_learned_is_read_back_and_no_longer_one_is_learned() -> None:
    # One limit for both: a kind the model learns is one a snapshot reads back.
    longest, too_long = "k" * _snapshot.KIND_TEXT, "k" * (_snapshot.KIND_TEXT + 1)
    model = DurationModel()
    model.add(longest, [30.0])
    model.add(too_long, [30.0])
    assert list(model.history()) == [longest]
    assert _snapshot.learned(_snapshot.dump([], model.history())) == {longest: [30.0]}
    with pytest.raises(ValueError, match="invalid kind"):
        _snapshot.learned({"learned": {too_long: [30.0]}})


@pytest.mark.parametrize(
    ("learned_value", "message"),
    [
        ([1, 2], "learned must be an object"),
        ({"createVolume": "fast"}, "list of seconds"),
        ({"createVolume": [1.0, -2.0]}, "list of seconds"),
        ({"createVolume": [True]}, "list of seconds"),
        ({"x" * 300: [1.0]}, "invalid kind"),
    ],
)
def test_a_broken_learned_history_is_refused(learned_value: object, message: str) -> None:
    data = _snapshot.dump([])
    data["learned"] = learned_value
    with pytest.raises(ValueError, match=message):
        _snapshot.learned(data)


def test_a_snapshot_without_learned_history_still_loads() -> None:
    data = _snapshot.dump([_snapshot.SavedWatch("j", None, {}, None)])
    assert "learned" not in data
    assert _snapshot.learned(data) == {}
    assert [w.job_id for w in _snapshot.parse(data)[1]] == ["j"]


# -- through the watcher -------------------------------------------------------------


@pytest.mark.virtual_clock
async def test_a_restart_keeps_what_was_learned(tmp_path: object) -> None:
    # The first watcher sees thirty 30 s jobs end; the second, restarted from the state
    # file, polls a new job of that type as late as the first would have, not at once.
    now = datetime.now(timezone.utc)
    state = f"{tmp_path}/state.json"
    client = ScriptedClient()
    old = [f"old{n}" for n in range(30)]
    for job_id in old:
        client.script(
            job_id, Job(job_id, JobStatus.SUCCESS, CREATE, now, now + timedelta(seconds=30))
        )
    policy = PollPolicy(max_interval=60, jitter=0)
    async with JobWatcher(client, policy=policy, state_path=state) as watcher:
        await watcher.wait_all(old)
        warm = watcher.snapshot()
    assert len(warm["learned"]["createVolume"]) == 30

    async def second_poll_of_a_new_job(**kw: object) -> float:
        client = ScriptedClient()
        client.script("new", Job("new", JobStatus.RUNNING, CREATE, datetime.now(timezone.utc)))
        async with JobWatcher(client, policy=policy, **kw) as watcher:  # type: ignore[arg-type]
            start = asyncio.get_running_loop().time()
            handle = watcher.watch("new")
            await asyncio.sleep(60)
            handle.cancel()
        return client.polls("new")[1] - start

    assert await second_poll_of_a_new_job() < policy.latency + 1  # type: ignore[operator]
    assert await second_poll_of_a_new_job(state_path=state) > 15.0  # warm from the file


@pytest.mark.virtual_clock
async def test_the_default_never_polls_a_job_more_than_once_a_second() -> None:
    # A batch whose sub-jobs all ended asks for a poll at once; the floor says 1 s.
    now = datetime.now(timezone.utc)
    begin, end = now - timedelta(seconds=30), now - timedelta(seconds=0.2)
    subs = tuple(Job(f"s{n}", JobStatus.SUCCESS, CREATE, begin, end) for n in range(2))
    batch = Job("b", JobStatus.RUNNING, JobType.BATCH_CREATE_VOLUME, begin)
    client = ScriptedClient()
    client.script("b", attrs.evolve(batch, entities=JobEntities(sub_jobs=subs)))
    async with JobWatcher(client) as watcher:
        handle = watcher.watch("b")
        await asyncio.sleep(20)
        handle.cancel()
    polls = client.polls("b")
    gaps = [later - earlier for earlier, later in itertools.pairwise(polls)]
    assert len(gaps) > 10
    assert min(gaps) >= 1.0
    assert max(gaps) <= 1.1 + 1e-9  # 1 s, spread by the default jitter, floored at 1 s
