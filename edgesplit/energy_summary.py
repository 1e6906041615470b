"""The summary's energy section: device and server meters, active and idle apart, and energy per task and job."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

DEVICE_PARTS = ("compute", "radio", "idle")


class Meters(Protocol):
    """A node's energy meters at the end of a run (results.NodeMeters; a protocol so results can import this)."""

    name: str
    group: str
    compute_j: float
    radio_j: float
    idle_j: float
    battery_left_j: float | None


def energy_summary(
    devices: Sequence[Meters],
    servers: Sequence[Meters],
    columns: dict[str, list[Any]],
    job_of: np.ndarray,
    job_done: np.ndarray,
    by_station: dict[str, dict[str, float]] | None = None,
) -> dict[str, Any]:
    """summary.json's `energy_j`, in joules. Two sources, which do not add up to the same thing:

    From the node meters at the end of the run (all energy a node used, whether a task was in flight or not):
    - `device_total`: compute + radio + idle over all devices (idle power runs for the whole run);
    - `device_active`: compute + radio over all devices (what the work and the transfers cost);
    - `device_idle`: idle over all devices (= `device_total` - `device_active`);
    - `device_by_component`: compute, radio (tx + rx) and idle, each over all devices;
    - `device_by_class`, `per_device`: compute, radio, idle, `active` (compute + radio) and `total` per class
      and per device (plus `battery_left_j` for devices with a battery);
    - `server_total`, `by_server`: compute + idle per server (edge and cloud), summed;
    - `base_station_total`, `by_base_station` (given, by cell: `CellSpec.site_energy_j`): each cell's site over
      the run in the EARTH model, `transmit` while its downlink is on the air, `receive` while only its uplink
      is, `sleep` the rest, with `awake_s` and `sending_s`;
    - `system_total`: devices + servers + base stations, the whole system's energy.

    From the per-task records of completed tasks (`outcome` = completed):
    - `per_task`: over completed tasks, the mean of `device_compute_j + device_radio_j` (`device_active_mean_j`),
      of `device_energy_j` = compute + radio + the idle energy the task was charged while in flight
      (`device_total_mean_j`) and of `server_energy_j` (`server_mean_j`); `count` = completed tasks;
    - `per_job`: the same three over completed jobs (every task completed), each job's figure being the sum of
      its tasks' records; `count` = completed jobs.
    A mean over nothing (no completed task or job) is NaN. Idle energy while no task of a device was in flight
    is charged to no task, so `per_task` x completed tasks is at most the meters' figure.
    """
    per_device = []
    by_class: dict[str, dict[str, float]] = {}
    totals = dict.fromkeys(DEVICE_PARTS, 0.0)
    for d in devices:
        parts = {"compute": d.compute_j, "radio": d.radio_j, "idle": d.idle_j}
        active = d.compute_j + d.radio_j
        total = sum(parts.values())
        row = {"device": d.name, "class": d.group, **parts, "active": active, "total": total}
        if d.battery_left_j is not None:
            row["battery_left_j"] = d.battery_left_j
        per_device.append(row)
        acc = by_class.setdefault(d.group, {**dict.fromkeys(DEVICE_PARTS, 0.0), "active": 0.0, "total": 0.0})
        for k, v in parts.items():
            acc[k] += v
            totals[k] += v
        acc["active"] += active
        acc["total"] += total
    by_server = {s.name: {"compute": s.compute_j, "idle": s.idle_j, "total": s.compute_j + s.idle_j} for s in servers}
    by_station = by_station or {}
    device_total = sum(totals.values())
    server_total = sum(v["total"] for v in by_server.values())
    station_total = sum(v["total"] for v in by_station.values())
    return {
        "system_total": device_total + server_total + station_total,
        "device_total": device_total,
        "device_active": totals["compute"] + totals["radio"],
        "device_idle": totals["idle"],
        "device_by_component": totals,
        "device_by_class": by_class,
        "server_total": server_total,
        "by_server": by_server,
        "base_station_total": station_total,
        "by_base_station": by_station,
        "per_device": per_device,
        **_per_task_and_job(columns, job_of, job_done),
    }


def _per_task_and_job(columns: dict[str, list[Any]], job_of: np.ndarray, job_done: np.ndarray) -> dict[str, Any]:
    completed = np.array(columns["outcome"], dtype=object) == "completed"
    figures = {
        "device_active_mean_j": np.add(columns["device_compute_j"], columns["device_radio_j"], dtype=float),
        "device_total_mean_j": np.asarray(columns["device_energy_j"], dtype=float),
        "server_mean_j": np.asarray(columns["server_energy_j"], dtype=float),
    }
    n_jobs = job_done.size
    per_task: dict[str, Any] = {"count": int(completed.sum())}
    per_job: dict[str, Any] = {"count": int(job_done.sum())}
    for key, values in figures.items():
        per_task[key] = _mean(values[completed])
        per_job[key] = _mean(np.bincount(job_of, weights=values, minlength=n_jobs)[job_done])
    return {"per_task": per_task, "per_job": per_job}


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else math.nan
