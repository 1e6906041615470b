"""Evaluation of a split CNN: split logits with an 8-bit round trip, feature MSE at the split, test accuracies."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from edgesplit.nn.classifier import accuracy, logits
from edgesplit.split.models import student_head, student_tail
from edgesplit.split.wire import quantize_roundtrip

if TYPE_CHECKING:  # torch is imported lazily so that importing this module stays cheap
    from torch import nn


def split_logits(head: nn.Module, tail: nn.Module, x: np.ndarray, quantize: bool = False) -> np.ndarray:
    """tail(head(x)), with the head's output quantized to 8 bits per sample in between when `quantize`."""
    z = logits(head, x)
    return logits(tail, quantize_roundtrip(z) if quantize else z)


def feature_mse(student: nn.Sequential, teacher: nn.Sequential, split_after: int, x: np.ndarray) -> float:
    """Mean squared error between the decoder's output and the teacher's features at the split."""
    from torch import nn

    front = nn.Sequential(student.head, student.encoder, student.decoder)
    return float(np.mean((logits(front, x) - logits(teacher[:split_after], x)) ** 2)) if len(x) else float("nan")


def evaluate(
    teacher: nn.Sequential, student: nn.Sequential, split_after: int, x: np.ndarray, y: np.ndarray
) -> dict[str, Any]:
    """Accuracies on (x, y): teacher; teacher split after each stage with 8-bit features; student float and
    8-bit bottleneck."""
    out: dict[str, Any] = {"samples": int(len(y)), "teacher": accuracy(logits(teacher, x), y)}
    out["teacher_split_u8"] = {
        str(k): accuracy(split_logits(teacher[:k], teacher[k:], x, quantize=True), y) for k in range(1, len(teacher))
    }
    head, tail = student_head(student), student_tail(student)
    out["student_float"] = accuracy(split_logits(head, tail, x), y)
    out["student_u8"] = accuracy(split_logits(head, tail, x, quantize=True), y)
    return out
