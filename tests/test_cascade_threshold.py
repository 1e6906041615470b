"""Confidence scores, the lambda grid search (checked by hand), and batched cascade inference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgesplit.cascade.cascade import (
    Cascade,
    Threshold,
    combine,
    confidence,
    lambda_grid,
    search_threshold,
    softmax,
    sweep,
)

# Four samples, all of class 0, two classes. A is right on s1, s2 (maxp .9, .6) and wrong on s3, s4
# (maxp .55, .7); B is wrong on s1, s2 and right on s3, s4.
LABELS = np.zeros(4, dtype=int)
PA = np.array([[0.9, 0.1], [0.6, 0.4], [0.45, 0.55], [0.3, 0.7]])
PB = np.array([[0.2, 0.8], [0.1, 0.9], [0.8, 0.2], [0.9, 0.1]])


def test_confidence_scores_by_hand():
    p = np.array([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3]])
    assert confidence(p, "maxp") == pytest.approx([0.7, 1 / 3])
    assert confidence(p, "margin") == pytest.approx([0.5, 0.0])
    h = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    assert confidence(p, "entropy") == pytest.approx([1 - h / math.log(3), 0.0], abs=1e-12)
    assert confidence(np.array([[1.0, 0.0, 0.0]]), "entropy") == pytest.approx([1.0])
    with pytest.raises(ValueError):
        confidence(p, "nope")


def test_combine_rules():
    pa, ca, pb, cb = np.array([1, 1]), np.array([0.6, 0.6]), np.array([2, 2]), np.array([0.5, 0.7])
    assert combine(pa, ca, pb, cb, "plain").tolist() == [2, 2]
    assert combine(pa, ca, pb, cb, "postcheck").tolist() == [1, 2]  # keep the more confident answer


def test_sweep_by_hand():
    grid = np.array([0.5, 0.58, 0.65, 0.8, 0.95])
    acc, ratio = sweep(PA, PB, LABELS, "maxp", "plain", grid)
    # lambda .5: nobody to B (2/4); .58: s3 fixed (3/4); .65: s2 broken (2/4); .8: s4 fixed (3/4);
    # .95: s1 broken too (2/4)
    assert acc.tolist() == [0.5, 0.75, 0.5, 0.75, 0.5]
    assert ratio.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_search_returns_the_accuracy_maximising_lambda():
    grid = np.array([0.5, 0.58, 0.65, 0.8, 0.95])
    th = search_threshold(PA, PB, LABELS, grid=grid, scores=("maxp",), rules=("plain",))
    # .58 and .8 both reach 3/4; .58 sends fewer samples to B
    assert (th.lam, th.val_accuracy, th.b_ratio) == (0.58, 0.75, 0.25)
    # on the default 2,000-value grid the winner is the first lambda above s3's .55: 1101 / 2001
    th = search_threshold(PA, PB, LABELS, scores=("maxp",), rules=("plain",))
    assert len(lambda_grid()) == 2000
    assert th.lam == pytest.approx(1101 / 2001) and th.val_accuracy == 0.75


def test_postcheck_keeps_the_more_confident_answer():
    th = search_threshold(PA, PB, LABELS, grid=np.array([0.99]), scores=("maxp",), rules=("postcheck",))
    # everyone goes to B; s1 keeps A (.9 > .8), s2 takes B (.9 > .6, wrong), s3/s4 take B (right)
    assert th.val_accuracy == 0.75
    plain = search_threshold(PA, PB, LABELS, grid=np.array([0.99]), scores=("maxp",), rules=("plain",))
    assert plain.val_accuracy == 0.5


def test_tolerance_trades_accuracy_for_fewer_b_calls():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 500)
    la = rng.normal(size=(500, 10)) + 2.5 * np.eye(10)[labels]
    lb = rng.normal(size=(500, 10)) + 2.5 * np.eye(10)[labels]
    pa, pb = softmax(la), softmax(lb)
    strict = search_threshold(pa, pb, labels)
    loose = search_threshold(pa, pb, labels, tolerance=0.01)
    assert loose.val_accuracy >= strict.val_accuracy - 0.01
    assert loose.b_ratio <= strict.b_ratio


def test_sweep_matches_real_batched_cascade():
    rng = np.random.default_rng(1)
    x = rng.random((300, 1, 4, 4)).astype(np.float32)
    labels = rng.integers(0, 5, 300)
    wa, wb = rng.normal(size=(16, 5)), rng.normal(size=(16, 5))
    sent_rows = []

    def model_a(batch):
        return batch.reshape(len(batch), -1) @ wa * 3

    def model_b(batch):
        sent_rows.append(len(batch))
        return batch.reshape(len(batch), -1) @ wb * 3

    pa, pb = softmax(model_a(x)), softmax(model_b(x))
    sent_rows.clear()
    for score in ("maxp", "margin", "entropy"):
        for rule in ("plain", "postcheck"):
            lam = float(np.median(confidence(pa, score)))
            acc, ratio = sweep(pa, pb, labels, score, rule, np.array([lam]))
            out = Cascade(model_a, model_b, Threshold(score, lam, rule)).predict(x)
            assert (out.pred == labels).mean() == pytest.approx(acc[0])
            assert out.used_b.mean() == pytest.approx(ratio[0])
            assert sent_rows[-1] == out.used_b.sum()  # B saw only the unsure rows


def test_cascade_skips_b_when_everyone_is_sure():
    calls = []

    def model_b(batch):
        calls.append(batch)
        return np.zeros((len(batch), 3))

    out = Cascade(lambda b: np.tile([10.0, 0.0, 0.0], (len(b), 1)), model_b, Threshold("maxp", 0.5, "plain")).predict(
        np.zeros((4, 1, 2, 2), dtype=np.float32)
    )
    assert calls == [] and out.pred.tolist() == [0, 0, 0, 0] and not out.used_b.any()
