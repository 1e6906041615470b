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
"""

from __future__ import annotations

import bisect
import heapq
import math
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from edgesplit.engines.sim import RunObserver
from edgesplit.results import COMPLETED, DROPPED, FAILED, OUTCOME_NAMES, RunResult

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from edgesplit.engines.sim import SimEngine
    from edgesplit.model.entities import Node

DEFAULT_TOP_DEVICES = 20
COMPONENTS = ("compute", "radio", "idle")
SERVER_COMPONENTS = ("compute", "idle")
OUTCOMES = (COMPLETED, FAILED, DROPPED)
# Task latency buckets in seconds: from a millisecond (a local task on a fast board) to 20 min (a trace job).
LATENCY_BUCKETS_S = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    25.0,
    50.0,
    100.0,
    250.0,
    500.0,
    1000.0,
)
RPC_LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class FleetMetric:
    """One fleet metric: its exposed name, type, help text, label names and how shards combine."""

    name: str
    kind: str  # "counter" | "gauge"
    help: str
    labels: tuple[str, ...]
    merge: str = "sum"  # "sum" | "max" | "min": how merge_snapshots combines the shards' values
    per_device: bool = False  # capped to the top-k devices


FLEET_METRICS: tuple[FleetMetric, ...] = (
    FleetMetric(
        "edgesplit_device_energy_joules_total",
        "counter",
        "Energy a device has used, by component (compute, radio = tx + rx, idle); top-k devices by energy.",
        ("device", "device_class", "component"),
        per_device=True,
    ),
    FleetMetric(
        "edgesplit_device_battery_joules",
        "gauge",
        "Battery energy a device has left (devices with a battery); top-k devices by energy only.",
        ("device", "device_class"),
        per_device=True,
    ),
    FleetMetric(
        "edgesplit_device_queue_length",
        "gauge",
        "Tasks queued on a device that have not started; top-k devices by energy only.",
        ("device", "device_class"),
        per_device=True,
    ),
    FleetMetric(
        "edgesplit_device_class_energy_joules_total",
        "counter",
        "Energy all devices of a class have used, by component (compute, radio, idle).",
        ("device_class", "component"),
    ),
    FleetMetric(
        "edgesplit_device_class_battery_joules",
        "gauge",
        "Battery energy left, summed over the devices of a class that have a battery.",
        ("device_class",),
    ),
    FleetMetric(
        "edgesplit_device_class_battery_min_ratio",
        "gauge",
        "Lowest battery left / capacity among the devices of a class that have a battery (0..1).",
        ("device_class",),
        merge="min",
    ),
    FleetMetric(
        "edgesplit_device_class_queue_length",
        "gauge",
        "Tasks queued and not started, summed over the devices of a class.",
        ("device_class",),
    ),
    FleetMetric("edgesplit_device_class_devices", "gauge", "Devices in a class.", ("device_class",)),
    FleetMetric(
        "edgesplit_server_energy_joules_total",
        "counter",
        "Energy an edge server or cloud VM has used, by component (compute, idle).",
        ("server", "kind", "component"),
    ),
    FleetMetric(
        "edgesplit_server_queue_length",
        "gauge",
        "Tasks queued on a server that have not started.",
        ("server", "kind"),
    ),
    FleetMetric(
        "edgesplit_server_utilisation_ratio",
        "gauge",
        "Busy cores / cores of a server at the current simulated time (0..1).",
        ("server", "kind"),
        merge="max",
    ),
    FleetMetric(
        "edgesplit_server_up",
        "gauge",
        "1 while a server is alive, 0 when it is down.",
        ("server", "kind"),
        "min",
    ),
    FleetMetric(
        "edgesplit_link_bytes_total",
        "counter",
        "Bytes put on a cell's radio link: uplink counts every attempt when queued, downlink each result.",
        ("cell", "direction"),
    ),
    FleetMetric(
        "edgesplit_link_rate_bytes_per_second",
        "gauge",
        "Current uplink rate of a cell: the sum of the rates of the transfers on the air.",
        ("cell", "direction"),
    ),
    FleetMetric(
        "edgesplit_link_active_transfers",
        "gauge",
        "Uplink transfers on the air in a cell.",
        ("cell", "direction"),
    ),
    FleetMetric(
        "edgesplit_tasks_total",
        "counter",
        "Tasks that have ended, by outcome (completed, failed, dropped).",
        ("policy", "device_class", "outcome"),
    ),
    FleetMetric(
        "edgesplit_task_deadline_misses_total",
        "counter",
        "Completed tasks that finished after their job's deadline.",
        ("policy", "device_class"),
    ),
    FleetMetric(
        "edgesplit_offload_decisions_total",
        "counter",
        "Placement decisions of the policy, by target (local or a server name) and its kind.",
        ("policy", "target", "kind"),
    ),
    FleetMetric("edgesplit_sim_time_seconds", "gauge", "Simulated (virtual) time of the run.", (), "max"),
    FleetMetric("edgesplit_sim_events_total", "counter", "Events the engine has processed.", ()),
    FleetMetric("edgesplit_sim_pace_ratio", "gauge", "Virtual seconds per wall second (0: unpaced).", (), "max"),
    FleetMetric("edgesplit_run_finished", "gauge", "1 once the run has ended and its summary is final.", (), "min"),
)
LATENCY_METRIC = "edgesplit_task_latency_seconds"
LATENCY_LABELS = ("policy", "placement", "device_class")
_SPECS = {m.name: m for m in FLEET_METRICS}

Labels = tuple[str, ...]


@dataclass
class FleetSnapshot:
    """The fleet metrics' values at one moment: plain data, cheap to publish, pickle and merge."""

    values: dict[str, dict[Labels, float]] = field(default_factory=dict)
    # LATENCY_METRIC: labels -> (count per bucket, not cumulative, len(LATENCY_BUCKETS_S) + 1 with +Inf; sum)
    latency: dict[Labels, tuple[list[int], float]] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)


def cap_devices(snapshot: FleetSnapshot, top_devices: int) -> None:
    """Keep the per-device series of the `top_devices` devices with the most energy (in place)."""
    energy: dict[str, float] = {}
    for labels, v in snapshot.values.get("edgesplit_device_energy_joules_total", {}).items():
        energy[labels[0]] = energy.get(labels[0], 0.0) + v
    if len(energy) <= top_devices:
        return
    keep = set(heapq.nlargest(top_devices, energy, key=energy.__getitem__))
    for spec in FLEET_METRICS:
        if spec.per_device and spec.name in snapshot.values:
            series = snapshot.values[spec.name]
            snapshot.values[spec.name] = {k: v for k, v in series.items() if k[0] in keep}


def merge_snapshots(shards: Sequence[FleetSnapshot], top_devices: int = DEFAULT_TOP_DEVICES) -> FleetSnapshot:
    """Combine the snapshots of engine shards (e.g. Ray workers) into one fleet-wide snapshot.

    Counters and most gauges add up; the simulated time and utilisation take the maximum, `server_up`,
    `run_finished` and the battery minimum the minimum. Per-device series are re-capped to `top_devices`
    (the fleet's top k is within the union of the shards' top k, so this is exact).
    """
    out = FleetSnapshot()
    for shard in shards:
        for name, series in shard.values.items():
            how = _SPECS[name].merge
            acc = out.values.setdefault(name, {})
            for labels, v in series.items():
                if labels not in acc:
                    acc[labels] = v
                elif how == "sum":
                    acc[labels] += v
                elif how == "max":
                    acc[labels] = max(acc[labels], v)
                else:
                    acc[labels] = min(acc[labels], v)
        for labels, (counts, total) in shard.latency.items():
            if labels in out.latency:
                have, have_sum = out.latency[labels]
                out.latency[labels] = ([a + b for a, b in zip(have, counts, strict=True)], have_sum + total)
            else:
                out.latency[labels] = (list(counts), total)
        if not out.info:
            out.info = dict(shard.info)
    cap_devices(out, top_devices)
    return out


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


class MetricsObserver(RunObserver):
    """Fills a FleetMetrics from a running SimEngine: nothing per task, a snapshot now and then.

    `min_interval_s` throttles snapshots on the engine's progress calls (every `progress_every` events, or a
    few times a second when paced) to at most one per that many wall seconds; scrapes come seconds apart, so
    1 s keeps each scrape (2 to 15 s apart) fresh. The end of the run always publishes the final, exact snapshot.
    """

    def __init__(self, metrics: FleetMetrics | None = None, min_interval_s: float = 1.0) -> None:
        self.metrics = metrics if metrics is not None else FleetMetrics()
        self.min_interval_s = min_interval_s
        self.snapshots = 0
        self._cursor = 0  # how much of the engine's `ended` log has been folded in
        self._last_publish = -math.inf

    # -- engine hooks -----------------------------------------------------------------------------------

    def on_start(self, engine: SimEngine) -> None:
        sc = engine.scenario
        self.policy = sc.policy.kind
        self.info = {"scenario": sc.name, "policy": sc.policy.kind, "engine": sc.engine.kind, "seed": str(sc.seed)}
        self.classes = sorted({d.group for d in engine.devices})
        cls_index = {c: i for i, c in enumerate(self.classes)}
        self._cls_of_device = [cls_index[d.group] for d in engine.devices]
        self._batteries = [(d, d.profile.battery_j) for d in engine.devices if d.profile.battery_j is not None]
        kinds = ["local", *engine.world.server_kind]  # by target + 1
        self.placements = sorted(set(kinds), key=("local", "edge", "cloud").index)
        self._targets = [("local", "local")] + [
            (s.name, k) for s, k in zip(engine.servers, engine.world.server_kind, strict=True)
        ]
        self._cells = [engine.scenario.network.cells[link.index].name for link in engine.world.uplinks]
        # Per-task constants, gathered by uid when tasks end.
        device = np.array([d.index for d in engine.device_of_task], np.intp)
        job = np.array([t.job_uid for t in engine.tasks], np.intp)
        self._task_cls = np.array(self._cls_of_device, np.intp)[device]
        self._task_cell = np.array([d.cell for d in engine.devices], np.intp)[device]
        self._task_deadline = np.array([j.deadline_s for j in engine.jobs], float)[job]
        self._place_of_target = np.array([self.placements.index(k) for k in kinds], np.intp)
        n_cls = len(self.classes)
        self._outcomes = np.zeros((n_cls, len(OUTCOMES)), np.int64)  # by class, outcome code - 1
        self._misses = np.zeros(n_cls, np.int64)
        self._hist = np.zeros((len(self.placements), n_cls, len(LATENCY_BUCKETS_S) + 1), np.int64)
        self._hist_sum = np.zeros((len(self.placements), n_cls))
        self._down_bytes = np.zeros(len(engine.world.uplinks))
        self._bounds = np.array(LATENCY_BUCKETS_S)
        # Cascade workloads: each request's first task stands for the memo-cache look-up (hit 1, miss 0) and
        # whether model B ran; other tasks are -1 / 0 and count for nothing.
        n = len(engine.tasks)
        self._cache_hit = np.full(n, -1, np.int8)
        self._b_invoked = np.zeros(n, np.int8)
        for j in engine.jobs:
            if j.meta is not None and "cache_hit" in j.meta and j.tasks:
                self._cache_hit[j.tasks[0].uid] = int(bool(j.meta["cache_hit"]))
                self._b_invoked[j.tasks[0].uid] = int(bool(j.meta["b_invoked"]))
        self._cascade = bool((self._cache_hit >= 0).any())
        self._publish(engine, finished=False)

    def on_progress(self, engine: SimEngine) -> None:
        if time.perf_counter() - self._last_publish >= self.min_interval_s:
            self._publish(engine, finished=False)

    def on_end(self, engine: SimEngine, result: RunResult) -> None:
        self._fold(engine)
        # Tasks dropped at the stop time before their release never pass through on_task_end: recount all.
        outcome = np.fromiter(engine.table.outcome, np.intp, len(engine.tasks))
        n_cls = len(self.classes)
        flat = np.bincount(self._task_cls * 3 + outcome - 1, minlength=n_cls * 3)
        self._outcomes = flat.reshape(n_cls, 3)
        self._publish(engine, finished=True)

    # -- work -------------------------------------------------------------------------------------------

    def _publish(self, engine: SimEngine, finished: bool) -> None:
        self._fold(engine)
        self.metrics.publish(self.build_snapshot(engine, finished))
        self._last_publish = time.perf_counter()

    def _fold(self, engine: SimEngine) -> None:
        """Add the tasks that ended since the last call to the outcome counts and the latency histogram."""
        # The engine logs every task that ends (no per-task call into this observer); take what is new.
        ended = engine.ended[self._cursor :]
        if not ended:
            return
        self._cursor += len(ended)
        n = len(ended)
        uids = np.array(ended, np.intp)
        tab = engine.table
        gather = itemgetter(*ended)

        def col(values: list) -> np.ndarray:
            return np.fromiter(gather(values) if n > 1 else (gather(values),), np.intp, n)

        if self._cascade:
            hit = self._cache_hit[uids]
            hits, misses = int((hit == 1).sum()), int((hit == 0).sum())
            if hits:
                self.metrics.record_cache(True, n=hits)
            if misses:
                self.metrics.record_cache(False, n=misses)
            b_runs = int(self._b_invoked[uids].sum())
            if b_runs:
                self.metrics.record_cascade_b(n=b_runs)
        outcome = col(tab.outcome)
        finish = np.fromiter(gather(tab.finish_s) if n > 1 else (gather(tab.finish_s),), float, n)
        release = np.fromiter(gather(tab.release_s) if n > 1 else (gather(tab.release_s),), float, n)
        cls = self._task_cls[uids]
        n_cls = len(self.classes)
        self._outcomes += np.bincount(cls * 3 + outcome - 1, minlength=n_cls * 3).reshape(n_cls, 3)
        done = outcome == COMPLETED
        if not done.any():
            return
        uids, cls, finish = uids[done], cls[done], finish[done]
        latency = finish - release[done]  # = the summary's finish_s - release_s, bit for bit
        target = col(tab.target)[done]
        combo = self._place_of_target[target + 1] * n_cls + cls
        nb = len(LATENCY_BUCKETS_S) + 1
        bucket = np.searchsorted(self._bounds, latency, side="left")  # first bound >= latency (le semantics)
        self._hist += np.bincount(combo * nb + bucket, minlength=self._hist.size).reshape(self._hist.shape)
        self._hist_sum += np.bincount(combo, weights=latency, minlength=self._hist_sum.size).reshape(
            self._hist_sum.shape
        )
        self._misses += np.bincount(cls[finish > self._task_deadline[uids]], minlength=n_cls)
        remote = target >= 0
        if remote.any():  # results that came back over the downlink
            tasks = engine.tasks
            out_bytes = np.array([tasks[u].output_bytes for u in uids[remote].tolist()], float)
            cells = self._task_cell[uids[remote]]
            self._down_bytes += np.bincount(cells, weights=out_bytes, minlength=len(self._down_bytes))

    def build_snapshot(self, engine: SimEngine, finished: bool) -> FleetSnapshot:
        """The fleet metrics for the engine's state now (reads the engine, never changes what it computes)."""
        now = engine.now
        classes = self.classes
        policy = self.policy
        n_cls = len(classes)
        v: dict[str, dict[Labels, float]] = {}

        # Devices: a plain pass over all of them for the class totals, labelled series for the top k only.
        devices = engine.devices
        cls_of = self._cls_of_device
        parts: list[tuple[float, float, float]] = []
        energy: list[float] = []
        queue: list[int] = []
        cls_energy = [[0.0, 0.0, 0.0] for _ in classes]
        cls_queue = [0] * n_cls
        cls_devices = [0] * n_cls
        for d in devices:
            idle = d.idle
            last = idle.last_s
            # = idle.total_j after idle.advance(now), without moving the meter (a run stays bit-identical).
            idle_j = idle.power_w * (now if now > last else last)
            radio_j = d.tx_j + d.rx_j
            compute_j = d.compute_j
            acc = cls_energy[cls_of[d.index]]
            acc[0] += compute_j
            acc[1] += radio_j
            acc[2] += idle_j
            parts.append((compute_j, radio_j, idle_j))
            energy.append(compute_j + radio_j + idle_j)
            q = _queued(d, now)
            queue.append(q)
            cls_queue[cls_of[d.index]] += q
            cls_devices[cls_of[d.index]] += 1
        k = self.metrics.top_devices
        top = (
            range(len(devices)) if k >= len(devices) else heapq.nlargest(k, range(len(devices)), key=energy.__getitem__)
        )
        dev_energy: dict[Labels, float] = {}
        dev_queue: dict[Labels, float] = {}
        for i in top:
            d = devices[i]
            for component, value in zip(COMPONENTS, parts[i], strict=True):
                dev_energy[(d.name, d.group, component)] = value
            dev_queue[(d.name, d.group)] = queue[i]
        battery: dict[Labels, float] = {}
        cls_battery: dict[Labels, float] = {}
        cls_min_ratio: dict[Labels, float] = {}
        top_set = set(top)
        for d, cap in self._batteries:
            total = energy[d.index]
            left = cap - total if cap > total else 0.0
            key = (d.group,)
            cls_battery[key] = cls_battery.get(key, 0.0) + left
            if left / cap < cls_min_ratio.get(key, math.inf):
                cls_min_ratio[key] = left / cap
            if d.index in top_set:
                battery[(d.name, d.group)] = left
        v["edgesplit_device_energy_joules_total"] = dev_energy
        v["edgesplit_device_battery_joules"] = battery
        v["edgesplit_device_queue_length"] = dev_queue
        v["edgesplit_device_class_energy_joules_total"] = {
            (c, component): cls_energy[i][j] for i, c in enumerate(classes) for j, component in enumerate(COMPONENTS)
        }
        v["edgesplit_device_class_battery_joules"] = cls_battery
        v["edgesplit_device_class_battery_min_ratio"] = cls_min_ratio
        v["edgesplit_device_class_queue_length"] = {(c,): cls_queue[i] for i, c in enumerate(classes)}
        v["edgesplit_device_class_devices"] = {(c,): cls_devices[i] for i, c in enumerate(classes)}

        srv_energy: dict[Labels, float] = {}
        srv_queue: dict[Labels, float] = {}
        srv_util: dict[Labels, float] = {}
        srv_up: dict[Labels, float] = {}
        for s, kind in zip(engine.servers, engine.world.server_kind, strict=True):
            idle = s.idle
            srv_energy[(s.name, kind, "compute")] = s.compute_j
            srv_energy[(s.name, kind, "idle")] = idle.power_w * (now if now > idle.last_s else idle.last_s)
            srv_queue[(s.name, kind)] = _queued(s, now)
            srv_util[(s.name, kind)] = s.busy_cores(now) / s.profile.cores
            srv_up[(s.name, kind)] = 1.0 if s.alive else 0.0
        v["edgesplit_server_energy_joules_total"] = srv_energy
        v["edgesplit_server_queue_length"] = srv_queue
        v["edgesplit_server_utilisation_ratio"] = srv_util
        v["edgesplit_server_up"] = srv_up

        link_bytes: dict[Labels, float] = {}
        link_rate: dict[Labels, float] = {}
        link_active: dict[Labels, float] = {}
        for link, cell in zip(engine.world.uplinks, self._cells, strict=True):
            link_bytes[(cell, "uplink")] = link.bits_sent / 8.0
            link_bytes[(cell, "downlink")] = float(self._down_bytes[link.index])
            rate, active = _uplink_load(link, now)
            link_rate[(cell, "uplink")] = rate / 8.0
            link_active[(cell, "uplink")] = active
        v["edgesplit_link_bytes_total"] = link_bytes
        v["edgesplit_link_rate_bytes_per_second"] = link_rate
        v["edgesplit_link_active_transfers"] = link_active

        outcomes = self._outcomes.tolist()
        v["edgesplit_tasks_total"] = {
            (policy, c, OUTCOME_NAMES[o]): outcomes[i][j] for i, c in enumerate(classes) for j, o in enumerate(OUTCOMES)
        }
        misses = self._misses.tolist()
        v["edgesplit_task_deadline_misses_total"] = {(policy, c): misses[i] for i, c in enumerate(classes)}
        v["edgesplit_offload_decisions_total"] = {
            (policy, name, kind): n for (name, kind), n in zip(self._targets, engine.decisions, strict=True)
        }
        v["edgesplit_sim_time_seconds"] = {(): now}
        v["edgesplit_sim_events_total"] = {(): engine.events}
        v["edgesplit_sim_pace_ratio"] = {(): engine.pace or 0.0}
        v["edgesplit_run_finished"] = {(): 1.0 if finished else 0.0}

        hist, hist_sum = self._hist.tolist(), self._hist_sum.tolist()
        latency = {
            (policy, place, c): (hist[p][i], hist_sum[p][i])
            for p, place in enumerate(self.placements)
            for i, c in enumerate(classes)
        }
        self.snapshots += 1
        return FleetSnapshot(v, latency, dict(self.info))


def _queued(node: Node, now: float) -> int:
    """= node.queue_length(now), without popping: `starts` is non-decreasing, so count the starts after `now`."""
    starts = node.starts
    return len(starts) - bisect.bisect_right(starts, now)


def _uplink_load(link: Any, now: float) -> tuple[float, int]:
    """(bit/s on the air, transfers on the air) of an uplink at `now`."""
    if link.figures.shared:
        return link.current_rate_bps, len(link.active)
    # Unshared radios: a sender is on the air until its last queued transfer has left (back to back).
    rate, active = 0.0, 0
    for sender, free in enumerate(link.radio_free_s):
        if free > now:
            rate += link.rate_bps(sender, 1)
            active += 1
    return rate, active


def metrics_of(engine: Any) -> FleetMetrics | None:
    """The FleetMetrics a running engine exports to, if any (for the cascade, cache and RPC parts)."""
    for ob in getattr(engine, "observers", ()):
        if isinstance(ob, MetricsObserver):
            return ob.metrics
    return None


class Exporter:
    """A running /metrics HTTP server (a daemon thread); `close()` stops it. Also a context manager."""

    def __init__(self, metrics: FleetMetrics, server: WSGIServer, thread: threading.Thread, host: str) -> None:
        self.metrics = metrics
        self._server = server
        self._thread = thread
        self.host = host
        self.port: int = server.server_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Exporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_exporter(port: int, host: str = "127.0.0.1", metrics: FleetMetrics | None = None) -> Exporter:
    """Serve `metrics` (a new FleetMetrics if None) on http://host:port/metrics; port 0 picks a free port.

    Raises OSError when the address cannot be bound (port in use, bad host).
    """
    from prometheus_client import start_http_server

    metrics = metrics if metrics is not None else FleetMetrics()
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    return Exporter(metrics, server, thread, host)


def iter_samples(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """Parse Prometheus text exposition into (name, labels, value) samples (for tests and the benchmark)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield sample.name, dict(sample.labels), sample.value
