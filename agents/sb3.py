"""Stable-Baselines3 baselines on `OffloadEnv`: PPO and DQN (discrete placement), SAC (placement scores)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgesplit.envs.offload import OffloadEnv

SB3_ALGOS = ("ppo", "dqn", "sac")

# Hyperparameters of the documented runs (small MLPs; one policy shared by every device).
HYPERPARAMS: dict[str, dict[str, Any]] = {
    "ppo": {
        "n_steps": 1024,
        "batch_size": 256,
        "n_epochs": 5,
        "learning_rate": 3e-4,
        "gamma": 0.99,
        "gae_lambda": 0.95,
        "ent_coef": 0.01,
        "policy_kwargs": {"net_arch": [64, 64]},
    },
    "dqn": {
        "buffer_size": 50_000,
        "learning_starts": 1_000,
        "train_freq": 4,
        "target_update_interval": 1_000,
        "exploration_fraction": 0.3,
        "exploration_final_eps": 0.05,
        "gamma": 0.9,
        "learning_rate": 5e-4,
        "policy_kwargs": {"net_arch": [64, 64]},
    },
    "sac": {
        "buffer_size": 50_000,
        "learning_starts": 1_000,
        "train_freq": 4,
        "gradient_steps": 1,
        "gamma": 0.9,
        "learning_rate": 3e-4,
        "policy_kwargs": {"net_arch": [64, 64]},
    },
}


def algo_class(algo: str) -> Any:
    """The SB3 class of `algo` (imported lazily)."""
    import stable_baselines3 as sb3

    return {"ppo": sb3.PPO, "dqn": sb3.DQN, "sac": sb3.SAC}[algo]


def make_model(algo: str, env: OffloadEnv, seed: int = 0, log_dir: str | Path | None = None, **overrides: Any) -> Any:
    """A fresh SB3 model of `algo` on `env` with the documented hyperparameters (`overrides` win)."""
    if algo not in SB3_ALGOS:
        raise ValueError(f"unknown SB3 algorithm {algo!r}; choose one of {', '.join(SB3_ALGOS)}")
    if (algo == "sac") != env.continuous:
        raise ValueError("SAC needs OffloadEnv(continuous=True); PPO and DQN need the discrete env")
    kwargs = {**HYPERPARAMS[algo], **overrides}
    return algo_class(algo)(
        "MlpPolicy",
        env,
        seed=seed,
        device="cpu",
        verbose=0,
        tensorboard_log=str(log_dir) if log_dir is not None else None,
        **kwargs,
    )


def progress_callback(fn: Callable[[int, dict[str, float]], None]) -> Any:
    """An SB3 callback that reports (timesteps, latest episode stats) to `fn` after every step."""
    from stable_baselines3.common.callbacks import BaseCallback

    class _Progress(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.stats: dict[str, float] = {}
            self.cost = 0.0
            self.length = 0

        def _on_step(self) -> bool:
            rewards = self.locals.get("rewards")
            dones = self.locals.get("dones")
            if rewards is not None:
                self.cost -= float(rewards[0])
                self.length += 1
            if dones is not None and bool(dones[0]):
                self.stats = {"episode_cost": self.cost, "cost_per_step": self.cost / max(self.length, 1)}
                self.logger.record("rollout/episode_cost", self.cost)
                self.cost, self.length = 0.0, 0
            fn(self.num_timesteps, self.stats)
            return True

    return _Progress()


def load_model(algo: str, path: str | Path) -> Any:
    """A saved SB3 model (for prediction)."""
    return algo_class(algo).load(str(path), device="cpu")
