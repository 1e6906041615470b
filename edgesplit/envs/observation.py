"""Observations, costs and episode windows shared by the RL environments and the learned policy."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.engines.sim import RunObserver, SimEngine
from edgesplit.policies.base import LOCAL
from edgesplit.results import COMPLETED
from edgesplit.scenario import Scenario, load_scenario
from edgesplit.workload.dag import Task

CLIP = 10.0
"""Every observation entry lies in [-CLIP, CLIP]."""

TASK_FEATURES = 10
TARGET_FEATURES = 4
SERVER_FEATURES = 3
DEVICE_FEATURES = 6
DEFAULT_SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "alibaba_trace.yaml"


@dataclass(frozen=True)
class CostWeights:
    """Cost of one task = latency x latency_s + energy x device joules + miss x (missed its job's deadline or did
    not complete). Device joules are the task's own: its local compute energy, or its radio energy if offloaded."""

    latency: float = 1.0
    energy: float = 1.0
    miss: float = 2.0

    def as_dict(self) -> dict[str, float]:
        return {"latency": self.latency, "energy": self.energy, "miss": self.miss}


def task_cost(engine: SimEngine, uid: int, w: CostWeights) -> float:
    """The cost of task `uid` once it has ended (completed, failed or dropped), from the engine's table."""
    tab = engine.table
    target = tab.target[uid]
    energy = (tab.compute_j[uid] if target == LOCAL else 0.0) + tab.radio_j[uid]
    release = tab.release_s[uid]
    latency = 0.0 if math.isnan(release) else tab.finish_s[uid] - release
    if tab.outcome[uid] == COMPLETED:
        missed = tab.finish_s[uid] > engine.jobs[engine.tasks[uid].job_uid].deadline_s
    else:
        missed = True
    return w.latency * latency + w.energy * energy + w.miss * missed


def costs_from_columns(columns: dict[str, list[Any]], w: CostWeights) -> np.ndarray:
    """Per-task cost from a RunResult's columns; the same formula as `task_cost`."""
    release = np.asarray(columns["release_s"], dtype=float)
    finish = np.asarray(columns["finish_s"], dtype=float)
    latency = np.where(np.isnan(release), 0.0, finish - release)
    energy = np.asarray(columns["device_compute_j"], dtype=float) + np.asarray(columns["device_radio_j"], dtype=float)
    completed = np.asarray([o == "completed" for o in columns["outcome"]])
    missed = ~completed | np.asarray(columns["deadline_missed"], dtype=bool)
    return w.latency * latency + w.energy * energy + w.miss * missed


class CostMeter(RunObserver):
    """Adds up the cost of every task as it ends; `take()` returns what accrued since the last call."""

    def __init__(self, weights: CostWeights) -> None:
        self.weights = weights
        self.accrued = 0.0
        self.counted = 0.0
        self.ended: list[tuple[int, float]] = []

    def on_task_end(self, engine: SimEngine, uid: int) -> None:
        c = task_cost(engine, uid, self.weights)
        self.accrued += c
        self.ended.append((uid, c))

    def take(self) -> float:
        c, self.accrued = self.accrued, 0.0
        self.counted += c
        return c


def _slog(x: float) -> float:
    """Signed log1p, clipped to the observation range."""
    v = math.log1p(x) if x >= 0.0 else -math.log1p(-x)
    return CLIP if v > CLIP else (-CLIP if v < -CLIP else v)


class Featurizer:
    """Builds observation vectors from an engine's state. The environments and `LearnedPolicy` share it, so a policy
    sees in a scenario exactly what it saw in training.

    Task vector (`task_obs`, length 10 + 4 (1 + S) + 3 S for S servers):
      task: log local compute s, log input MB, signed log deadline slack s, log upward rank s, log children;
      device: queued tasks per core, battery fraction left, log energy so far J; cell: log upload-time estimate s,
      transfers on the air / 10;
      per target (local, then each server): log estimated latency s, log estimated device energy J, estimated
      deadline miss (0/1), log estimated cost;
      per server: log backlog s, queued tasks per core, busy-core fraction;
      with `hints`: HEFT's planned target for the task, one-hot over (local, servers).
    Agent vector (`agent_obs`, per device): active flag, queued per core, battery fraction, log energy J, cell
    transfers / 10, log time to upload 1 MB now; then the per-server block; then the task vector (zeros unless the
    device has the task that awaits a decision).
    """

    def __init__(self, n_servers: int, weights: CostWeights, hints: bool = False) -> None:
        self.n_servers = n_servers
        self.weights = weights
        self.hints = hints
        self.task_dim = TASK_FEATURES + TARGET_FEATURES * (1 + n_servers) + SERVER_FEATURES * n_servers
        if hints:
            self.task_dim += 1 + n_servers
        self.agent_dim = DEVICE_FEATURES + SERVER_FEATURES * n_servers + self.task_dim
        self._planner: Any = None
        self._planned: set[int] = set()

    def reset(self) -> None:
        """Forget the planner's state (call at the start of every run or episode)."""
        self._planner = None
        self._planned = set()

    def hint(self, engine: SimEngine, task: Task) -> int:
        """HEFT's planned target for `task`: the job is planned, as HEFT plans it, when its first task is seen (at
        the job's arrival, since root tasks are released then)."""
        if self._planner is None:
            from edgesplit.policies.heft import HeftPolicy

            self._planner = HeftPolicy()
        if task.job_uid not in self._planned:
            self._planned.add(task.job_uid)
            self._planner.on_job(engine.jobs[task.job_uid], engine)
        return self._planner.plan.get(task.uid, LOCAL)

    def server_block(self, engine: SimEngine) -> list[float]:
        now = engine.now
        out: list[float] = []
        for s in engine.servers:
            cores = s.profile.cores
            free = s.core_free[0]
            out.append(_slog(free - now if free > now else 0.0))
            out.append(min(s.queue_length(now) / cores, CLIP))
            out.append(sum(1 for f in s.core_free if f > now) / cores)
        return out

    def task_list(self, engine: SimEngine, task: Task, servers: list[float] | None = None) -> list[float]:
        now = engine.now
        w = self.weights
        dev = engine.device_of_task[task.uid]
        link = engine.world.uplinks[dev.cell]
        deadline = engine.jobs[task.job_uid].deadline_s
        cap = dev.profile.battery_j
        bits = task.input_bytes * 8.0
        up_s = link.estimate_s(dev.sender, bits, now) if bits > 0.0 else 0.0
        out = [
            _slog(task.cycles * dev.seconds_per_cycle),
            _slog(task.input_bytes / 1e6),
            _slog(deadline - now) if deadline != math.inf else CLIP,
            _slog(task.priority),
            _slog(len(task.children)),
            min(dev.queue_length(now) / dev.profile.cores, CLIP),
            1.0 if cap is None else max(cap - dev.energy_j, 0.0) / cap,
            _slog(dev.energy_j),
            _slog(up_s),
            min(len(link.active) / 10.0, CLIP),
        ]
        for target in range(LOCAL, engine.n_servers):
            finish, energy = engine.estimate(task, target)
            latency = finish - now
            missed = 1.0 if finish > deadline else 0.0
            out.append(_slog(latency))
            out.append(_slog(energy))
            out.append(missed)
            out.append(_slog(w.latency * latency + w.energy * energy + w.miss * missed))
        out.extend(self.server_block(engine) if servers is None else servers)
        if self.hints:
            onehot = [0.0] * (1 + self.n_servers)
            onehot[self.hint(engine, task) + 1] = 1.0
            out.extend(onehot)
        return out

    def task_obs(self, engine: SimEngine, task: Task | None) -> np.ndarray:
        """The single-agent observation of `task` (zeros when there is none)."""
        if task is None:
            return np.zeros(self.task_dim, dtype=np.float32)
        return np.asarray(self.task_list(engine, task), dtype=np.float32)

    def agent_obs(self, engine: SimEngine, task: Task | None) -> tuple[np.ndarray, int]:
        """Every device's observation, shape (devices, agent_dim), and the index of the device that must decide
        (-1 when no task awaits)."""
        now = engine.now
        devices = engine.devices
        out = np.zeros((len(devices), self.agent_dim), dtype=np.float32)
        servers = self.server_block(engine)
        uplinks = engine.world.uplinks
        rows = []
        for dev in devices:
            link = uplinks[dev.cell]
            cap = dev.profile.battery_j
            energy = dev.energy_j
            rows.append(
                [
                    0.0,
                    min(dev.queue_length(now) / dev.profile.cores, CLIP),
                    1.0 if cap is None else max(cap - energy, 0.0) / cap,
                    _slog(energy),
                    min(len(link.active) / 10.0, CLIP),
                    _slog(link.estimate_s(dev.sender, 8e6, now)),
                ]
            )
        head = DEVICE_FEATURES + len(servers)
        out[:, :DEVICE_FEATURES] = rows
        out[:, DEVICE_FEATURES:head] = servers
        active = -1
        if task is not None:
            active = engine.device_of_task[task.uid].index
            out[active, 0] = 1.0
            out[active, head:] = self.task_list(engine, task, servers)
        return out, active


# ----------------------------------------------------------------------------------------------------------
# Episodes: windows of jobs


def resolve_scenario(scenario: str | Path | Scenario | None, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """A Scenario from a path (with `--set`-style overrides) or as given; None means the bundled Alibaba scenario."""
    if isinstance(scenario, Scenario):
        return scenario
    return load_scenario(scenario or DEFAULT_SCENARIO, list(overrides))


class EpisodeSource:
    """Builds engines (without a policy) for episodes.

    `window_jobs=None`: the scenario's whole workload, exactly as `edgesplit scenario run` builds it. Otherwise an
    episode is `window_jobs` consecutive jobs (by trace arrival) from the scenario's job set, starting at a random
    job, under a per-episode seed (which redraws Poisson arrivals, the job-to-device mapping and the channel).
    """

    def __init__(self, sc: Scenario, window_jobs: int | None) -> None:
        self.sc = sc
        self.window_jobs = window_jobs
        self.device_hz = [g.resolve().cpu_hz for g in sc.fleet.devices for _ in range(g.count)]
        self._trace: list[Any] | None = None
        self.real_trace = False
        self.source = ""
        if window_jobs is not None:
            from edgesplit.workload.build import _trace_jobs

            ws = sc.workload
            if ws.source == "synthetic" and ws.synthetic.kind != "calibrated":
                raise ValueError("episode windows need trace-like jobs (workload.source trace or calibrated)")
            self._trace, self.source, self.real_trace, _ = _trace_jobs(sc)
            self._trace.sort(key=lambda j: (j.arrival_s, j.name))
            if not self._trace:
                raise ValueError("the scenario's workload has no jobs")

    @property
    def n_jobs(self) -> int:
        return len(self._trace) if self._trace is not None else 0

    def engine(self, rng: random.Random) -> SimEngine:
        """A fresh engine for the next episode."""
        from edgesplit.engines.factory import prepare
        from edgesplit.gcpause import gc_paused

        if self._trace is None:
            return prepare(self.sc, external_policy=True)
        from edgesplit.workload.build import BuiltWorkload, _finish, _from_trace, poisson_arrivals

        n = min(self.window_jobs or 1, len(self._trace))
        start = rng.randrange(len(self._trace) - n + 1)
        sc = self.sc.model_copy(update={"seed": rng.randrange(2**31)})
        with gc_paused():
            jobs = _from_trace(sc, self._trace[start : start + n])
            if sc.workload.arrival.kind == "poisson":
                poisson_arrivals(sc, jobs)
            workload: BuiltWorkload = _finish(
                sc, jobs, self.device_hz, self.source, real=self.real_trace, repair={}, remap=True
            )
        return SimEngine(sc, workload, None)


def start_episode(
    source: EpisodeSource, rng: random.Random, featurizer: Featurizer, weights: CostWeights
) -> tuple[SimEngine, CostMeter, Task | None]:
    """A fresh engine for the next episode with a cost meter attached, run up to its first decision."""
    engine = source.engine(rng)
    featurizer.reset()
    meter = CostMeter(weights)
    engine.observers.append(meter)
    engine.start()
    return engine, meter, engine.advance()
