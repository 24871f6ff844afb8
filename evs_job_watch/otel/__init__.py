"""OpenTelemetry metrics of a ``JobWatcher`` (install the ``otel`` extra).

The core package never imports this one: only the users who want the metrics pay for
``opentelemetry-api``. See docs/metrics.md for the instruments and a Prometheus set-up.
"""

from ._metrics import LATENCY_BUCKETS, WatcherMetrics

__all__ = ["LATENCY_BUCKETS", "WatcherMetrics"]
