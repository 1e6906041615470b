"""Replay buffer of Com-DDPG: one row per env step, history windows rebuilt at sampling time."""

from __future__ import annotations

import numpy as np


class ReplayBuffer:
    """Stores every step's all-agent observation once (a ring of `capacity` steps) and rebuilds each sample's
    observation history (zero-padded before its episode's start) when sampled, so histories cost no extra memory.

    A transition at step t is (obs window ending at t, active agent, action, reward, done, obs window ending at
    t + 1, next active agent). Rewards may be filled in later (`set_reward`): a transition is sampled only once
    its reward is known.
    """

    def __init__(self, capacity: int, n_agents: int, obs_dim: int, history: int, seed: int = 0) -> None:
        self.capacity = capacity
        self.history = history
        self.obs = np.zeros((capacity, n_agents, obs_dim), dtype=np.float32)
        self.active = np.zeros(capacity, dtype=np.int64)
        self.action = np.zeros(capacity, dtype=np.int64)
        self.reward = np.zeros(capacity, dtype=np.float32)
        self.done = np.zeros(capacity, dtype=bool)
        self.ready = np.zeros(capacity, dtype=bool)
        self.episode_start = np.zeros(capacity, dtype=np.int64)  # absolute step of the episode's first step
        self.has_action = np.zeros(capacity, dtype=bool)
        self.t = 0  # absolute steps stored
        self.rng = np.random.default_rng(seed)

    def add_obs(self, obs: np.ndarray, active: int, episode_start: int) -> int:
        """Store the observation of the step about to be taken; returns its absolute index."""
        i = self.t % self.capacity
        self.obs[i] = obs
        self.active[i] = max(active, 0)
        self.episode_start[i] = episode_start
        self.has_action[i] = False
        self.ready[i] = False
        self.done[i] = False
        self.reward[i] = 0.0
        self.t += 1
        return self.t - 1

    def set_action(self, t: int, action: int, done: bool) -> None:
        i = t % self.capacity
        self.action[i] = action
        self.done[i] = done
        self.has_action[i] = True

    def set_reward(self, t: int, reward: float, add: bool = False) -> None:
        if t < self.t - self.capacity:
            return  # overwritten already
        i = t % self.capacity
        self.reward[i] = self.reward[i] + reward if add else reward
        self.ready[i] = True

    def window(self, ts: np.ndarray) -> np.ndarray:
        """Histories (batch, agents, history, obs) ending at absolute steps `ts`."""
        h = self.history
        steps = ts[:, None] - np.arange(h - 1, -1, -1)[None, :]  # (batch, h), oldest first
        valid = steps >= self.episode_start[ts % self.capacity][:, None]
        out = self.obs[steps % self.capacity]  # (batch, h, agents, obs)
        out[~valid] = 0.0
        return out.transpose(0, 2, 1, 3)

    def sample(self, batch: int) -> dict[str, np.ndarray] | None:
        lo = max(self.t - self.capacity + self.history, 0)
        hi = self.t - 1  # the newest row has no next row yet
        if hi - lo < batch:
            return None
        for _ in range(4):
            ts = self.rng.integers(lo, hi, size=batch * 2)
            idx = ts % self.capacity
            ts = ts[self.ready[idx] & self.has_action[idx]][:batch]
            if len(ts) == batch:
                break
        else:
            return None
        idx = ts % self.capacity
        nxt = (ts + 1) % self.capacity
        return {
            "hist": self.window(ts),
            "obs": self.obs[idx],
            "active": self.active[idx],
            "action": self.action[idx],
            "reward": self.reward[idx],
            "done": self.done[idx].astype(np.float32),
            "next_hist": self.window(ts + 1),
            "next_obs": self.obs[nxt],
            "next_active": self.active[nxt],
        }
