"""Type-checked use of ``evs_job_watch.otel`` (never run)."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider

from evs_job_watch import JobEvent, JobWatcher
from evs_job_watch.otel import LATENCY_BUCKETS, WatcherMetrics

buckets: tuple[float, ...] = LATENCY_BUCKETS


async def measure(watcher: JobWatcher, provider: MeterProvider) -> None:
    metrics = WatcherMetrics(watcher, meter_provider=provider, attributes={"service": "disks"})
    metrics.start()
    await metrics.aclose()
    async with WatcherMetrics(watcher) as again:

        def on_status_change(event: JobEvent) -> None:
            again.record(event)

        print(on_status_change)
