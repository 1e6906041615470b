"""Prometheus metrics of an emulated fleet: definitions, the run observer that fills them, and the exporter.

Everything lives on one dedicated `CollectorRegistry` per `FleetMetrics` (never the global registry), so two
runs in one process, or a test, never share series.

Two kinds of metrics:

* Fleet metrics (energy, battery, latency, outcomes, queues, utilisation, links, offload decisions, simulated
  time) describe the engine's state. `MetricsObserver` builds a `FleetSnapshot` from the engine on its
  progress calls (at most every `min_interval_s` = 1 wall second) and at the end, and publishes it; a
  scrape serves the latest snapshot. Nothing runs per task: the engine logs ended tasks (`engine.ended`) and
  the new ones are folded into the counters and the latency histogram with numpy at the next snapshot.
  Snapshots are plain picklable data: an engine that runs in several processes (the Ray engine) builds one
  per shard, and the driver, which alone runs the exporter, publishes `merge_snapshots(...)` of them, so
  one scrape target shows the whole fleet.
* Component metrics (memo cache, cascade model B, RPC) are ordinary prometheus-client counters and histograms
  that those parts update as things happen, through `FleetMetrics.record_cache`, `record_cascade_b` and
  `record_rpc`; `metrics_of(engine)` finds the `FleetMetrics` of a running engine.

Cardinality: labels never name a task. Per-device series (`edgesplit_device_*`) are kept for at most
`top_devices` devices (default 20): the devices that have used the most energy so far, re-ranked at every
snapshot (a device that drops out of the top k has its series end; Prometheus marks them stale). The
`edgesplit_device_class_*` aggregates always cover every device, so totals must be taken from them. Servers
and cells are few and always exported in full; latency buckets are fixed (`LATENCY_BUCKETS_S`).

Modules: `specs` (the metric definitions and buckets), `snapshot` (FleetSnapshot, capping and merging),
`collector` (FleetMetrics, the registry and the collector that serves snapshots), `observer` (MetricsObserver,
`metrics_of`), `exporter` (the /metrics HTTP server) and `parse` (a text-format parser for tests).
"""

from __future__ import annotations

from edgesplit.metrics.collector import FleetMetrics
from edgesplit.metrics.exporter import Exporter, start_exporter
from edgesplit.metrics.observer import MetricsObserver, metrics_of
from edgesplit.metrics.parse import iter_samples
from edgesplit.metrics.snapshot import FleetSnapshot, cap_devices, merge_snapshots
from edgesplit.metrics.specs import (
    COMPONENTS,
    DEFAULT_TOP_DEVICES,
    FLEET_METRICS,
    LATENCY_BUCKETS_S,
    LATENCY_LABELS,
    LATENCY_METRIC,
    OUTCOMES,
    RPC_LATENCY_BUCKETS_S,
    SERVER_COMPONENTS,
    FleetMetric,
    Labels,
)

__all__ = [
    "COMPONENTS",
    "DEFAULT_TOP_DEVICES",
    "FLEET_METRICS",
    "LATENCY_BUCKETS_S",
    "LATENCY_LABELS",
    "LATENCY_METRIC",
    "OUTCOMES",
    "RPC_LATENCY_BUCKETS_S",
    "SERVER_COMPONENTS",
    "Exporter",
    "FleetMetric",
    "FleetMetrics",
    "FleetSnapshot",
    "Labels",
    "MetricsObserver",
    "cap_devices",
    "iter_samples",
    "merge_snapshots",
    "metrics_of",
    "start_exporter",
]
