"""Duplicated request streams, perturbations, and the light import of the workload hook."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edgesplit.cascade.workload import make_stream, perturb, stream_inputs
from edgesplit.errors import UserError


def test_no_duplicates_is_a_permutation():
    s = make_stream(100, 0.0, seed=1)
    assert sorted(s.sample_ids.tolist()) == list(range(100)) and not s.repeat.any()


@pytest.mark.parametrize("rate", [0.5, 1.0, 2.5])
def test_repeats_follow_their_first_appearance(rate):
    n = 200
    s = make_stream(n, rate, seed=2)
    assert len(s) == n + round(rate * n)
    counts = np.bincount(s.sample_ids, minlength=n)
    assert counts.min() >= 1 + int(rate) and counts.max() <= 1 + int(np.ceil(rate))
    seen = set()
    for sid, rep in zip(s.sample_ids.tolist(), s.repeat.tolist(), strict=True):
        assert rep == (sid in seen)
        seen.add(sid)
    # repeats are spread over the stream, not bunched next to their original
    first = {}
    gaps = [i - first.setdefault(sid, i) for i, sid in enumerate(s.sample_ids.tolist())]
    assert np.mean([g for g in gaps if g]) > n / 10


def test_every_sample_twice_at_rate_one_and_seeded():
    s = make_stream(50, 1.0, seed=3)
    assert np.bincount(s.sample_ids).tolist() == [2] * 50
    t = make_stream(50, 1.0, seed=3)
    assert np.array_equal(s.sample_ids, t.sample_ids)
    assert not np.array_equal(s.sample_ids, make_stream(50, 1.0, seed=4).sample_ids)
    with pytest.raises(UserError):
        make_stream(5, -0.5)


def test_perturbations_are_small_and_not_mirrors():
    rng = np.random.default_rng(0)
    x = rng.random((20, 1, 28, 28)).astype(np.float32)
    flipped = perturb(x, "flip", rng)
    changed = (flipped != x).reshape(20, -1).sum(axis=1)
    assert changed.tolist() == [2] * 20  # 0.25% of 784 pixels
    assert np.allclose(flipped[flipped != x], 1 - x[flipped != x])
    bright = perturb(x, "brightness", rng)
    shift = (bright - x).reshape(20, -1)
    inside = (x.reshape(20, -1) > 0.15) & (x.reshape(20, -1) < 0.85)  # away from clipping
    per_image = [np.unique(np.round(s[m], 5)) for s, m in zip(shift, inside, strict=True)]
    assert all(len(u) == 1 and 0.03 <= abs(u[0]) <= 0.1 for u in per_image)
    assert np.array_equal(perturb(x, "none", rng), x)
    with pytest.raises(UserError):
        perturb(x, "mirror", rng)


def test_stream_inputs_perturb_only_repeats():
    x = np.random.default_rng(1).random((30, 1, 8, 8)).astype(np.float32)
    s = make_stream(30, 1.0, seed=0)
    xs = stream_inputs(x, s, "flip", seed=0)
    assert np.array_equal(xs[~s.repeat], x[s.sample_ids[~s.repeat]])
    assert not np.array_equal(xs[s.repeat], x[s.sample_ids[s.repeat]])


def test_workload_import_stays_light():
    code = "import sys, edgesplit.cascade.workload; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
