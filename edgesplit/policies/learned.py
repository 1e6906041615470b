"""`LearnedPolicy`: places tasks with a trained agent (Com-DDPG, PPO, DQN or SAC) from its training output."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.errors import UserError
from edgesplit.policies.base import LOCAL, Policy, SystemView
from edgesplit.policies.features import CostWeights, EngineView, Featurizer, action_to_target
from edgesplit.policies.inference import CommActorNet, load_actor
from edgesplit.workload.dag import Task

META = "meta.json"


def read_meta(checkpoint: str | Path) -> tuple[dict[str, Any], Path]:
    """(meta.json of a training output, its directory). `checkpoint` is the directory or a file in it."""
    path = Path(checkpoint)
    folder = path if path.is_dir() else path.parent
    meta_path = folder / META
    if not meta_path.is_file():
        raise UserError(f"{checkpoint}: not a training output (no {META}); train one with `edgesplit train`")
    return json.loads(meta_path.read_text()), folder


class LearnedPolicy(Policy):
    """Runs a trained agent inside a scenario from its inference artefact (`policy.npz`, see `inference`). It
    builds observations with the environments' `Featurizer`, so it sees what the agent saw in training, and answers
    the deterministic action. Com-DDPG keeps every device's observation history, as `OffloadParallelEnv` produced
    it. Needs the sim engine as its view."""

    name = "learned"

    def __init__(self, checkpoint: str | Path) -> None:
        self.meta, self.folder = read_meta(checkpoint)
        self.algo: str = self.meta["algo"]
        self.weights = CostWeights(**self.meta.get("weights", {}))
        self.continuous = bool(self.meta.get("continuous", False))
        self.actor = load_actor(self.folder, self.meta.get("inference"))
        # Com-DDPG's actor reads each device's last `history` observations; the SB3 actors only the current one.
        self.history: deque[np.ndarray] = deque(maxlen=getattr(self.actor, "history", 1))
        self.featurizer: Featurizer | None = None

    def _featurizer(self, view: EngineView) -> Featurizer:
        if self.featurizer is None:
            self.featurizer = Featurizer(view.n_servers, self.weights, bool(self.meta.get("hints", False)))
            expected = self.meta.get("obs_dim")
            got = self.featurizer.agent_dim if isinstance(self.actor, CommActorNet) else self.featurizer.task_dim
            if expected is not None and expected != got:
                raise UserError(
                    f"{self.folder}: trained for observations of size {expected}, this scenario gives {got} "
                    "(different number of servers?)"
                )
        return self.featurizer

    def action(self, task: Task, engine: EngineView) -> int:
        """The agent's action index for `task` (0 local, k server k - 1)."""
        feat = self._featurizer(engine)
        if isinstance(self.actor, CommActorNet):
            obs, active = feat.agent_obs(engine, task)
            self.history.append(obs)
            h = self.actor.history
            window = np.zeros((h, *obs.shape), dtype=np.float32)
            window[h - len(self.history) :] = np.stack(self.history)
            return self.actor.act(window.transpose(1, 0, 2), active)
        return action_to_target(self.actor.act(feat.task_obs(engine, task)), self.continuous) + 1

    def place(self, task: Task, view: SystemView) -> int:
        if not hasattr(view, "device_of_task"):
            raise UserError("policy kind 'learned' runs on the sim engine (engine.kind: sim)")
        target = self.action(task, view) - 1  # type: ignore[arg-type]  # checked above: the sim engine
        return target if LOCAL <= target < view.n_servers else LOCAL
