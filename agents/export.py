"""Inference artefacts: a trained actor's weights as `policy.npz`, described for meta.json (see policies.inference).

`python -m agents.export DIR...` writes the artefact for training outputs that predate it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from agents.com_ddpg import ComDDPG
from agents.sb3 import load_model
from edgesplit.policies.inference import COMM_ACTOR, INFERENCE_FILE, MLP
from edgesplit.policies.learned import META, read_meta

_ACTIVATION_NAMES = {nn.Tanh: "tanh", nn.ReLU: "relu"}

Arrays = dict[str, np.ndarray]


def _numpy(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def mlp_layers(modules: list[nn.Module], prefix: str, arrays: Arrays) -> list[dict[str, Any]]:
    """Linear layers and their activations, in order, into `arrays` (`{prefix}{k}.weight/.bias`); their spec."""
    layers: list[dict[str, Any]] = []
    for m in modules:
        if isinstance(m, nn.Linear):
            k = len(layers)
            arrays[f"{prefix}{k}.weight"], arrays[f"{prefix}{k}.bias"] = _numpy(m.weight), _numpy(m.bias)
            layers.append({"in": m.in_features, "out": m.out_features, "activation": None})
        elif type(m) in _ACTIVATION_NAMES and layers and layers[-1]["activation"] is None:
            layers[-1]["activation"] = _ACTIVATION_NAMES[type(m)]
        else:
            raise ValueError(f"cannot export {m!r} (only Linear layers with tanh / relu activations)")
    return layers


def _recurrent(module: nn.LSTM | nn.GRU, name: str, suffix: str, arrays: Arrays) -> None:
    for part in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        arrays[f"{name}.{part}"] = _numpy(getattr(module, f"{part}_l0{suffix}"))


def com_ddpg_artefact(model: ComDDPG) -> tuple[Arrays, dict[str, Any]]:
    """Arrays and spec of Com-DDPG's actor (`CommActor`)."""
    actor, cfg = model.actor, model.cfg
    arrays: Arrays = {"index": actor.index.cpu().numpy().astype(np.int64)}
    _recurrent(actor.lstm, "lstm", "", arrays)
    _recurrent(actor.comm, "comm", "", arrays)
    _recurrent(actor.comm, "comm_reverse", "_reverse", arrays)
    message = mlp_layers([actor.message, nn.Tanh()], "message", arrays)[0]
    spec = {
        "net": COMM_ACTOR,
        "history": cfg.history,
        "local_dim": model.local_dim,
        "obs_dim": model.obs_dim,
        "n_actions": model.n_actions,
        "lstm": {"in": model.local_dim, "hidden": cfg.hidden},
        "message": message,
        "comm": {"kind": "bidirectional-gru", "in": cfg.message_dim, "hidden": cfg.comm_hidden},
        "head": mlp_layers(list(actor.head), "head", arrays),
    }
    return arrays, spec


def sb3_artefact(algo: str, model: Any) -> tuple[Arrays, dict[str, Any]]:
    """Arrays and spec of an SB3 model's deterministic actor: PPO's policy MLP and action head (logits), DQN's
    Q-network, SAC's actor MLP and mean head (squashed with tanh)."""
    from stable_baselines3.common.torch_layers import FlattenExtractor  # lazy: SB3 is heavy

    policy = model.policy
    arrays: Arrays = {}
    if algo == "ppo":
        extractor, modules, output = (
            policy.pi_features_extractor,
            [*policy.mlp_extractor.policy_net, policy.action_net],
            "argmax",
        )
    elif algo == "dqn":
        extractor, modules, output = policy.q_net.features_extractor, list(policy.q_net.q_net), "argmax"
    elif algo == "sac":
        if policy.actor.use_sde:
            raise ValueError("SAC with gSDE has no plain MLP actor to export")
        extractor, modules, output = policy.actor.features_extractor, [*policy.actor.latent_pi, policy.actor.mu], "tanh"
        arrays["action_low"] = model.action_space.low.astype(np.float32)
        arrays["action_high"] = model.action_space.high.astype(np.float32)
    else:
        raise ValueError(f"unknown SB3 algorithm {algo!r}")
    if not isinstance(extractor, FlattenExtractor):
        raise ValueError(f"cannot export {algo}: features extractor {type(extractor).__name__} is not a flatten")
    return arrays, {"net": MLP, "layers": mlp_layers(modules, "layer", arrays), "output": output}


def write_artefact(folder: str | Path, arrays: Arrays, spec: dict[str, Any]) -> dict[str, Any]:
    """Write `arrays` as folder/policy.npz (atomically); returns the spec to store as meta.json's "inference"."""
    path = Path(folder) / INFERENCE_FILE
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        np.savez(f, **arrays)
    tmp.replace(path)
    return {"file": INFERENCE_FILE, **spec}


def export_training_output(folder: str | Path) -> Path:
    """Write the inference artefact of an existing training output and record it in its meta.json."""
    meta, folder = read_meta(folder)
    model_path = folder / meta["model"]
    if meta["algo"] == "com-ddpg":
        arrays, spec = com_ddpg_artefact(ComDDPG.load(model_path))
    else:
        arrays, spec = sb3_artefact(meta["algo"], load_model(meta["algo"], model_path))
    meta["inference"] = write_artefact(folder, arrays, spec)
    (folder / META).write_text(json.dumps(meta, indent=2))
    return folder / INFERENCE_FILE


def main() -> None:
    parser = argparse.ArgumentParser(description="Write policy.npz for training outputs (edgesplit train --out).")
    parser.add_argument("folders", nargs="+", type=Path)
    for folder in parser.parse_args().folders:
        print(export_training_output(folder))


if __name__ == "__main__":
    main()
