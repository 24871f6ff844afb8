"""evs_job_watch.otel: the watcher's metrics, read back through the OpenTelemetry SDK."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import datetime, timezone
from typing import Any

import attrs
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

from evs_job_watch import EvsJobClient, JobWatcher, PollPolicy, TokenAuth
from evs_job_watch.otel import LATENCY_BUCKETS, WatcherMetrics
from evs_job_watch.simulator import EvsSimulator, Faults

from .scripted import ScriptedClient, make_job

FAST = PollPolicy(interval=0.01, max_interval=0.02, jitter=0, max_consecutive_errors=50)
ATTRIBUTES = {"service": "disks"}
SCRIPTED = PollPolicy(interval=1, max_interval=1, jitter=0)


@pytest.fixture
def evs_simulator_options() -> dict[str, Any]:
    # Faults on purpose, so that the error and 429 counters have something to count.
    return {"speed": 1.0, "seed": 4, "faults": Faults(server_error=0.2, throttle=0.1)}


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: list(metric.data.data_points)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


async def test_the_watcher_s_counters_and_latency_read_back_through_the_sdk(
    evs_simulator: EvsSimulator,
) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    add = evs_simulator.add_job
    jobs = [
        add(timeline=[(0.0, "RUNNING"), (0.05, "SUCCESS")]),
        add(timeline=[(0.0, "RUNNING"), (0.1, "FAIL")]),
        add(sub_jobs=[[(0.0, "RUNNING"), (0.05, "SUCCESS")]] * 2),
    ]
    began = time.time()
    async with (
        EvsJobClient(
            evs_simulator.endpoint, evs_simulator.project_id, auth=TokenAuth(evs_simulator.token)
        ) as client,
        JobWatcher(client, policy=FAST) as watcher,
    ):
        async with WatcherMetrics(watcher, meter_provider=provider, attributes=ATTRIBUTES):
            await watcher.wait_all(jobs, return_exceptions=True)
        stats = watcher.stats
        found = points(reader)
    longest = time.time() - began
    provider.shutdown()

    counted = {
        name: [(p.value, dict(p.attributes)) for p in found[f"evs_job_watch.{name}"]]
        for name in ("polls", "errors", "throttled", "watching", "in_flight")
    }
    assert counted == {
        "polls": [(stats.polls, ATTRIBUTES)],
        "errors": [(stats.errors, ATTRIBUTES)],
        "throttled": [(stats.throttled, ATTRIBUTES)],
        "watching": [(0, ATTRIBUTES)],
        "in_flight": [(0, ATTRIBUTES)],
    }
    assert stats.errors > 0
    assert stats.throttled > 0

    latencies: list[HistogramDataPoint] = found["evs_job_watch.detection_latency"]
    by_kind = {
        (p.attributes["job_type"], p.attributes["status"], p.attributes["sub_job"]): p
        for p in latencies
    }
    assert {kind: p.count for kind, p in by_kind.items()} == {
        ("createVolume", "SUCCESS", False): 1,
        ("createVolume", "FAIL", False): 1,
        ("createVolume", "SUCCESS", True): 2,
        ("batchCreateVolume", "SUCCESS", False): 1,
    }
    for point in latencies:
        assert point.attributes["service"] == "disks"
        assert tuple(point.explicit_bounds) == LATENCY_BUCKETS
        assert 0.0 <= point.min <= point.max <= longest


async def test_record_takes_only_ends_with_an_end_time(evs_simulator: EvsSimulator) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    job = evs_simulator.add_job(timeline=[(0.0, "RUNNING"), (0.05, "SUCCESS")])
    async with (
        EvsJobClient(
            evs_simulator.endpoint, evs_simulator.project_id, auth=TokenAuth(evs_simulator.token)
        ) as client,
        JobWatcher(client, policy=FAST) as watcher,
    ):
        metrics = WatcherMetrics(watcher, meter_provider=provider)
        seen = []
        async with watcher.events() as events:
            watcher.watch(job)
            async for event in events:
                metrics.record(event)  # as a user's own callback would
                seen.append(event.status.value)
                if event.status.is_terminal:
                    break
    [point] = points(reader)["evs_job_watch.detection_latency"]
    provider.shutdown()
    assert seen[-1] == "SUCCESS"
    assert point.count == 1  # RUNNING and first sights are not ends


def test_the_core_never_imports_opentelemetry() -> None:
    code = (
        "import sys, evs_job_watch, evs_job_watch.cli, evs_job_watch.simulator; "
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', "
        "'evs_job_watch.otel'))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def running_jobs(*job_ids: str) -> tuple[InMemoryMetricReader, MeterProvider, ScriptedClient]:
    """A reader, its provider, and a client that says each of ``job_ids`` is RUNNING."""
    reader = InMemoryMetricReader()
    client = ScriptedClient()
    for job_id in job_ids:
        client.script(job_id, make_job(job_id, "RUNNING"))
    return reader, MeterProvider(metric_readers=[reader]), client


@pytest.mark.virtual_clock
async def test_two_watchers_on_one_provider_export_a_series_each() -> None:
    reader, provider, client = running_jobs("a", "b", "c")
    ended = attrs.evolve(make_job("d", "SUCCESS"), end_time=datetime.now(timezone.utc))
    client.timeline("d", (0, make_job("d", "RUNNING")), (1, ended))
    async with (
        JobWatcher(client, policy=SCRIPTED) as first,
        JobWatcher(client, policy=SCRIPTED) as second,
    ):
        one = WatcherMetrics(first, meter_provider=provider, attributes={"service": "one"})
        two = WatcherMetrics(second, meter_provider=provider, attributes={"service": "two"})
        first.watch("a")
        for job_id in ("b", "c"):
            second.watch(job_id)
        async with one, two:
            await first.wait("d")
            await asyncio.sleep(5)
        found = points(reader)
        expected = {
            name: sorted(
                [(getattr(first.stats, name), "one"), (getattr(second.stats, name), "two")]
            )
            for name in ("polls", "errors", "throttled", "watching", "in_flight")
        }
    provider.shutdown()
    counted = {
        name: sorted((p.value, p.attributes["service"]) for p in found[f"evs_job_watch.{name}"])
        for name in expected
    }
    assert counted == expected
    assert expected["watching"] == [(1, "one"), (2, "two")]
    latency = found["evs_job_watch.detection_latency"]
    assert [(p.count, p.attributes["service"]) for p in latency] == [(1, "one")]


@pytest.mark.virtual_clock
async def test_watchers_with_the_same_attributes_add_up() -> None:
    reader, provider, client = running_jobs("a", "b", "c")
    async with (
        JobWatcher(client, policy=SCRIPTED) as first,
        JobWatcher(client, policy=SCRIPTED) as second,
    ):
        WatcherMetrics(first, meter_provider=provider)
        WatcherMetrics(second, meter_provider=provider)
        first.watch("a")
        second.watch("b")
        second.watch("c")
        await asyncio.sleep(3)
        found = points(reader)
        polls = first.stats.polls + second.stats.polls
    provider.shutdown()
    assert [(p.value, dict(p.attributes)) for p in found["evs_job_watch.watching"]] == [(3, {})]
    assert [(p.value, dict(p.attributes)) for p in found["evs_job_watch.polls"]] == [(polls, {})]
