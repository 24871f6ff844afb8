"""WatcherMetrics: a watcher's counters, gauges and detection latency as OpenTelemetry metrics.

Everything is read through the watcher's public API: ``watcher.stats`` when a reader
collects, and ``watcher.events()`` for the moment each job is seen to end.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Histogram, MeterProvider, Observation
from opentelemetry.util.types import AttributeValue

from .. import EventStream, JobEvent, JobWatcher, __version__

__all__ = ["LATENCY_BUCKETS", "WatcherMetrics"]

# Seconds. Jobs take tens of seconds and are polled every 2 to 15 s by default, so the
# interesting range is one to a few hundred seconds, not the milliseconds of the default.
LATENCY_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0, 600.0)
_PREFIX = "evs_job_watch."


class WatcherMetrics:
    """Exports a watcher's work to OpenTelemetry, from creation until the provider shuts down.

    Counters ``evs_job_watch.polls``, ``.errors`` and ``.throttled`` and the up-down
    counters ``.watching`` and ``.in_flight`` are read from ``watcher.stats`` whenever a
    reader collects. The histogram ``evs_job_watch.detection_latency`` (seconds from a
    job's ``end_time`` to the moment the watcher saw it end) needs events: ``start()``
    (or ``async with``) subscribes to ``watcher.events()``; or pass ``record`` as your own
    ``on_status_change`` callback, or call it from yours.

    Args:
        watcher: the watcher to measure.
        meter_provider: the provider to create the instruments in; None for the global one.
        attributes: added to every measurement, e.g. ``{"service": "disks"}`` to tell
            several watchers apart. Several ``WatcherMetrics`` on one provider share its
            instruments: each set of attributes is one series, the sum of the watchers
            that carry it.
    """

    def __init__(
        self,
        watcher: JobWatcher,
        *,
        meter_provider: MeterProvider | None = None,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> None:
        self._watcher = watcher
        self._attributes = dict(attributes or {})
        self._stream: EventStream | None = None
        self._task: asyncio.Task[None] | None = None
        provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        self._latency = _instruments(provider).add(self)

    def observe(self, name: str) -> int:
        """The watcher's ``stats.name`` now (for the provider's observable instruments)."""
        value: int = getattr(self._watcher.stats, name)
        return value

    @property
    def attributes(self) -> Mapping[str, AttributeValue]:
        """The attributes added to every measurement of this watcher."""
        return self._attributes

    def record(self, event: JobEvent) -> None:
        """Record the detection latency of ``event`` if it is a job or sub-job's end.

        The API's ``end_time`` and this machine's clock are compared: a clock that is
        off shifts every value (below zero counts as zero).
        """
        job = event.job
        if not event.status.is_terminal or job.end_time is None:
            return
        latency = max(time.time() - job.end_time.timestamp(), 0.0)
        attributes = {
            **self._attributes,
            "job_type": job.job_type.value if job.job_type is not None else "",
            "status": event.status.value,
            "sub_job": event.is_sub_job,
        }
        self._latency.record(latency, attributes)

    def start(self) -> None:
        """Subscribe to the watcher's events (needs a running loop); idempotent."""
        if self._task is None:
            self._stream = self._watcher.events()
            self._task = asyncio.get_running_loop().create_task(self._consume(self._stream))

    async def _consume(self, stream: EventStream) -> None:
        async for event in stream:
            self.record(event)

    async def aclose(self) -> None:
        """Stop recording latencies once the events already received are recorded."""
        if self._stream is not None and self._task is not None:
            self._stream.close()
            await self._task

    async def __aenter__(self) -> WatcherMetrics:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


_COUNTERS = {
    "polls": "Job queries sent",
    "errors": "Transient errors retried (5xx, 429, dropped connections, bad bodies)",
    "throttled": "429 answers",
}
_GAUGES = {
    "watching": ("Jobs being watched", "{job}"),
    "in_flight": ("Queries in flight", "{request}"),
}


class _Instruments:
    """One provider's instruments, shared by every ``WatcherMetrics`` made with it.

    A meter asked again for an observable instrument of a name it has keeps only the
    first one's callbacks, so each name is created once, and its one callback yields an
    ``Observation`` per set of attributes: the sum over the watchers that carry it.
    """

    def __init__(self, provider: MeterProvider) -> None:
        self._sources: list[WatcherMetrics] = []
        meter = provider.get_meter("evs_job_watch", __version__)
        for name, description in _COUNTERS.items():
            meter.create_observable_counter(
                _PREFIX + name, [self._reader(name)], unit="{request}", description=description
            )
        for name, (description, unit) in _GAUGES.items():
            meter.create_observable_up_down_counter(
                _PREFIX + name, [self._reader(name)], unit=unit, description=description
            )
        self.latency = meter.create_histogram(
            _PREFIX + "detection_latency",
            unit="s",
            description="Seconds from a job's end_time to the moment the watcher saw it end",
            explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
        )

    def add(self, source: WatcherMetrics) -> Histogram:
        """Report ``source`` too, from now on; the latency histogram for it to record in."""
        self._sources.append(source)
        return self.latency

    def _reader(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            totals: dict[frozenset[tuple[str, AttributeValue]], int] = {}
            for source in self._sources:
                key = frozenset(source.attributes.items())
                totals[key] = totals.get(key, 0) + source.observe(name)
            return [Observation(value, dict(key)) for key, value in totals.items()]

        return observe


# Per provider, as long as it lives: a provider that cannot be weakly referenced gets
# instruments of its own for every WatcherMetrics (as before, only the first reports).
_BY_PROVIDER: weakref.WeakKeyDictionary[MeterProvider, _Instruments] = weakref.WeakKeyDictionary()


def _instruments(provider: MeterProvider) -> _Instruments:
    try:
        found = _BY_PROVIDER.get(provider)
    except TypeError:
        return _Instruments(provider)
    if found is None:
        found = _BY_PROVIDER[provider] = _Instruments(provider)
    return found
