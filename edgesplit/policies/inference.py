"""Inference artefacts of trained agents: actor weights in `policy.npz`, evaluated with numpy (no torch, no SB3).

A training output's meta.json describes the network under "inference" (layer sizes and activations); the arrays
are read with `numpy.load(allow_pickle=False)`, so loading one runs no code. `agents/export.py` writes them. The
forward passes follow PyTorch's definitions of `Linear`, `LSTM` and `GRU` (gate order i, f, g, o and r, z, n) in
float32, so they give the trained model's own actions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.errors import UserError

INFERENCE_FILE = "policy.npz"
MLP = "mlp"
COMM_ACTOR = "com-ddpg-actor"

ACTIVATIONS: dict[str | None, Callable[[np.ndarray], np.ndarray]] = {
    None: lambda x: x,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, np.float32(0.0)),
}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # PyTorch's formula; exp overflowing to inf for very negative x gives the right limit, 0.
    with np.errstate(over="ignore"):
        return np.float32(1.0) / (np.float32(1.0) + np.exp(-x))


class Mlp:
    """Linear layers, each followed by its activation (spec: [{"in", "out", "activation"}, ...])."""

    def __init__(self, arrays: dict[str, np.ndarray], prefix: str, layers: list[dict[str, Any]]) -> None:
        self.layers = []
        for k, layer in enumerate(layers):
            w, b = arrays[f"{prefix}{k}.weight"], arrays[f"{prefix}{k}.bias"]
            if w.shape != (layer["out"], layer["in"]) or b.shape != (layer["out"],):
                raise ValueError(f"layer {prefix}{k}: weights {w.shape} do not match {layer}")
            if layer["activation"] not in ACTIVATIONS:
                raise ValueError(f"layer {prefix}{k}: unknown activation {layer['activation']!r}")
            self.layers.append((w.T, b, ACTIVATIONS[layer["activation"]]))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for wt, b, act in self.layers:
            x = act(x @ wt + b)
        return x


class MlpActor:
    """An SB3 actor: the MLP's outputs are logits or Q-values (`output: argmax`, the action is their arg-max) or
    a Gaussian mean (`output: tanh`, SAC's deterministic action: tanh, rescaled to the action bounds)."""

    def __init__(self, arrays: dict[str, np.ndarray], spec: dict[str, Any]) -> None:
        self.net = Mlp(arrays, "layer", spec["layers"])
        self.output = spec["output"]
        if self.output == "tanh":
            self.low, self.high = arrays["action_low"], arrays["action_high"]
        elif self.output != "argmax":
            raise ValueError(f"unknown output {self.output!r}")

    def act(self, obs: np.ndarray) -> Any:
        """The deterministic action for one observation (an index, or a score vector for `tanh`)."""
        out = self.net(np.asarray(obs, dtype=np.float32)[None])[0]
        if self.output == "argmax":
            return int(np.argmax(out))
        squashed = np.tanh(out)
        return self.low + (0.5 * (squashed + 1.0) * (self.high - self.low))  # SB3's unscale_action


def lstm_last_state(x: np.ndarray, arrays: dict[str, np.ndarray], prefix: str) -> np.ndarray:
    """The last hidden state of a one-layer LSTM over x (batch, steps, in), from zero state -> (batch, hidden)."""
    w_ih, w_hh = arrays[f"{prefix}.weight_ih"].T, arrays[f"{prefix}.weight_hh"].T
    bias = arrays[f"{prefix}.bias_ih"] + arrays[f"{prefix}.bias_hh"]
    hidden = w_hh.shape[0]
    h = np.zeros((x.shape[0], hidden), dtype=np.float32)
    c = np.zeros_like(h)
    for t in range(x.shape[1]):
        gates = x[:, t] @ w_ih + h @ w_hh + bias
        i, f, g, o = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
    return h


def gru_outputs(x: np.ndarray, arrays: dict[str, np.ndarray], prefix: str, reverse: bool) -> np.ndarray:
    """Every step's hidden state of a one-layer GRU over x (batch, steps, in), from zero state, run backwards
    when `reverse` (outputs stay in step order) -> (batch, steps, hidden)."""
    w_ih, w_hh = arrays[f"{prefix}.weight_ih"].T, arrays[f"{prefix}.weight_hh"].T
    b_ih, b_hh = arrays[f"{prefix}.bias_ih"], arrays[f"{prefix}.bias_hh"]
    hidden = w_hh.shape[0]
    h = np.zeros((x.shape[0], hidden), dtype=np.float32)
    out = np.zeros((x.shape[0], x.shape[1], hidden), dtype=np.float32)
    steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    for t in steps:
        gi = x[:, t] @ w_ih + b_ih
        gh = h @ w_hh + b_hh
        r = _sigmoid(gi[:, :hidden] + gh[:, :hidden])
        z = _sigmoid(gi[:, hidden : 2 * hidden] + gh[:, hidden : 2 * hidden])
        n = np.tanh(gi[:, 2 * hidden :] + r * gh[:, 2 * hidden :])
        h = (np.float32(1.0) - z) * n + z * h
        out[:, t] = h
    return out


class CommActorNet:
    """Com-DDPG's communicating actor (`agents.com_ddpg.networks.CommActor`): per agent an LSTM over the device
    part of its observation history and a tanh message head; a bidirectional GRU over the agents' messages; a
    scorer MLP per target from [own state, combined messages, own observation, the target's features]."""

    def __init__(self, arrays: dict[str, np.ndarray], spec: dict[str, Any]) -> None:
        self.arrays = arrays
        self.history = int(spec["history"])
        self.local_dim = int(spec["local_dim"])
        self.message = Mlp(arrays, "message", [spec["message"]])
        self.head = Mlp(arrays, "head", spec["head"])
        self.index = arrays["index"]

    def logits(self, history: np.ndarray, active: int) -> np.ndarray:
        """history (agents, steps, obs) -> the active agent's placement logits (actions,)."""
        history = np.asarray(history, dtype=np.float32)
        state = lstm_last_state(history[:, :, : self.local_dim], self.arrays, "lstm")  # the agents are the batch
        messages = self.message(state)[None]  # (1, agents, message): the agents are the GRU's sequence
        combined = np.concatenate(
            [
                gru_outputs(messages, self.arrays, "comm", False),
                gru_outputs(messages, self.arrays, "comm_reverse", True),
            ],
            axis=-1,
        )[0]
        current = history[active, -1]
        x = np.concatenate([state[active], combined[active], current])
        padded = np.concatenate([current, np.array([0.0, 1.0], dtype=np.float32)])
        targets = padded[self.index]  # (actions, target features)
        rows = np.concatenate([np.broadcast_to(x, (targets.shape[0], x.shape[0])), targets], axis=-1)
        return self.head(rows)[:, 0]

    def act(self, history: np.ndarray, active: int) -> int:
        """The arg-max action of the active agent."""
        return int(np.argmax(self.logits(history, active)))


def load_actor(folder: str | Path, spec: dict[str, Any] | None) -> MlpActor | CommActorNet:
    """The actor described by meta.json's "inference" entry `spec`, with its weights from `folder`."""
    if spec is None:
        raise UserError(
            f"{folder}: no inference artefact in meta.json (trained before artefacts existed); write one with "
            f"`python -m agents.export {folder}`"
        )
    path = Path(folder) / spec.get("file", INFERENCE_FILE)
    if not path.is_file():
        raise UserError(f"{folder}: inference file {path.name} is missing")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    try:
        if spec["net"] == MLP:
            return MlpActor(arrays, spec)
        if spec["net"] == COMM_ACTOR:
            return CommActorNet(arrays, spec)
    except (KeyError, ValueError) as exc:
        raise UserError(f"{path}: does not match its description in meta.json ({exc})") from exc
    raise UserError(f"{folder}: unknown inference network {spec['net']!r}")
