"""Memo cache for the cascade: a 64-bit dHash of the input and an LRU map from hashes to past answers."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

HASH_ROWS, HASH_COLS = 8, 9  # 8 rows x 8 left/right comparisons = 64 bits
_REL_TOL = 1e-6  # neighbours closer than this (relative to the image's peak) count as equal


@cache
def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights that average n_in samples into n_out cells by overlapping area."""
    edges = np.linspace(0.0, n_in, n_out + 1)
    pix = np.arange(n_in)
    overlap = np.minimum(edges[1:, None], pix[None, :] + 1) - np.maximum(edges[:-1, None], pix[None, :])
    w = np.clip(overlap, 0.0, None) / (n_in / n_out)
    w.setflags(write=False)
    return w


def dhash_batch(images: np.ndarray) -> np.ndarray:
    """64-bit difference hashes (uint64) of a batch shaped (N, H, W) or (N, C, H, W).

    Each image is averaged over channels, shrunk to 8 x 9 by area averaging, and bit (r, c) is set when
    cell (r, c) is brighter than cell (r, c + 1); bits are packed row-major, first bit most significant.
    Multiplying an image by a positive constant leaves its hash unchanged.
    """
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 4:
        x = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1)
    if x.ndim != 3:
        raise ValueError(f"expected (N, H, W) or (N, C, H, W) images, got shape {np.shape(images)}")
    _, h, w = x.shape
    small = _area_matrix(h, HASH_ROWS) @ x @ _area_matrix(w, HASH_COLS).T  # (N, 8, 9)
    tol = _REL_TOL * np.abs(small).max(axis=(1, 2), keepdims=True)
    bits = (small[:, :, :-1] - small[:, :, 1:]) > tol
    packed = np.packbits(bits.reshape(len(x), 64), axis=1, bitorder="big")
    return packed.view(">u8").ravel().astype(np.uint64)


def dhash(image: np.ndarray) -> int:
    """The 64-bit dHash of one image shaped (H, W) or (C, H, W), as a Python int."""
    x = np.asarray(image)
    return int(dhash_batch(x[None] if x.ndim in (2, 3) else x)[0])


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two hashes."""
    return (int(a) ^ int(b)).bit_count()


def dhash_ops(image_shape: tuple[int, ...]) -> int:
    """Arithmetic operations of one dHash (the two resize products and 64 comparisons)."""
    c, h, w = image_shape if len(image_shape) == 3 else (1, *image_shape)
    resize = HASH_ROWS * h * w + HASH_ROWS * w * HASH_COLS  # multiply-accumulates
    return 2 * resize + c * h * w + 64


@dataclass
class CacheStats:
    """Counters of a MemoCache since creation (or the last `reset_stats`)."""

    lookups: int = 0
    exact_hits: int = 0
    near_hits: int = 0
    misses: int = 0
    inserts: int = 0
    evictions: int = 0

    @property
    def hits(self) -> int:
        """Exact plus near (within the Hamming radius) hits."""
        return self.exact_hits + self.near_hits

    @property
    def hit_ratio(self) -> float:
        """Hits per lookup (0 before any lookup)."""
        return self.hits / self.lookups if self.lookups else 0.0


class MemoCache:
    """LRU map from 64-bit input hashes to past answers, with exact and Hamming-radius lookup.

    A lookup first tries the exact hash (a dict probe); when that misses and `radius` > 0 it scans all
    stored hashes with a vectorised popcount and takes the nearest one within `radius` (ties go to the
    lowest slot). A hit refreshes the entry's recency; inserting into a full cache evicts the least
    recently used entry.
    """

    def __init__(self, capacity: int = 10_000, radius: int = 0) -> None:
        if capacity < 1:
            raise ValueError("cache capacity must be at least 1")
        if not 0 <= radius <= 64:
            raise ValueError("Hamming radius must be within 0..64")
        self.capacity = capacity
        self.radius = radius
        self.stats = CacheStats()
        self._slots: OrderedDict[int, int] = OrderedDict()  # hash -> slot, least recent first
        self._hashes = np.zeros(capacity, dtype=np.uint64)
        self._used = np.zeros(capacity, dtype=bool)
        self._keys: list[int] = [0] * capacity
        self._values: list[Any] = [None] * capacity
        self._free = list(range(capacity - 1, -1, -1))

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, key: int) -> bool:
        return int(key) in self._slots

    def lookup(self, key: int) -> Any | None:
        """The stored answer for `key` (or for a hash within `radius`), else None. Counts the lookup."""
        key = int(key)
        self.stats.lookups += 1
        slot = self._slots.get(key)
        if slot is not None:
            self.stats.exact_hits += 1
        elif self.radius and self._slots:
            dist = np.bitwise_count(self._hashes ^ np.uint64(key))
            dist[~self._used] = 65
            nearest = int(np.argmin(dist))
            if dist[nearest] <= self.radius:
                slot = nearest
                self.stats.near_hits += 1
        if slot is None:
            self.stats.misses += 1
            return None
        self._slots.move_to_end(self._keys[slot])
        return self._values[slot]

    def insert(self, key: int, value: Any) -> None:
        """Store `value` under `key`, evicting the least recently used entry when full."""
        key = int(key)
        slot = self._slots.get(key)
        if slot is None:
            if not self._free:
                _, old = self._slots.popitem(last=False)
                self._used[old] = False
                self._values[old] = None
                self._free.append(old)
                self.stats.evictions += 1
            slot = self._free.pop()
            self._hashes[slot] = np.uint64(key)
            self._used[slot] = True
            self._keys[slot] = key
            self._slots[key] = slot
            self.stats.inserts += 1
        else:
            self._slots.move_to_end(key)
        self._values[slot] = value

    def clear(self) -> None:
        """Forget every entry (the counters stay)."""
        self._slots.clear()
        self._used[:] = False
        self._values = [None] * self.capacity
        self._free = list(range(self.capacity - 1, -1, -1))

    def reset_stats(self) -> None:
        """Zero the counters."""
        self.stats = CacheStats()
