"""Memo cache: dHash, exact and Hamming-radius lookup, LRU capacity, and no model re-runs on cached inputs."""

from __future__ import annotations

import numpy as np
import pytest

from edgesplit.cascade.cascade import Cascade, MemoCascade, Threshold
from edgesplit.cascade.memo import MemoCache, dhash, dhash_batch, hamming
from edgesplit.cascade.train import choose_radius
from edgesplit.cascade.workload import make_stream, perturb, stream_inputs
from edgesplit.datasets import load_dataset


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_dhash_is_64_bits_deterministic_and_scale_invariant(digits):
    x = digits.x_test[:50]
    h = dhash_batch(x)
    assert h.dtype == np.uint64 and h.shape == (50,)
    assert np.array_equal(h, dhash_batch(x.copy()))
    assert np.array_equal(h, dhash_batch(x * 0.5))  # a darker copy keeps every comparison
    assert dhash(x[0]) == int(h[0]) == dhash(x[0, 0])  # (C, H, W) and (H, W) agree
    assert len(np.unique(h)) > 40  # different digits mostly hash differently


def test_dhash_bits_by_hand():
    # 8 x 9 image (no resizing needed): each row falls left to right, so all 64 bits are set.
    img = np.tile(np.arange(9, 0, -1, dtype=float), (8, 1))
    assert dhash(img) == 2**64 - 1
    assert dhash(img[:, ::-1]) == 0  # rising rows: no bit set
    row_mixed = img.copy()
    row_mixed[0] = [0, 1, 0, 1, 0, 1, 0, 1, 0]  # first row: bits 0 1 0 1 0 1 0 1
    assert dhash(row_mixed) >> 56 == 0b01010101
    assert hamming(dhash(img), dhash(row_mixed)) == 4


def test_exact_hits_and_counters():
    cache = MemoCache(capacity=4)
    assert cache.lookup(7) is None
    cache.insert(7, ("seven", 0.9))
    assert cache.lookup(7) == ("seven", 0.9)
    assert cache.lookup(8) is None
    s = cache.stats
    assert (s.lookups, s.exact_hits, s.near_hits, s.misses, s.inserts, s.evictions) == (3, 1, 0, 2, 1, 0)
    assert s.hit_ratio == pytest.approx(1 / 3)


def test_lru_capacity_is_honoured():
    cache = MemoCache(capacity=3)
    for k in (1, 2, 3):
        cache.insert(k, k)
    cache.lookup(1)  # 1 is now the most recent; 2 is the least recent
    cache.insert(4, 4)
    assert len(cache) == 3 and cache.stats.evictions == 1
    assert 2 not in cache and all(k in cache for k in (1, 3, 4))
    for k in range(10, 30):
        cache.insert(k, k)
        assert len(cache) <= 3
    assert cache.stats.evictions == 21
    assert [k in cache for k in (27, 28, 29)] == [True, True, True]


def test_radius_lookup_takes_the_nearest_within_radius():
    cache = MemoCache(capacity=8, radius=2)
    cache.insert(0b0000, "zero")
    cache.insert(0b1111, "fifteen")
    assert cache.lookup(0b0001) == "zero"  # distance 1
    assert cache.lookup(0b0111) == "fifteen"  # distance 1 from 15, 3 from 0
    assert cache.lookup(0b1111 << 8) is None  # distance 4 and 8
    assert cache.stats.near_hits == 2 and cache.stats.misses == 1
    assert MemoCache(capacity=8, radius=0).lookup(1) is None


def test_perturbed_duplicate_hits_and_other_digit_does_not(digits):
    radius = choose_radius(dhash_batch(digits.x_val), digits.y_val, max_false_hit=0.01)
    assert 1 <= radius <= 8
    x, y = digits.x_test, digits.y_test
    h = dhash_batch(x)
    rng = np.random.default_rng(3)
    flipped = dhash_batch(perturb(x, "flip", rng))
    near = np.bitwise_count(flipped ^ h) <= radius
    assert near.mean() > 0.9  # a one-pixel flip nearly always stays within the radius
    # A concrete case: sample 0 is cached; its perturbed copy hits, a different digit misses.
    i = int(np.flatnonzero(near)[0])
    cache = MemoCache(capacity=16, radius=radius)
    cache.insert(int(h[i]), int(y[i]))
    assert cache.lookup(int(flipped[i])) == y[i]
    others = np.flatnonzero(y != y[i])
    dist = np.bitwise_count(h[others] ^ h[i])
    assert (dist > radius).mean() > 0.95  # other digits are almost all outside the radius
    j = int(others[np.argmax(dist > radius)])
    assert cache.lookup(int(h[j])) is None


class CountingModel:
    """A fake classifier: logits from the image's mean brightness, counting every row it sees."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.seen += [row.tobytes() for row in x]
        m = x.reshape(len(x), -1).mean(axis=1)
        return np.stack([np.sin(m * 40 + k) * 3 for k in range(10)], axis=1)


def test_identical_input_never_runs_a_model_twice_while_cached(digits):
    a, b = CountingModel(), CountingModel()
    cascade = Cascade(a, b, Threshold("maxp", 0.6, "postcheck"))
    memo = MemoCascade(cascade, MemoCache(capacity=1000))
    x = digits.x_test[:60]
    stream = make_stream(len(x), 1.0, seed=5)
    xs = stream_inputs(x, stream, "none")
    results = memo.stream(xs)
    assert len(a.seen) == len(set(a.seen)) == len({r.hash for r in results})  # A: once per distinct input
    assert len(b.seen) == len(set(b.seen))
    assert sum(r.cache_hit for r in results) == len(results) - len(a.seen)
    assert all(r.cache_hit for r, rep in zip(results, stream.repeat, strict=True) if rep)
    # the cached answer is the one computed the first time
    first = {}
    for r in results:
        assert first.setdefault(r.hash, r.pred) == r.pred


def test_evicted_input_runs_again():
    a, b = CountingModel(), CountingModel()
    memo = MemoCascade(Cascade(a, b, Threshold("maxp", 0.0, "plain")), MemoCache(capacity=2))
    imgs = [np.zeros((1, 8, 8), dtype=np.float32) for _ in range(3)]
    for i, img in enumerate(imgs):
        img[0, :, 2 * i + 1] = 1.0  # a vertical bar in a different column: distinct hashes
    assert len({dhash(img) for img in imgs}) == 3
    for i in (0, 0, 1, 0, 2, 1):  # 2 evicts the LRU entry (1), so 1 runs again
        memo.request(imgs[i])
    assert len(a.seen) == 4 and memo.cache.stats.evictions == 2 and len(memo.cache) == 2
