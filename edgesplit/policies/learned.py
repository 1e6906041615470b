"""`LearnedPolicy`: places tasks with a trained agent (Com-DDPG, PPO, DQN or SAC) from its checkpoint directory."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.errors import UserError
from edgesplit.policies.base import LOCAL, Policy, SystemView
from edgesplit.workload.dag import Task

META = "meta.json"


def read_meta(checkpoint: str | Path) -> tuple[dict[str, Any], Path]:
    """(meta.json of a training output, the model file). `checkpoint` is the directory or the model file in it."""
    path = Path(checkpoint)
    folder = path if path.is_dir() else path.parent
    meta_path = folder / META
    if not meta_path.is_file():
        raise UserError(f"{checkpoint}: not a training output (no {META}); train one with `edgesplit train`")
    meta = json.loads(meta_path.read_text())
    model = path if path.is_file() else folder / meta["model"]
    if not model.is_file():
        raise UserError(f"{checkpoint}: model file {model} is missing")
    return meta, model


class LearnedPolicy(Policy):
    """Runs a trained agent inside a scenario. It builds observations with the environments' `Featurizer`, so it
    sees what the agent saw in training, and answers the arg-max (deterministic) action. Com-DDPG keeps every
    device's observation history, as `OffloadParallelEnv` produced it. Needs the sim engine as its view."""

    name = "learned"

    def __init__(self, checkpoint: str | Path) -> None:
        from edgesplit.envs.observation import CostWeights

        self.meta, self.model_path = read_meta(checkpoint)
        self.algo: str = self.meta["algo"]
        self.weights = CostWeights(**self.meta.get("weights", {}))
        self.continuous = bool(self.meta.get("continuous", False))
        if self.algo == "com-ddpg":
            from agents.com_ddpg import ComDDPG

            self.model: Any = ComDDPG.load(self.model_path)
            self.history: deque[np.ndarray] = deque(maxlen=self.model.cfg.history)
        else:
            from agents.sb3 import load_model

            self.model = load_model(self.algo, self.model_path)
        self.featurizer: Any = None

    def _featurizer(self, view: Any) -> Any:
        if self.featurizer is None:
            from edgesplit.envs.observation import Featurizer

            self.featurizer = Featurizer(view.n_servers, self.weights, bool(self.meta.get("hints", False)))
            expected = self.meta.get("obs_dim")
            got = self.featurizer.agent_dim if self.algo == "com-ddpg" else self.featurizer.task_dim
            if expected is not None and expected != got:
                raise UserError(
                    f"{self.model_path}: trained for observations of size {expected}, this scenario gives {got} "
                    "(different number of servers?)"
                )
        return self.featurizer

    def action(self, task: Task, engine: Any) -> int:
        """The agent's action index for `task` (0 local, k server k - 1)."""
        from edgesplit.envs.offload import action_to_target

        feat = self._featurizer(engine)
        if self.algo == "com-ddpg":
            obs, active = feat.agent_obs(engine, task)
            self.history.append(obs)
            h = self.model.cfg.history
            window = np.zeros((h, *obs.shape), dtype=np.float32)
            window[h - len(self.history) :] = np.stack(self.history)
            return self.model.predict(window.transpose(1, 0, 2), active, deterministic=True)
        obs = feat.task_obs(engine, task)
        act, _ = self.model.predict(obs, deterministic=True)
        return action_to_target(act, self.continuous) + 1

    def place(self, task: Task, view: SystemView) -> int:
        if not hasattr(view, "device_of_task"):
            raise UserError("policy kind 'learned' runs on the sim engine (engine.kind: sim)")
        target = self.action(task, view) - 1
        return target if LOCAL <= target < view.n_servers else LOCAL
