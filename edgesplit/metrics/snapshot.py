"""Fleet snapshots: the plain, picklable values of the fleet metrics, capped to the top devices and merged."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

from edgesplit.metrics.specs import DEFAULT_TOP_DEVICES, FLEET_METRICS, PER_TASK_METRIC, TASK_ENERGY_METRIC, Labels

_SPECS = {m.name: m for m in FLEET_METRICS}


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


def per_task_means(values: dict[str, dict[Labels, float]]) -> dict[Labels, float]:
    """PER_TASK_METRIC from the completed tasks' energy and count: (policy, part) -> joules per completed task."""
    completed: dict[str, float] = {}
    for (policy, _, outcome), n in values.get("edgesplit_tasks_total", {}).items():
        if outcome == "completed":
            completed[policy] = completed.get(policy, 0.0) + n
    sums: dict[tuple[str, str], float] = {}
    for (policy, _, part), joules in values.get(TASK_ENERGY_METRIC, {}).items():
        sums[(policy, part)] = sums.get((policy, part), 0.0) + joules
    out: dict[Labels, float] = {}
    for policy, n in completed.items():
        if n:  # no series until a task has completed (the summary's mean over nothing is NaN)
            active, idle = sums.get((policy, "device_active"), 0.0), sums.get((policy, "device_idle"), 0.0)
            out[(policy, "device_active")] = active / n
            out[(policy, "device_total")] = (active + idle) / n
            out[(policy, "server")] = sums.get((policy, "server"), 0.0) / n
    return out


def merge_snapshots(shards: Sequence[FleetSnapshot], top_devices: int = DEFAULT_TOP_DEVICES) -> FleetSnapshot:
    """Combine the snapshots of engine shards (e.g. Ray workers) into one fleet-wide snapshot.

    Counters and most gauges add up; the simulated time and utilisation take the maximum, `server_up`,
    `run_finished` and the battery minimum the minimum; the energy per completed task is computed again from
    the merged energy and task counts. Per-device series are re-capped to `top_devices`
    (the fleet's top k is within the union of the shards' top k, so this is exact).
    """
    out = FleetSnapshot()
    for shard in shards:
        for name, series in shard.values.items():
            how = _SPECS[name].merge
            if how == "derived":
                continue
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
    if any(PER_TASK_METRIC in shard.values for shard in shards):
        out.values[PER_TASK_METRIC] = per_task_means(out.values)
    cap_devices(out, top_devices)
    return out
