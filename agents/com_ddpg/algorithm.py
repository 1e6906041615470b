"""Com-DDPG: DDPG with communicating LSTM actors and a centralised critic, trained on `OffloadParallelEnv`."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from agents.com_ddpg.buffer import ReplayBuffer
from agents.com_ddpg.config import ComDDPGConfig
from agents.com_ddpg.networks import CentralCritic, CommActor
from edgesplit.envs.parallel import OffloadParallelEnv


def _soft_update(target: torch.nn.Module, source: torch.nn.Module, tau: float) -> None:
    with torch.no_grad():
        for t, s in zip(target.parameters(), source.parameters(), strict=True):
            t.mul_(1.0 - tau).add_(s, alpha=tau)


class ComDDPG:
    """Com-DDPG with a Stable-Baselines3-like face: `learn`, `predict`, `save`, `load`.

    Acting: at each step the active agent (the device whose task awaits a placement) samples its placement from its
    actor's logits with the Gumbel-max trick at `gumbel_temperature` (epsilon-uniform early on); `predict` with
    `deterministic=True` takes the arg-max. Learning (DDPG): the critic regresses on r + gamma Q'(s', argmax
    actor'(s')); the actor ascends Q(s, gumbel_softmax(logits, hard=True)) (straight-through gradient) plus a small
    entropy bonus; target networks follow by Polyak averaging.
    """

    algo = "com-ddpg"

    def __init__(self, env: OffloadParallelEnv | None, config: ComDDPGConfig | None = None, **dims: int) -> None:
        self.cfg = cfg = config or ComDDPGConfig()
        torch.set_num_threads(cfg.torch_threads)
        torch.manual_seed(cfg.seed)
        self.env = env
        if env is not None:
            dims = {
                "obs_dim": env.featurizer.agent_dim,
                "n_actions": 1 + env.n_servers,
                "n_agents": env.n_agents,
                "local_dim": env.featurizer.agent_dim - env.featurizer.task_dim,
                "hints": int(env.featurizer.hints),
            }
        self.obs_dim, self.n_actions, self.n_agents = dims["obs_dim"], dims["n_actions"], dims["n_agents"]
        self.local_dim = dims["local_dim"]
        self.hints = bool(dims.get("hints", 0))
        args = (self.obs_dim, self.n_actions, cfg, self.hints)
        self.actor = CommActor(self.obs_dim, self.local_dim, self.n_actions, cfg, self.hints)
        self.critic = CentralCritic(*args)
        self.actor_target = CommActor(self.obs_dim, self.local_dim, self.n_actions, cfg, self.hints)
        self.critic_target = CentralCritic(*args)
        self.actor_target.load_state_dict(self.actor.state_dict())
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr)
        self.steps = 0
        self.updates = 0
        self.episodes = 0
        self.losses: list[tuple[float, float]] = []  # (critic, actor) per update
        self.rng = random.Random(cfg.seed)
        self.buffer: ReplayBuffer | None = None

    # -- acting --------------------------------------------------------------------------------------------

    def logits(self, history: np.ndarray, active: int) -> np.ndarray:
        """history (agents, steps, obs) -> the active agent's logits (actions,)."""
        with torch.no_grad():
            h = torch.as_tensor(history, dtype=torch.float32)[None]
            return self.actor(h, torch.tensor([active]))[0].numpy()

    def predict(self, history: np.ndarray, active: int, deterministic: bool = True) -> int:
        """The active agent's action (0 local, k server k - 1) given every agent's observation history."""
        logits = self.logits(history, active)
        if deterministic:
            return int(np.argmax(logits))
        u = np.random.default_rng(self.rng.randrange(2**31)).uniform(1e-9, 1.0, size=logits.shape)
        return int(np.argmax(logits / self.cfg.gumbel_temperature - np.log(-np.log(u))))

    def epsilon(self, total_steps: int) -> float:
        cfg = self.cfg
        frac = min(self.steps / max(cfg.eps_fraction * total_steps, 1.0), 1.0)
        return cfg.eps_start + frac * (cfg.eps_end - cfg.eps_start)

    # -- learning ------------------------------------------------------------------------------------------

    def learn(
        self,
        total_steps: int,
        log_dir: str | Path | None = None,
        progress: Callable[[int, dict[str, float]], None] | None = None,
        checkpoint: str | Path | None = None,
        checkpoint_every: int = 0,
    ) -> ComDDPG:
        """Run `total_steps` env steps (decisions) more, updating every `train_freq` steps after `learning_starts`."""
        if self.env is None:
            raise RuntimeError("this model was loaded without an environment; pass env to load()")
        cfg, env = self.cfg, self.env
        writer = None
        if log_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(log_dir))
        if self.buffer is None:
            self.buffer = ReplayBuffer(cfg.buffer_size, self.n_agents, self.obs_dim, cfg.history, cfg.seed)
        buf = self.buffer
        target_steps = self.steps + total_steps
        obs, active = env.reset_arrays(seed=cfg.seed * 100_003 + self.episodes)
        ep_start, ep_cost, ep_len = buf.t, 0.0, 0
        row_of: dict[int, int] = {}
        stats: dict[str, float] = {}
        wall0 = time.perf_counter()
        while self.steps < target_steps:
            t = buf.add_obs(obs, active, ep_start)
            uid = env.task.uid if env.task is not None else -1
            if active < 0:
                action = 0
            elif self.steps < cfg.learning_starts or self.rng.random() < self.epsilon(target_steps):
                action = self.rng.randrange(self.n_actions)
            else:
                action = self.predict(buf.window(np.array([t]))[0], active, deterministic=False)
            obs, active, reward, done, ended = env.step_index(action)
            buf.set_action(t, action, done)
            if cfg.per_task_credit:
                if uid >= 0:
                    row_of[uid] = t
                for task_uid, cost in ended:
                    row = row_of.pop(task_uid, None)
                    if row is not None:
                        buf.set_reward(row, -cost)
                if uid < 0:
                    buf.set_reward(t, 0.0)
            else:
                buf.set_reward(t, reward)
            ep_cost -= reward
            ep_len += 1
            self.steps += 1
            if done:
                for row in row_of.values():  # tasks that ended without the observer (none expected)
                    buf.set_reward(row, 0.0)
                row_of.clear()
                self.episodes += 1
                stats = {"episode_cost": ep_cost, "episode_len": ep_len, "cost_per_step": ep_cost / max(ep_len, 1)}
                if writer is not None:
                    for k, v in stats.items():
                        writer.add_scalar(f"rollout/{k}", v, self.steps)
                obs, active = env.reset_arrays(seed=cfg.seed * 100_003 + self.episodes)
                ep_start, ep_cost, ep_len = buf.t, 0.0, 0
            if self.steps >= cfg.learning_starts and self.steps % cfg.train_freq == 0:
                losses = self.update()
                if losses is not None and writer is not None and self.updates % 50 == 0:
                    writer.add_scalar("train/critic_loss", losses[0], self.steps)
                    writer.add_scalar("train/actor_loss", losses[1], self.steps)
                    writer.add_scalar("train/epsilon", self.epsilon(target_steps), self.steps)
                    writer.add_scalar("time/steps_per_s", self.steps / (time.perf_counter() - wall0), self.steps)
            if progress is not None:
                progress(self.steps, stats)
            if checkpoint is not None and checkpoint_every and self.steps % checkpoint_every == 0:
                self.save(checkpoint)
        if writer is not None:
            writer.close()
        return self

    def update(self) -> tuple[float, float] | None:
        """One gradient step of critic and actor, then the target networks; returns (critic, actor) loss."""
        cfg = self.cfg
        assert self.buffer is not None
        batch = self.buffer.sample(cfg.batch_size)
        if batch is None:
            return None
        b = {k: torch.as_tensor(v) for k, v in batch.items()}
        with torch.no_grad():
            next_logits = self.actor_target(b["next_hist"], b["next_active"])
            next_action = F.one_hot(next_logits.argmax(-1), self.n_actions).float()
            q_next = self.critic_target(b["next_obs"], b["next_active"], next_action)
            y = b["reward"] + cfg.gamma * (1.0 - b["done"]) * q_next
        q = self.critic(b["obs"], b["active"], F.one_hot(b["action"], self.n_actions).float())
        critic_loss = F.mse_loss(q, y)
        self.critic_opt.zero_grad()
        critic_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.critic.parameters(), cfg.grad_clip)
        self.critic_opt.step()

        logits = self.actor(b["hist"], b["active"])
        relaxed = F.gumbel_softmax(logits, tau=cfg.gumbel_temperature, hard=True)
        probs = logits.softmax(-1)
        entropy = -(probs * probs.clamp_min(1e-8).log()).sum(-1).mean()
        actor_loss = -self.critic(b["obs"], b["active"], relaxed).mean() - cfg.entropy_coef * entropy
        self.actor_opt.zero_grad()
        actor_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.actor.parameters(), cfg.grad_clip)
        self.actor_opt.step()

        _soft_update(self.actor_target, self.actor, cfg.tau)
        _soft_update(self.critic_target, self.critic, cfg.tau)
        self.updates += 1
        out = (critic_loss.item(), actor_loss.item())
        self.losses.append(out)
        return out

    # -- checkpoints ---------------------------------------------------------------------------------------

    def save(self, path: str | Path, env_meta: dict[str, Any] | None = None) -> Path:
        """Write networks, optimisers, counters and config to `path` (a .pt file). The replay buffer is not saved:
        a resumed run refills it (it keeps learning from the first new batch)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "algo": self.algo,
            "config": self.cfg.to_dict(),
            "dims": {
                "obs_dim": self.obs_dim,
                "n_actions": self.n_actions,
                "n_agents": self.n_agents,
                "local_dim": self.local_dim,
                "hints": int(self.hints),
            },
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "actor_target": self.actor_target.state_dict(),
            "critic_target": self.critic_target.state_dict(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "counters": {"steps": self.steps, "updates": self.updates, "episodes": self.episodes},
            "env": env_meta or {},
        }
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path, env: OffloadParallelEnv | None = None) -> ComDDPG:
        """A model from `save`; pass `env` to continue training (resume)."""
        state = torch.load(Path(path), map_location="cpu", weights_only=False)
        if state.get("algo") != cls.algo:
            raise ValueError(f"{path} is not a Com-DDPG checkpoint")
        model = cls(env, ComDDPGConfig.from_dict(state["config"]), **state["dims"])
        if env is not None and (model.obs_dim, model.n_agents) != (state["dims"]["obs_dim"], state["dims"]["n_agents"]):
            raise ValueError("the environment's agents or observation size differ from the checkpoint's")
        for name in ("actor", "critic", "actor_target", "critic_target", "actor_opt", "critic_opt"):
            getattr(model, name).load_state_dict(state[name])
        c = state["counters"]
        model.steps, model.updates, model.episodes = c["steps"], c["updates"], c["episodes"]
        model.env_meta = state.get("env", {})
        return model

    env_meta: dict[str, Any] = {}


def describe(path: str | Path) -> str:
    """One line about a checkpoint (for logs)."""
    state = torch.load(Path(path), map_location="cpu", weights_only=False)
    return json.dumps({"algo": state["algo"], **state["counters"], "dims": state["dims"]}) if state else ""


__all__ = ["ComDDPG", "ComDDPGConfig", "describe"]
