"""Com-DDPG networks: LSTM actors with message heads, a bidirectional GRU over messages, a centralised critic."""

from __future__ import annotations

import torch
from torch import nn

from agents.com_ddpg.config import ComDDPGConfig
from edgesplit.policies.features import DEVICE_FEATURES, SERVER_FEATURES, TARGET_FEATURES, TASK_FEATURES

TARGET_DIM = TARGET_FEATURES + SERVER_FEATURES + 2
"""Per-target features: its 4 estimates, its server's load (zeros for local), the HEFT hint bit, is-local flag."""


def target_index(obs_dim: int, n_actions: int, hints: bool) -> torch.Tensor:
    """(actions, TARGET_DIM) indices into an agent observation padded with [0, 1] at positions obs_dim, obs_dim + 1,
    picking each target's features out of the task block (see `Featurizer`)."""
    n_servers = n_actions - 1
    zero, one = obs_dim, obs_dim + 1
    task = DEVICE_FEATURES + SERVER_FEATURES * n_servers
    rows = []
    for k in range(n_actions):
        est = [task + TASK_FEATURES + TARGET_FEATURES * k + i for i in range(TARGET_FEATURES)]
        base = task + TASK_FEATURES + TARGET_FEATURES * n_actions + SERVER_FEATURES * (k - 1)
        load = [base + i for i in range(SERVER_FEATURES)] if k > 0 else [zero] * SERVER_FEATURES
        hint = [obs_dim - n_actions + k] if hints else [zero]
        rows.append(est + load + hint + [one if k == 0 else zero])
    return torch.tensor(rows, dtype=torch.long)


def target_features(obs: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """obs (..., obs_dim) -> (..., actions, TARGET_DIM)."""
    pad = torch.zeros(*obs.shape[:-1], 2, dtype=obs.dtype)
    pad[..., 1] = 1.0
    full = torch.cat([obs, pad], dim=-1)
    return full[..., index]


class CommActor(nn.Module):
    """Per-agent actor (weights shared by the agents).

    Each agent's LSTM reads the device part (first `local_dim` entries: its device, cell and the servers' load) of its
    own last `history` observations; a message head turns the LSTM state into a message; a bidirectional GRU runs
    over the agents' messages (in device order), so each agent receives a summary of every other agent's message;
    the policy head scores every target from [own LSTM state, combined messages, own current observation, that
    target's features] (one scorer shared by the targets, so it generalises across servers); the scores are the
    placement logits. The current observation carries the task when the agent is the one deciding.
    """

    def __init__(self, obs_dim: int, local_dim: int, n_actions: int, cfg: ComDDPGConfig, hints: bool = False) -> None:
        super().__init__()
        self.local_dim = local_dim
        self.register_buffer("index", target_index(obs_dim, n_actions, hints), persistent=False)
        self.lstm = nn.LSTM(local_dim, cfg.hidden, batch_first=True)
        self.message = nn.Linear(cfg.hidden, cfg.message_dim)
        self.comm = nn.GRU(cfg.message_dim, cfg.comm_hidden, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(
            nn.Linear(cfg.hidden + 2 * cfg.comm_hidden + obs_dim + TARGET_DIM, cfg.hidden),
            nn.ReLU(),
            nn.Linear(cfg.hidden, 1),
        )

    def forward(self, history: torch.Tensor, active: torch.Tensor | None = None) -> torch.Tensor:
        """history (batch, agents, steps, obs) -> logits (batch, agents, actions), or (batch, actions) of the agent
        `active` (batch,) when given."""
        b, n, h, d = history.shape
        _, (state, _) = self.lstm(history[..., : self.local_dim].reshape(b * n, h, self.local_dim))
        state = state[-1].reshape(b, n, -1)
        messages = torch.tanh(self.message(state))
        combined, _ = self.comm(messages)
        current = history[:, :, -1]
        x = torch.cat([state, combined, current], dim=-1)
        if active is not None:
            rows = torch.arange(b)
            x, current = x[rows, active], current[rows, active]
        targets = target_features(current, self.index)  # (..., actions, TARGET_DIM)
        x = x.unsqueeze(-2).expand(*targets.shape[:-1], x.shape[-1])
        return self.head(torch.cat([x, targets], dim=-1)).squeeze(-1)


class CentralCritic(nn.Module):
    """Q(all agents' observations, active agent's action): sees the active agent's observation, the mean and max
    over every agent's observation, the action (one-hot or relaxed) and the chosen target's features (the
    action-weighted sum of the per-target features, differentiable in a relaxed action)."""

    def __init__(self, obs_dim: int, n_actions: int, cfg: ComDDPGConfig, hints: bool = False) -> None:
        super().__init__()
        self.register_buffer("index", target_index(obs_dim, n_actions, hints), persistent=False)
        self.net = nn.Sequential(
            nn.Linear(3 * obs_dim + n_actions + TARGET_DIM, cfg.hidden),
            nn.ReLU(),
            nn.Linear(cfg.hidden, cfg.hidden),
            nn.ReLU(),
            nn.Linear(cfg.hidden, 1),
        )

    def forward(self, obs: torch.Tensor, active: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """obs (batch, agents, obs), active (batch,) long, action (batch, actions) -> Q (batch,)."""
        own = obs[torch.arange(obs.shape[0]), active]
        chosen = (action.unsqueeze(-1) * target_features(own, self.index)).sum(dim=-2)
        x = torch.cat([own, obs.mean(dim=1), obs.amax(dim=1), action, chosen], dim=-1)
        return self.net(x).squeeze(-1)
