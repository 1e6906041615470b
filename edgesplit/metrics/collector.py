"""The dedicated Prometheus registry of a run: the collector serving the fleet snapshot and component metrics."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from edgesplit.metrics.snapshot import FleetSnapshot, cap_devices
from edgesplit.metrics.specs import (
    DEFAULT_TOP_DEVICES,
    FLEET_METRICS,
    LATENCY_BUCKETS_S,
    LATENCY_LABELS,
    LATENCY_METRIC,
    RPC_LATENCY_BUCKETS_S,
)


class _FleetCollector(Collector):
    """Serves the latest published FleetSnapshot to the registry."""

    def __init__(self) -> None:
        self.snapshot = FleetSnapshot()

    def describe(self) -> Iterable[Metric]:
        return self.collect()

    def collect(self) -> Iterable[Metric]:
        snap = self.snapshot  # one reference read: a snapshot is never modified once published
        if snap.info:
            info = InfoMetricFamily("edgesplit_run", "The run being exported (scenario, policy, engine, seed).")
            info.add_metric([], snap.info)
            yield info
        for spec in FLEET_METRICS:
            family_type = CounterMetricFamily if spec.kind == "counter" else GaugeMetricFamily
            family = family_type(spec.name, spec.help, labels=spec.labels)
            for labels, v in snap.values.get(spec.name, {}).items():
                family.add_metric(labels, v)
            yield family
        hist = HistogramMetricFamily(
            LATENCY_METRIC,
            "Latency (release to completion) of completed tasks, by policy, placement kind and device class.",
            labels=LATENCY_LABELS,
        )
        bounds = [_le(b) for b in LATENCY_BUCKETS_S] + ["+Inf"]
        for labels, (counts, total) in snap.latency.items():
            running, buckets = 0, []
            for le, n in zip(bounds, counts, strict=True):
                running += n
                buckets.append((le, running))
            hist.add_metric(labels, buckets, total)
        yield hist


def _le(bound: float) -> str:
    return repr(float(bound))


class FleetMetrics:
    """All edgesplit metrics on one dedicated registry: the fleet snapshot plus the component metrics."""

    def __init__(self, top_devices: int = DEFAULT_TOP_DEVICES, process_metrics: bool = True) -> None:
        if top_devices < 0:
            raise ValueError(f"top_devices must be >= 0, got {top_devices}")
        self.top_devices = top_devices
        self.registry = CollectorRegistry()
        self._fleet = _FleetCollector()
        self.registry.register(self._fleet)
        if process_metrics:
            ProcessCollector(registry=self.registry)  # process_cpu_seconds_total etc. of this run
        r = self.registry
        self.cache_hits = Counter("edgesplit_cache_hits", "Memo cache look-ups that hit.", ["cache"], registry=r)
        self.cache_misses = Counter("edgesplit_cache_misses", "Memo cache look-ups that missed.", ["cache"], registry=r)
        self.cascade_b_invocations = Counter(
            "edgesplit_cascade_second_model_invocations",
            "Inputs the cascade sent on to its second, larger model (model B).",
            ["cascade"],
            registry=r,
        )
        self.rpc_requests = Counter(
            "edgesplit_rpc_requests",
            "Split-computing RPC requests, by method and status code.",
            ["method", "code"],
            registry=r,
        )
        self.rpc_bytes = Counter(
            "edgesplit_rpc_bytes",
            "Split-computing RPC payload bytes, by method and direction (sent, received).",
            ["method", "direction"],
            registry=r,
        )
        self.rpc_latency = Histogram(
            "edgesplit_rpc_latency_seconds",
            "Split-computing RPC round-trip time, by method.",
            ["method"],
            buckets=RPC_LATENCY_BUCKETS_S,
            registry=r,
        )

    # -- fleet ------------------------------------------------------------------------------------------

    def publish(self, snapshot: FleetSnapshot) -> None:
        """Make `snapshot` what scrapes see (the per-device series capped to `top_devices`)."""
        cap_devices(snapshot, self.top_devices)
        self._fleet.snapshot = snapshot

    @property
    def snapshot(self) -> FleetSnapshot:
        return self._fleet.snapshot

    # -- components (called by the cascade, the memo cache and the split-computing RPC layer) -----------

    def record_cache(self, hit: bool, cache: str = "memo", n: int = 1) -> None:
        """Count `n` look-ups of `cache` that hit (or missed)."""
        (self.cache_hits if hit else self.cache_misses).labels(cache).inc(n)

    def record_cascade_b(self, n: int = 1, cascade: str = "default") -> None:
        """Count `n` inputs that the cascade passed to its model B."""
        self.cascade_b_invocations.labels(cascade).inc(n)

    def record_rpc(self, method: str, code: str, sent_bytes: int, received_bytes: int, seconds: float) -> None:
        """Count one RPC of `method` that ended with status `code`, its payload bytes and round-trip time."""
        self.rpc_requests.labels(method, code).inc()
        self.rpc_bytes.labels(method, "sent").inc(sent_bytes)
        self.rpc_bytes.labels(method, "received").inc(received_bytes)
        self.rpc_latency.labels(method).observe(seconds)

    def exposition(self) -> bytes:
        """The text a scrape gets (Prometheus text format)."""
        return generate_latest(self.registry)

    @staticmethod
    def metric_names() -> set[str]:
        """Every sample name the registry can expose (with _total, _bucket, _sum, _count, _info suffixes)."""
        names = {"edgesplit_run_info", *(spec.name for spec in FLEET_METRICS)}
        for hist in (LATENCY_METRIC, "edgesplit_rpc_latency_seconds"):
            names |= {f"{hist}_{s}" for s in ("bucket", "sum", "count")}
        names |= {
            "edgesplit_cache_hits_total",
            "edgesplit_cache_misses_total",
            "edgesplit_cascade_second_model_invocations_total",
            "edgesplit_rpc_requests_total",
            "edgesplit_rpc_bytes_total",
        }
        return names
