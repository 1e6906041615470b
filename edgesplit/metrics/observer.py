"""MetricsObserver: the RunObserver that builds fleet snapshots from a running SimEngine and publishes them."""

from __future__ import annotations

import bisect
import heapq
import math
import time
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesplit.engines.observer import RunObserver
from edgesplit.metrics.collector import FleetMetrics
from edgesplit.metrics.snapshot import FleetSnapshot, per_task_means
from edgesplit.metrics.specs import (
    COMPONENTS,
    LATENCY_BUCKETS_S,
    OUTCOMES,
    PER_TASK_METRIC,
    TASK_ENERGY_METRIC,
    TASK_ENERGY_PARTS,
    Labels,
)
from edgesplit.results import COMPLETED, OUTCOME_NAMES, RunResult, TaskTable

if TYPE_CHECKING:
    from edgesplit.engines.sim import SimEngine
    from edgesplit.model.entities import Node


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
        self._task_energy = np.zeros((n_cls, len(TASK_ENERGY_PARTS)))  # completed tasks' records, by class
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
        self._recount_energy(result.columns)
        self._publish(engine, finished=True)

    def _recount_energy(self, cols: dict[str, list]) -> None:
        """The completed tasks' energy again from the final records: some energy (e.g. a radio tail) can be
        charged to a task after it ended, so the final values come from exactly what the summary reads."""
        done = np.array(cols["outcome"], dtype=object) == "completed"
        index = {c: i for i, c in enumerate(self.classes)}
        cls = np.fromiter((index[c] for c in cols["device_class"]), np.intp, len(done))[done]
        active = np.add(cols["device_compute_j"], cols["device_radio_j"], dtype=float)
        parts = (active, np.asarray(cols["device_idle_j"], float), np.asarray(cols["server_energy_j"], float))
        for j, values in enumerate(parts):  # in TASK_ENERGY_PARTS order
            self._task_energy[:, j] = np.bincount(cls, weights=values[done], minlength=len(self.classes))

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
        self._fold_energy(tab, uids.tolist(), target, cls)
        remote = target >= 0
        if remote.any():  # results that came back over the downlink
            tasks = engine.tasks
            out_bytes = np.array([tasks[u].output_bytes for u in uids[remote].tolist()], float)
            cells = self._task_cell[uids[remote]]
            self._down_bytes += np.bincount(cells, weights=out_bytes, minlength=len(self._down_bytes))

    def _fold_energy(self, tab: TaskTable, uids: list[int], target: np.ndarray, cls: np.ndarray) -> None:
        """Add the energy in the records of tasks `uids`, just completed (the summary's per-task columns)."""
        n = len(uids)

        def col(values: list[float]) -> np.ndarray:
            return np.fromiter((values[u] for u in uids), float, n)

        # As in results' device_compute_j column: a task's compute is the device's only when it ran locally.
        active = np.where(target == -1, col(tab.compute_j), 0.0) + col(tab.radio_j)
        parts = (active, col(tab.idle_j), col(tab.server_j))  # in TASK_ENERGY_PARTS order
        n_cls = len(self.classes)
        for j, values in enumerate(parts):
            self._task_energy[:, j] += np.bincount(cls, weights=values, minlength=n_cls)

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
        v["edgesplit_device_class_active_energy_joules_total"] = {
            (c,): cls_energy[i][0] + cls_energy[i][1] for i, c in enumerate(classes)
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
        world = engine.world
        for link, down, cell in zip(world.uplinks, world.downlinks, self._cells, strict=True):
            link_bytes[(cell, "uplink")] = link.bits_sent / 8.0
            link_bytes[(cell, "downlink")] = float(self._down_bytes[link.index])
            for direction, one in (("uplink", link), ("downlink", down)):
                rate, active = _link_load(one, now)
                link_rate[(cell, direction)] = rate / 8.0
                link_active[(cell, direction)] = active
        station: dict[Labels, float] = {}
        for spec, awake, sending in zip(engine.scenario.network.cells, world.awake, world.sending, strict=True):
            parts = spec.site_energy_j(sending.busy_s(now), awake.busy_s(now), now)
            for state in ("transmit", "receive", "sleep"):
                station[(spec.name, state)] = parts[state]
        v["edgesplit_base_station_energy_joules_total"] = station
        v["edgesplit_link_bytes_total"] = link_bytes
        v["edgesplit_link_rate_bytes_per_second"] = link_rate
        v["edgesplit_link_active_transfers"] = link_active

        outcomes = self._outcomes.tolist()
        v["edgesplit_tasks_total"] = {
            (policy, c, OUTCOME_NAMES[o]): outcomes[i][j] for i, c in enumerate(classes) for j, o in enumerate(OUTCOMES)
        }
        misses = self._misses.tolist()
        v["edgesplit_task_deadline_misses_total"] = {(policy, c): misses[i] for i, c in enumerate(classes)}
        task_energy = self._task_energy.tolist()
        v[TASK_ENERGY_METRIC] = {
            (policy, c, part): task_energy[i][j]
            for i, c in enumerate(classes)
            for j, part in enumerate(TASK_ENERGY_PARTS)
        }
        v[PER_TASK_METRIC] = per_task_means(v)
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


def _link_load(link: Any, now: float) -> tuple[float, int]:
    """(bit/s on the air, transfers on the air) of a cell's uplink or downlink at `now`."""
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
