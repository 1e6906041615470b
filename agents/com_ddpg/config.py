"""Every Com-DDPG hyperparameter in one dataclass."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class ComDDPGConfig:
    """Com-DDPG hyperparameters (defaults: the documented training run)."""

    # networks
    history: int = 4  # observations each actor's LSTM reads (its own history, zero-padded at episode start)
    hidden: int = 32  # LSTM and MLP width
    message_dim: int = 8  # size of each agent's message
    comm_hidden: int = 16  # per-direction width of the bidirectional GRU that combines the messages
    # DDPG
    gamma: float = 0.9
    tau: float = 0.01  # Polyak factor of the target networks
    actor_lr: float = 3e-4
    critic_lr: float = 1e-3
    batch_size: int = 64
    buffer_size: int = 20_000
    learning_starts: int = 1_000
    train_freq: int = 8  # env steps between gradient steps
    grad_clip: float = 1.0
    # exploration: Gumbel-softmax over the placement logits, plus epsilon-uniform decaying over the run
    gumbel_temperature: float = 1.0
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_fraction: float = 0.2
    entropy_coef: float = 0.01
    # credit: each transition's reward is minus the cost of the task it placed (filled in when the task ends)
    per_task_credit: bool = True
    seed: int = 0
    torch_threads: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ComDDPGConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
