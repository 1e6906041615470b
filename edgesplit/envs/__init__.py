"""Reinforcement-learning environments over the event engine; importing this registers `edgesplit/Offload-v0`."""

from __future__ import annotations

import gymnasium as gym

from edgesplit.envs.offload import OffloadEnv
from edgesplit.envs.parallel import OffloadParallelEnv
from edgesplit.policies.features import CostWeights, Featurizer

ENV_ID = "edgesplit/Offload-v0"

__all__ = ["ENV_ID", "CostWeights", "Featurizer", "OffloadEnv", "OffloadParallelEnv"]

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="edgesplit.envs.offload:OffloadEnv")
