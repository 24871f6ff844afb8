"""The benchmarks still run: they use the simulator and the library from outside, so a
change to either can break them without any other test noticing. Their figures are not
judged here (speed is the benchmarks' own business), only that they are measured."""

from __future__ import annotations

import asyncio
import importlib
import math
import pkgutil
import time

import pytest

import benchmarks
from benchmarks import decode

SECTIONS = {"decode", "throughput", "scale", "alternatives", "policy", "fleet", "throttle"}


def test_every_benchmark_module_imports() -> None:
    names = {module.name for module in pkgutil.iter_modules(benchmarks.__path__)}
    assert names >= SECTIONS | {"profile", "plot"}
    for name in names:
        importlib.import_module(f"benchmarks.{name}")


def test_the_decode_section_measures_its_figures_against_the_simulators_bodies() -> None:
    figures = decode.measure(quick=True, budget=0.02)  # the harness, not the figures
    # Decoded (against orjson alone and against the hand-written decoding before cattrs,
    # warm and with distinct times) and unchanged, for the single job and for the batch.
    assert len(figures) == 10
    for figure in figures:
        assert figure.section == "decode"
        # An unchanged body costs its hash less the copy of the body, timed apart: on a
        # busy machine that difference may come out as nothing, never below.
        assert 0 <= figure.value < math.inf and 0 < figure.ref_value < math.inf


def test_the_ready_section_measures_both_modes() -> None:
    from benchmarks import ready

    done, usable = (asyncio.run(ready.measure(12, mode)) for mode in (False, True))
    assert not done.ready and usable.ready
    assert (done.listings, usable.listings > 0) == (0, True)  # only ready mode reads disks
    assert usable.requests_per_job >= 1 and done.requests_per_job >= 1
    assert 0 <= usable.p50 <= usable.p95 < math.inf
    hinted = asyncio.run(ready.measure(12, False, hints=True, slow=True))
    assert hinted.hints and hinted.slow and hinted.listings > 0  # hints read disks
    assert 0 <= hinted.p50 <= hinted.p95 < math.inf


def test_the_fast_reference_server_answers_the_client_running_and_ended_jobs() -> None:
    from benchmarks import fastserver
    from benchmarks._common import fast_server
    from evs_job_watch import EvsJobClient, JobStatus, JobType, TokenAuth

    async def ask() -> tuple[list[JobStatus], list[JobStatus]]:
        seen = []
        for seed in (None, 3):
            # Speed 1e4: the seeded jobs (median 20 s) end within a few ms of the start.
            async with fast_server(4, durations_seed=seed, speed=1e4) as sim:
                await asyncio.sleep(0.2)
                client = EvsJobClient(sim.endpoint, sim.project_id, auth=TokenAuth(sim.token))
                async with client:
                    jobs = [await client.get_job(job_id) for job_id in fastserver.job_ids(4)]
            assert all(job.job_type is JobType.CREATE_VOLUME for job in jobs)
            assert all(job.begin_time is not None for job in jobs)
            seen.append([job.status for job in jobs])
        return seen[0], seen[1]

    running, ended = asyncio.run(ask())
    assert running == [JobStatus.RUNNING] * 4
    assert all(status.is_terminal for status in ended)


def test_the_instruction_counts_drives_run_and_leave_the_clock_as_it_was(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from benchmarks import instructions
    from evs_job_watch._core import _poller

    for drive, polls in (("learn", 500), ("bare", 30), ("watcher", 30), ("fixed", 30)):
        instructions._drive(drive, polls)  # what valgrind runs, here without it
        made = int(capsys.readouterr().out.split()[-1])
        assert polls <= made < polls + 1000, drive
    assert _poller.time is time


def test_a_sped_up_clock_reads_the_scaled_default_as_the_default_and_then_restores_it() -> None:
    from benchmarks._common import scaled, sped_up
    from evs_job_watch import PollPolicy
    from evs_job_watch._core import _learn

    policy = scaled(PollPolicy(), 10.0)  # latency 0.42 s on a clock ten times fast
    assert _learn._Knob(policy.latency).small < 0.01  # read as a small latency: no skips
    with sped_up(10.0):
        assert _learn._Knob(policy.latency).small == 1.0  # the default's schedule
        assert policy.floor == PollPolicy().floor / 10
    assert _learn._Knob(policy.latency).small < 0.01
    assert policy.floor < PollPolicy().floor / 10
