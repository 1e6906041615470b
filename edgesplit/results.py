"""Per-task records and run summaries: the accounting check, latency/energy statistics, CSV/Parquet/JSON output."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesplit.energy_summary import energy_summary

if TYPE_CHECKING:
    from edgesplit.scenario import Scenario
    from edgesplit.workload.build import BuiltWorkload

PENDING, COMPLETED, FAILED, DROPPED = 0, 1, 2, 3
OUTCOME_NAMES = {PENDING: "pending", COMPLETED: "completed", FAILED: "failed", DROPPED: "dropped"}
NO_TARGET = -2


class AccountingError(RuntimeError):
    """submitted != completed + failed + dropped: a task was lost. Always a bug, never a user mistake."""


class TaskTable:
    """What happened to each task, one list per field indexed by task uid (cheap to fill on the hot path)."""

    def __init__(self, n: int) -> None:
        nan = math.nan
        self.outcome = [PENDING] * n
        self.reason = [""] * n
        self.target = [NO_TARGET] * n
        self.release_s = [nan] * n
        self.start_s = [nan] * n
        self.finish_s = [nan] * n
        for name in (
            "queue_s",
            "compute_s",
            "uplink_s",
            "downlink_s",
            "network_s",
            "compute_j",
            "radio_j",
            "idle_j",
            "server_j",
        ):
            setattr(self, name, [0.0] * n)


@dataclass
class NodeMeters:
    """One node's energy meters at the end of a run, in joules (radio: transmit + receive; devices only)."""

    name: str
    group: str
    compute_j: float
    radio_j: float
    idle_j: float
    battery_left_j: float | None = None


@dataclass
class CellMeters:
    """One cell's base-station activity over a run, in seconds: awake (a transfer either way) and sending."""

    name: str
    awake_s: float
    sending_s: float


@dataclass
class RunData:
    """Everything a run's result is built from, as plain data: both engines hand one over when a run ends."""

    scenario: Scenario
    workload: BuiltWorkload
    table: TaskTable
    task_device: list[int]  # the index in `devices` of each task's device
    devices: list[NodeMeters]
    servers: list[NodeMeters]
    end_s: float
    events: int
    redispatches: dict[int, int]  # uid -> times a lost task was placed again
    cells: list[CellMeters]


RECORD_COLUMNS = (
    "task",
    "job",
    "task_name",
    "device",
    "device_class",
    "placement",
    "outcome",
    "reason",
    "release_s",
    "start_s",
    "finish_s",
    "latency_s",
    "queue_s",
    "uplink_s",
    "downlink_s",
    "network_s",
    "compute_s",
    "deadline_s",
    "deadline_missed",
    "cycles",
    "input_bytes",
    "output_bytes",
    "device_compute_j",
    "device_radio_j",
    "device_idle_j",
    "device_energy_j",
    "server_energy_j",
    "trace_status",
)


@dataclass
class RunResult:
    """Columns of per-task records (RECORD_COLUMNS) and the summary dictionary."""

    columns: dict[str, list[Any]]
    summary: dict[str, Any]

    @classmethod
    def build(cls, data: RunData, wall_s: float) -> RunResult:
        """Records and summary of a finished run; raises AccountingError if a task is unaccounted for."""
        columns = _columns(data)
        summary = _summary(data, columns, wall_s)
        return cls(columns, summary)

    @property
    def n_tasks(self) -> int:
        return len(self.columns["task"])

    def records(self) -> list[dict[str, Any]]:
        """The per-task records as dictionaries (convenient in tests and notebooks)."""
        names = list(self.columns)
        return [dict(zip(names, row, strict=True)) for row in zip(*self.columns.values(), strict=True)]

    def write(self, out_dir: Path, fmt: str = "csv") -> list[Path]:
        """Write records (tasks.csv or tasks.parquet) and summary.json into `out_dir`; returns the paths."""
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = [write_records(self.columns, out_dir, fmt)]
        summary_path = out_dir / "summary.json"
        summary_path.write_text(json.dumps(self.summary, indent=2, sort_keys=False) + "\n")
        paths.append(summary_path)
        return paths


def write_records(columns: dict[str, list[Any]], out_dir: Path, fmt: str) -> Path:
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = out_dir / "tasks.parquet"
        pq.write_table(pa.table(columns), path)
        return path
    path = out_dir / "tasks.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns.keys())
        w.writerows(zip(*columns.values(), strict=True))
    return path


def read_records(run_dir: Path) -> dict[str, np.ndarray]:
    """Load a run's per-task records back as numpy columns (strings stay object arrays)."""
    parquet = run_dir / "tasks.parquet"
    if parquet.is_file():
        import pyarrow.parquet as pq

        table = pq.read_table(parquet)
        return {name: table[name].to_numpy(zero_copy_only=False) for name in table.column_names}
    with (run_dir / "tasks.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(header):
        values = [r[i] for r in body]
        try:
            out[name] = np.array([float(v) if v != "" else math.nan for v in values])
        except ValueError:
            out[name] = np.array(values, dtype=object)
    return out


def _columns(data: RunData) -> dict[str, list[Any]]:
    tab = data.table
    tasks = data.workload.tasks
    jobs = [data.workload.jobs[t.job_uid] for t in tasks]
    devices = [data.devices[d] for d in data.task_device]
    names = {NO_TARGET: "none", -1: "local", **{i: s.name for i, s in enumerate(data.servers)}}
    outcome = tab.outcome
    finish, release = tab.finish_s, tab.release_s
    # Device compute energy is the task's own only when it ran locally; on a server it is the server's.
    device_compute = [e if g == -1 else 0.0 for e, g in zip(tab.compute_j, tab.target, strict=True)]
    latency = [f - r if o == COMPLETED else math.nan for f, r, o in zip(finish, release, outcome, strict=True)]
    deadline = [j.deadline_s for j in jobs]
    return {
        "task": [t.uid for t in tasks],
        "job": [j.name for j in jobs],
        "task_name": [t.name for t in tasks],
        "device": [d.name for d in devices],
        "device_class": [d.group for d in devices],
        "placement": [names[g] for g in tab.target],
        "outcome": [OUTCOME_NAMES[o] for o in outcome],
        "reason": list(tab.reason),
        "release_s": list(release),
        "start_s": list(tab.start_s),
        "finish_s": list(finish),
        "latency_s": latency,
        "queue_s": list(tab.queue_s),
        "uplink_s": list(tab.uplink_s),
        "downlink_s": list(tab.downlink_s),
        "network_s": list(tab.network_s),
        "compute_s": list(tab.compute_s),
        "deadline_s": deadline,
        "deadline_missed": [o == COMPLETED and f > d for o, f, d in zip(outcome, finish, deadline, strict=True)],
        "cycles": [t.cycles for t in tasks],
        "input_bytes": [t.input_bytes for t in tasks],
        "output_bytes": [t.output_bytes for t in tasks],
        "device_compute_j": device_compute,
        "device_radio_j": list(tab.radio_j),
        "device_idle_j": list(tab.idle_j),
        "device_energy_j": [c + r + i for c, r, i in zip(device_compute, tab.radio_j, tab.idle_j, strict=True)],
        "server_energy_j": list(tab.server_j),
        "trace_status": [t.status for t in tasks],
    }


def _stats(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {
            "count": 0,
            "mean": math.nan,
            "p50": math.nan,
            "p95": math.nan,
            "p99": math.nan,
            "max": math.nan,
        }
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "count": int(values.size),
        "mean": float(values.mean()),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "max": float(values.max()),
    }


def _summary(data: RunData, cols: dict[str, list[Any]], wall_s: float) -> dict[str, Any]:
    sc = data.scenario
    jobs = data.workload.jobs
    outcomes = Counter(cols["outcome"])
    submitted = len(cols["task"])
    completed, failed, dropped = outcomes["completed"], outcomes["failed"], outcomes["dropped"]
    if outcomes["pending"] or submitted != completed + failed + dropped:
        raise AccountingError(
            f"task accounting broken: submitted {submitted} != completed {completed} + failed {failed}"
            f" + dropped {dropped} (pending {outcomes['pending']})"
        )
    latency = np.array(cols["latency_s"], dtype=float)
    latency = latency[~np.isnan(latency)]

    # Jobs: makespan of fully completed jobs; a job misses its deadline unless all its tasks completed in time.
    n_jobs = len(jobs)
    job_of = np.fromiter((t.job_uid for t in data.workload.tasks), dtype=np.int64, count=submitted)
    finish = np.array(cols["finish_s"], dtype=float)
    last_finish = np.full(n_jobs, -np.inf)
    np.maximum.at(last_finish, job_of, finish)
    not_done = np.bincount(job_of, weights=np.array(data.table.outcome) != COMPLETED, minlength=n_jobs)
    arrival = np.array([j.arrival_s for j in jobs])
    deadline = np.array([j.deadline_s for j in jobs])
    has_tasks = np.bincount(job_of, minlength=n_jobs) > 0
    done = (not_done == 0) & has_tasks
    makespan = (last_finish - arrival)[done]
    with_deadline = np.isfinite(deadline) & has_tasks
    missed = with_deadline & (~done | (last_finish > deadline))

    placed = Counter(p for p in cols["placement"] if p != "none")
    n_placed = sum(placed.values())
    stations = {
        m.name: {
            **spec.site_energy_j(m.sending_s, m.awake_s, data.end_s),
            "awake_s": m.awake_s,
            "sending_s": m.sending_s,
        }
        for spec, m in zip(sc.network.cells, data.cells, strict=True)
    }
    energy = energy_summary(data.devices, data.servers, cols, job_of, done, stations)
    return {
        "scenario": sc.name,
        "seed": sc.seed,
        "policy": sc.policy.kind,
        "engine": sc.engine.kind,
        "trace_source": data.workload.source,
        "real_trace": data.workload.real_trace,
        "trace_repairs": data.workload.repair,
        "tasks": {
            "submitted": submitted,
            "completed": completed,
            "failed": failed,
            "dropped": dropped,
            "accounted": True,
            "by_reason": dict(sorted(Counter(r for r in cols["reason"] if r).items())),
        },
        "jobs": {"submitted": n_jobs, "completed": int(done.sum())},
        "latency_s": _stats(latency),
        "job_makespan_s": _stats(makespan),
        "deadline_miss_rate": float(missed.sum() / with_deadline.sum()) if with_deadline.any() else 0.0,
        "task_deadline_miss_rate": (sum(cols["deadline_missed"]) / completed) if completed else 0.0,
        "offload_ratio": (n_placed - placed["local"]) / n_placed if n_placed else 0.0,
        "placements": dict(sorted(placed.items())),
        "energy_j": energy,
        **_meta_summary(data, energy),
        **_fault_summary(data),
        "sim_time_s": data.end_s,
        "events": data.events,
        "wall_s": wall_s,
    }


def _fault_summary(data: RunData) -> dict[str, Any]:
    """A `faults` section when the scenario has faults: what was injected and how many tasks were re-placed."""
    faults = data.scenario.faults
    if not faults:
        return {}
    outcome = data.table.outcome
    again = data.redispatches
    return {
        "faults": {
            "injected": [f.model_dump(mode="json") for f in faults],
            "redispatched_tasks": len(again),
            "redispatches": sum(again.values()),
            "redispatched_completed": sum(1 for uid in again if outcome[uid] == COMPLETED),
        }
    }


def _meta_summary(data: RunData, energy: dict[str, Any]) -> dict[str, Any]:
    """A `cascade` or `dnn` section when the jobs carry predictions: accuracy and accuracy per joule (a request
    counts as correct only if all its tasks completed and its prediction was right), plus each kind's ratios."""
    metas = [(j, j.meta) for j in data.workload.jobs if j.meta is not None and "correct" in j.meta]
    if not metas:
        return {}
    outcome = data.table.outcome
    served = [m for j, m in metas if all(outcome[t.uid] == COMPLETED for t in j.tasks)]
    correct = sum(1 for m in served if m["correct"])
    n = len(metas)
    device_j = energy["device_total"]
    common = {
        "requests": n,
        "served": len(served),
        "accuracy": correct / n,
        "accuracy_served": correct / len(served) if served else 0.0,
        "device_energy_per_request_j": device_j / n,
        "correct_per_joule": correct / device_j if device_j else 0.0,
    }
    if metas[0][1].get("kind") == "dnn":
        sources = Counter(m["source"] for m in served)
        return {"dnn": {**common, "predictions_by": dict(sorted(sources.items()))}}
    return {
        "cascade": {
            **common,
            "cache_hit_ratio": sum(1 for _, m in metas if m["cache_hit"]) / n,
            "b_invocation_ratio": sum(1 for _, m in metas if m["b_invoked"]) / n,
        }
    }
