"""Tensor codecs for the data plane: raw bytes, or 8-bit affine quantization (scale, zero point); numpy only."""

from __future__ import annotations

import numpy as np


def quantize_u8(x: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Per-tensor affine 8-bit quantization: q = clip(round(x / scale) + zero_point, 0, 255).

    The range always includes 0 so that zeros (ReLU outputs) are exact; a constant tensor gets scale 1.
    Returns (uint8 array of x's shape, scale, zero_point); `dequantize_u8` inverts it within scale / 2.
    """
    x = np.asarray(x, dtype=np.float32)
    lo = min(float(x.min()), 0.0) if x.size else 0.0
    hi = max(float(x.max()), 0.0) if x.size else 0.0
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zero_point = int(np.clip(round(-lo / scale), 0, 255))
    q = np.clip(np.rint(x / scale) + zero_point, 0, 255).astype(np.uint8)
    return q, float(scale), zero_point


def dequantize_u8(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """float32 values of an 8-bit affine tensor."""
    return (np.asarray(q, dtype=np.float32) - np.float32(zero_point)) * np.float32(scale)
