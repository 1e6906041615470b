"""`OffloadParallelEnv`: the offloading problem as a PettingZoo parallel environment, one agent per device."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from edgesplit.envs.observation import CostMeter, EpisodeSource, resolve_scenario, start_episode, task_cost
from edgesplit.envs.offload import OffloadEnv
from edgesplit.policies.features import CLIP, CostWeights, Featurizer
from edgesplit.scenario import Scenario
from edgesplit.workload.dag import Task


class OffloadParallelEnv(ParallelEnv):
    """
    ## Description

    The `OffloadEnv` problem with every device as an agent (`device_0`, ...). A step is one placement decision,
    as in `OffloadEnv`: the engine runs to the next task that needs a placement; its device is the *active* agent
    and only its action is applied (the others' actions are ignored, they act when one of their tasks is ready).
    Each agent sees only its own device, its cell and the servers' load, plus the task when it is the active one.

    ## Action Space

    Per agent `Discrete(1 + S)`: 0 local, k server k - 1 (edge servers, then the cloud).

    ## Observation Space

    Per agent `Box(-10, 10, (6 + 3 S + D,), float32)` where D is `OffloadEnv`'s observation length: active flag,
    queued tasks per core, battery fraction, log energy so far (J), transfers on its cell's air / 10, log time to
    upload 1 MB now (s); the per-server block (log backlog s, queued per core, busy fraction); then the task
    observation of `OffloadEnv` when active, zeros otherwise.

    ## Rewards

    Shared (cooperative): every agent receives minus the cost of all tasks that ended since the previous step, as
    in `OffloadEnv`; `infos[agent]["ended"]` lists `(task uid, cost)`, `infos[agent]["task"]` is the uid of the task
    awaiting a decision (active agent only).

    ## Episode End

    All agents terminate together when the window's last task has been placed and the engine has run to its end.
    """

    metadata = {"name": "edgesplit_offload_v0", "render_modes": []}

    def __init__(
        self,
        scenario: str | Path | Scenario | None = None,
        overrides: list[str] | tuple[str, ...] = (),
        window_jobs: int | None = 20,
        weights: CostWeights | None = None,
        hints: bool = False,
    ) -> None:
        self.scenario = resolve_scenario(scenario, overrides)
        self.weights = weights or CostWeights()
        self.source = EpisodeSource(self.scenario, window_jobs)
        probe = self.source.engine(random.Random(0))
        self.n_servers = probe.n_servers
        self.n_agents = len(probe.devices)
        self.featurizer = Featurizer(self.n_servers, self.weights, hints)
        self.possible_agents = [f"device_{i}" for i in range(self.n_agents)]
        self.agents: list[str] = []
        self._obs_space = spaces.Box(-CLIP, CLIP, (self.featurizer.agent_dim,), dtype=np.float32)
        self._act_space = spaces.Discrete(1 + self.n_servers)
        self._rng = random.Random(0)
        self.engine = probe
        self.meter = CostMeter(self.weights)
        self.task: Task | None = None
        self.active = -1

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_space

    # -- array interface (what the Com-DDPG trainer and the benchmark use) ---------------------------------

    def reset_arrays(self, seed: int | None = None) -> tuple[np.ndarray, int]:
        """Start an episode; returns (observations of shape (agents, dim), active agent index)."""
        if seed is not None:
            self._rng = random.Random(seed)
        self.engine, self.meter, self.task = start_episode(self.source, self._rng, self.featurizer, self.weights)
        obs, self.active = self.featurizer.agent_obs(self.engine, self.task)
        return obs, self.active

    def step_index(self, action: int) -> tuple[np.ndarray, int, float, bool, list[tuple[int, float]]]:
        """Apply the active agent's action; returns (observations, active index, reward, done, ended tasks)."""
        engine, meter = self.engine, self.meter
        if self.task is not None:
            engine.decide(int(action) - 1)
            self.task = engine.advance()
        done = self.task is None
        if done:
            engine.finish()
            total = sum(task_cost(engine, uid, self.weights) for uid in range(len(engine.tasks)))
            reward = -(total - meter.counted)
            meter.counted, meter.accrued = total, 0.0
        else:
            reward = -meter.take()
        ended, meter.ended = meter.ended, []
        obs, self.active = self.featurizer.agent_obs(engine, self.task)
        return obs, self.active, reward, done, ended

    # -- PettingZoo parallel API ---------------------------------------------------------------------------

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        obs, active = self.reset_arrays(seed)
        self.agents = list(self.possible_agents)
        return self._dicts(obs, active, [])[0], self._infos(active, [])

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise RuntimeError("step() after the episode ended; call reset()")
        name = self.possible_agents[self.active] if self.active >= 0 else None
        action = actions.get(name, 0) if name is not None else 0
        obs, active, reward, done, ended = self.step_index(action)
        observations, _ = self._dicts(obs, active, ended)
        rewards = {a: reward for a in self.agents}
        terminations = {a: done for a in self.agents}
        truncations = {a: False for a in self.agents}
        infos = self._infos(active, ended)
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def _dicts(self, obs: np.ndarray, active: int, ended: list) -> tuple[dict, None]:
        return {a: obs[i] for i, a in enumerate(self.possible_agents)}, None

    def _infos(self, active: int, ended: list) -> dict:
        infos: dict[str, dict] = {a: {"ended": ended} for a in self.possible_agents}
        if active >= 0 and self.task is not None:
            infos[self.possible_agents[active]]["task"] = self.task.uid
        return infos

    def render(self) -> None:
        return None

    def close(self) -> None:
        return None

    @staticmethod
    def single_agent_twin(**kwargs: Any) -> OffloadEnv:
        """The matching single-agent environment (same scenario arguments)."""
        return OffloadEnv(**kwargs)
