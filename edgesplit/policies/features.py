"""Observation features shared by the RL environments and `LearnedPolicy`: cost weights, the `Featurizer`, actions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edgesplit.policies.base import LOCAL, SystemView
from edgesplit.policies.heft import HeftPolicy
from edgesplit.workload.dag import Job, Task

CLIP = 10.0
"""Every observation entry lies in [-CLIP, CLIP]."""

TASK_FEATURES = 10
TARGET_FEATURES = 4
SERVER_FEATURES = 3
DEVICE_FEATURES = 6


@dataclass(frozen=True)
class CostWeights:
    """Cost of one task = latency x latency_s + energy x device joules + miss x (missed its job's deadline or did
    not complete). Device joules are the task's own: its local compute energy, or its radio energy if offloaded."""

    latency: float = 1.0
    energy: float = 1.0
    miss: float = 2.0

    def as_dict(self) -> dict[str, float]:
        return {"latency": self.latency, "energy": self.energy, "miss": self.miss}


class EngineView(SystemView, Protocol):
    """What the `Featurizer` reads beyond a SystemView: the sim engine's servers, devices, jobs and radio cells
    (the event engine is the view both in the environments and when `LearnedPolicy` runs in a scenario)."""

    servers: list[Any]
    devices: list[Any]
    device_of_task: list[Any]
    jobs: list[Job]
    world: Any


def action_to_target(action: Any, continuous: bool) -> int:
    """Engine target of an action: Discrete k -> LOCAL for 0, server k - 1 otherwise; Box -> argmax of the scores."""
    if continuous:
        return int(np.argmax(np.asarray(action, dtype=np.float32))) - 1
    return int(action) - 1


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
        self._planner: HeftPolicy | None = None
        self._planned: set[int] = set()

    def reset(self) -> None:
        """Forget the planner's state (call at the start of every run or episode)."""
        self._planner = None
        self._planned = set()

    def hint(self, engine: EngineView, task: Task) -> int:
        """HEFT's planned target for `task`: the job is planned, as HEFT plans it, when its first task is seen (at
        the job's arrival, since root tasks are released then)."""
        if self._planner is None:
            self._planner = HeftPolicy()
        if task.job_uid not in self._planned:
            self._planned.add(task.job_uid)
            self._planner.on_job(engine.jobs[task.job_uid], engine)
        return self._planner.plan.get(task.uid, LOCAL)

    def server_block(self, engine: EngineView) -> list[float]:
        now = engine.now
        out: list[float] = []
        for s in engine.servers:
            cores = s.profile.cores
            free = s.core_free[0]
            out.append(_slog(free - now if free > now else 0.0))
            out.append(min(s.queue_length(now) / cores, CLIP))
            out.append(sum(1 for f in s.core_free if f > now) / cores)
        return out

    def task_list(self, engine: EngineView, task: Task, servers: list[float] | None = None) -> list[float]:
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

    def task_obs(self, engine: EngineView, task: Task | None) -> np.ndarray:
        """The single-agent observation of `task` (zeros when there is none)."""
        if task is None:
            return np.zeros(self.task_dim, dtype=np.float32)
        return np.asarray(self.task_list(engine, task), dtype=np.float32)

    def agent_obs(self, engine: EngineView, task: Task | None) -> tuple[np.ndarray, int]:
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
