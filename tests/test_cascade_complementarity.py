"""Complementarity as the paper defines it, coverage, oracle accuracy and the pair choice."""

from __future__ import annotations

import numpy as np
import pytest

from edgesplit.cascade.complementarity import (
    choose_pair,
    complementarity,
    coverage,
    oracle_accuracy,
    pair_table,
)


def test_complementarity_by_hand():
    a = np.array([1, 1, 0, 0, 1, 1], bool)  # A wrong on {2, 3}
    b = np.array([1, 0, 1, 1, 0, 1], bool)  # B wrong on {1, 4}
    # (|union| - |inter| - |n(a) - n(b)|) / N = (4 - 0 - 0) / 6
    assert complementarity(a, b) == pytest.approx(4 / 6)
    assert coverage(a, b) == pytest.approx(2 / 6) and coverage(b, a) == pytest.approx(2 / 6)
    assert oracle_accuracy(a, b) == 1.0
    c = np.array([1, 1, 0, 1, 1, 0], bool)  # C wrong on {2, 5}: shares 2 with A
    # union {2, 3, 5}, inter {2}: (3 - 1 - 0) / 6; = 2 min(|{3}|, |{5}|) / 6
    assert complementarity(a, c) == pytest.approx(2 / 6)
    d = np.array([1, 0, 1, 1, 1, 1], bool)  # D wrong on {1} only: covers all of A's errors, but one-sided
    # union 3, inter 0, |2 - 1| = 1: (3 - 0 - 1) / 6 = 2 min(2, 1) / 6
    assert complementarity(a, d) == pytest.approx(2 / 6)
    assert complementarity(a, a) == 0.0


def test_choose_pair_respects_the_floor():
    def right_except(*wrong: int) -> np.ndarray:
        r = np.ones(20, bool)
        r[list(wrong)] = False
        return r

    right = {
        "good1": right_except(15, 16, 17, 18),  # 80%
        "good2": right_except(12, 13, 14, 18),  # 80%, shares one error with good1
        "weak": right_except(*range(8)),  # 60%, no error in common with the others
    }
    pairs = pair_table(right)
    assert len(pairs) == 3
    best_any = max(pairs, key=lambda p: p.complementarity)
    assert "weak" in (best_any.a, best_any.b) and best_any.complementarity == pytest.approx(8 / 20)
    chosen = choose_pair(pairs, accuracy_floor=0.75)
    assert {chosen.a, chosen.b} == {"good1", "good2"}
    assert chosen.complementarity == pytest.approx(6 / 20) and chosen.oracle == pytest.approx(19 / 20)
    with pytest.raises(ValueError):
        choose_pair(pairs, accuracy_floor=0.85)
