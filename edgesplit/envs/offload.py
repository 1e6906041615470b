"""`OffloadEnv`: a Gymnasium environment with one placement decision per ready task of the event engine."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from edgesplit.envs.observation import CostMeter, EpisodeSource, resolve_scenario, start_episode, task_cost
from edgesplit.policies.base import LOCAL
from edgesplit.policies.features import CLIP, CostWeights, Featurizer, action_to_target
from edgesplit.scenario import Scenario
from edgesplit.workload.dag import Task


class OffloadEnv(gym.Env):
    """
    ## Description

    Computation offloading on edgesplit's event engine. Jobs (DAGs of tasks) arrive on mobile devices; whenever a
    task's parents have all finished, the agent decides where it runs: on its own device or on one of the servers
    (the scenario's edge servers, then its cloud VM if it has one). The engine then plays out what really happens:
    queueing on cores, the shared cell uplink with loss and retransmission, backhaul, and the result's way back.
    One policy decides for every device (parameter sharing across devices).

    ## Action Space

    `Discrete(1 + S)` for S servers: `0` runs the task locally, `k` sends it to server `k - 1` (edge servers first,
    then the cloud). With `continuous=True` the action is `Box(-1, 1, (1 + S,))`, one placement score per target,
    and the task goes to the highest score (ties: the lowest index). A transmit-power fraction is not part of the
    action: the engine's radios transmit at their profile's power (per-transfer power control is not modelled yet).

    ## Observation Space

    `Box(-10, 10, (10 + 4 (1 + S) + 3 S [+ 1 + S],), float32)`; entries are signed log1p of seconds, joules or MB,
    or fractions:

    | index | observation |
    |---|---|
    | 0 | log local compute time of the task (s) |
    | 1 | log input size (MB) |
    | 2 | signed log deadline slack of its job (s); 10 if no deadline |
    | 3 | log upward rank (priority, s) |
    | 4 | log number of children |
    | 5 | tasks queued on its device per core |
    | 6 | battery fraction left (1 without a battery model) |
    | 7 | log device energy so far (J) |
    | 8 | log estimated upload time of its input on its cell now (s) |
    | 9 | transfers on the air in its cell / 10 |
    | 10 + 4 t .. 13 + 4 t | target t (0 local, then servers): log estimated latency (s), log estimated device |
    | | energy (J), estimated deadline miss (0/1), log estimated cost |
    | 10 + 4 (1 + S) + 3 s .. | server s: log backlog (s), queued tasks per core, busy-core fraction |
    | last 1 + S (`hints=True` only) | HEFT's planned target for the task, one-hot (local, servers) |

    Estimates are the engine's `SystemView.estimate` (current queues and link load).

    ## Rewards

    Minus the cost of the tasks that ended (completed, failed or dropped) since the previous step, where a task's
    cost is `latency_weight x latency_s + energy_weight x device_J + miss_penalty x missed` (`CostWeights`;
    device joules: local compute or radio energy; missed: finished after its job's deadline, or did not complete).
    The final step also carries the cost of everything that ends after the last decision, so an episode's return is
    minus the total cost of its tasks. `info["ended"]` lists `(task uid, cost)` for the tasks that ended.

    ## Starting State

    `reset` builds a fresh engine for a window of `window_jobs` consecutive jobs of the scenario's job set (random
    start, per-episode seed for arrivals, mapping and channel) and runs it to the first task that needs a placement.
    `window_jobs=None` replays the scenario's whole workload as `edgesplit scenario run` would.

    ## Episode End

    Terminated when the window's last task has been placed and the engine has run to its end (or the scenario's
    stop time). Not truncated (windows are finite).

    ## Arguments

    `gymnasium.make("edgesplit/Offload-v0", scenario=PATH_OR_SCENARIO, overrides=[...], window_jobs=20,
    continuous=False, weights=CostWeights(), hints=False)`. `hints=True` appends HEFT's plan to the observation
    (the job is planned when its first task is seen, as HEFT plans it on arrival; following the hint replays HEFT's
    run exactly, so an agent starts from HEFT and learns when to deviate). With no scenario it uses the bundled
    `scenarios/alibaba_trace.yaml` (its calibrated generator when no trace file is configured).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        scenario: str | Path | Scenario | None = None,
        overrides: list[str] | tuple[str, ...] = (),
        window_jobs: int | None = 20,
        continuous: bool = False,
        weights: CostWeights | None = None,
        hints: bool = False,
    ) -> None:
        self.scenario = resolve_scenario(scenario, overrides)
        self.weights = weights or CostWeights()
        self.continuous = continuous
        self.source = EpisodeSource(self.scenario, window_jobs)
        probe = self.source.engine(random.Random(0))
        self.n_servers = probe.n_servers
        self.featurizer = Featurizer(self.n_servers, self.weights, hints)
        dim = self.featurizer.task_dim
        self.observation_space = spaces.Box(-CLIP, CLIP, (dim,), dtype=np.float32)
        if continuous:
            self.action_space: spaces.Space = spaces.Box(-1.0, 1.0, (1 + self.n_servers,), dtype=np.float32)
        else:
            self.action_space = spaces.Discrete(1 + self.n_servers)
        self._rng = random.Random(0)
        self.engine = probe
        self.meter = CostMeter(self.weights)
        self.task: Task | None = None
        self.result = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self._rng = random.Random(seed)
        self.engine, self.meter, self.task = start_episode(self.source, self._rng, self.featurizer, self.weights)
        self.result = None
        return self.featurizer.task_obs(self.engine, self.task), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        engine = self.engine
        if self.task is not None:
            target = action_to_target(action, self.continuous)
            if not LOCAL <= target < self.n_servers:
                raise ValueError(f"action {action!r} is outside {self.action_space}")
            engine.decide(target)
            self.task = engine.advance()
        meter = self.meter
        if self.task is None:
            return self._end()
        reward = -meter.take()
        info = {"ended": meter.ended}
        meter.ended = []
        return self.featurizer.task_obs(engine, self.task), reward, False, False, info

    def _end(self) -> tuple[np.ndarray, float, bool, bool, dict]:
        meter = self.meter
        self.result = self.engine.finish()
        total = sum(task_cost(self.engine, uid, self.weights) for uid in range(len(self.engine.tasks)))
        reward = -(total - meter.counted)
        info = {"ended": meter.ended, "episode_cost": total, "tasks": len(self.engine.tasks)}
        meter.ended = []
        meter.accrued = 0.0
        meter.counted = total
        return np.zeros(self.featurizer.task_dim, dtype=np.float32), reward, True, False, info
