"""A torch module as a numpy classifier, chunked logits of a module, and top-1 accuracy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily so that importing this module stays cheap
    from torch import nn


class TorchClassifier:
    """A torch module as a numpy classifier: float32 (N, C, H, W) in, logits (N, K) out.

    Counts its calls and the rows it has seen, so that callers (and tests) can check what ran.
    """

    def __init__(self, module: nn.Module, name: str = "") -> None:
        self.module = module.eval()
        self.name = name
        self.calls = 0
        self.rows = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch

        self.calls += 1
        self.rows += len(x)
        with torch.inference_mode():
            return self.module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()

    def logits(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Logits of a large array, computed in chunks."""
        return np.concatenate([self(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def logits(module: nn.Module, x: np.ndarray) -> np.ndarray:
    """Logits (or any output) of `module` in eval mode, in chunks."""
    return TorchClassifier(module.eval()).logits(np.asarray(x, dtype=np.float32))


def accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of logits (or probabilities); NaN without samples."""
    return float((scores.argmax(1) == y).mean()) if len(y) else float("nan")
