"""Pairwise complementarity of classifiers (Kinnas et al., 2024) and the choice of the cascade's pair."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np


def complementarity(right_a: np.ndarray, right_b: np.ndarray) -> float:
    """The paper's complementarity: (n(a | b) - n(a & b) - |n(a) - n(b)|) / N.

    Here a and b are the sets of samples that each model misclassifies, so the numerator is
    |a \\ b| + |b \\ a| - ||a \\ b| - |b \\ a|| = 2 min(|a \\ b|, |b \\ a|): it is high only when each
    model gets right a good share of the other's mistakes, and symmetric in a and b.
    """
    wrong_a, wrong_b = ~np.asarray(right_a, bool), ~np.asarray(right_b, bool)
    n_union = int((wrong_a | wrong_b).sum())
    n_inter = int((wrong_a & wrong_b).sum())
    return (n_union - n_inter - abs(int(wrong_a.sum()) - int(wrong_b.sum()))) / len(wrong_a)


def coverage(right_a: np.ndarray, right_b: np.ndarray) -> float:
    """Ordered: the fraction of samples that A misclassifies and B classifies correctly."""
    return float((~np.asarray(right_a, bool) & np.asarray(right_b, bool)).mean())


def oracle_accuracy(right_a: np.ndarray, right_b: np.ndarray) -> float:
    """Accuracy of a perfect chooser between A and B: the fraction that at least one gets right."""
    return float((np.asarray(right_a, bool) | np.asarray(right_b, bool)).mean())


@dataclass(frozen=True)
class PairStats:
    """Complementarity figures of one unordered pair of models."""

    a: str
    b: str
    acc_a: float
    acc_b: float
    complementarity: float
    cover_ab: float  # A wrong, B right
    cover_ba: float  # B wrong, A right
    oracle: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


def pair_table(right: dict[str, np.ndarray]) -> list[PairStats]:
    """Figures for every unordered pair of the models in `right` (name -> per-sample correctness)."""
    rows = []
    for a, b in combinations(right, 2):
        ra, rb = right[a], right[b]
        rows.append(
            PairStats(
                a=a,
                b=b,
                acc_a=float(np.mean(ra)),
                acc_b=float(np.mean(rb)),
                complementarity=complementarity(ra, rb),
                cover_ab=coverage(ra, rb),
                cover_ba=coverage(rb, ra),
                oracle=oracle_accuracy(ra, rb),
            )
        )
    return rows


def choose_pair(pairs: list[PairStats], accuracy_floor: float) -> PairStats:
    """The most complementary pair whose members both reach `accuracy_floor` (ties: higher oracle
    accuracy). Raises ValueError when no pair qualifies."""
    eligible = [p for p in pairs if min(p.acc_a, p.acc_b) >= accuracy_floor]
    if not eligible:
        raise ValueError(f"no pair has both members at accuracy >= {accuracy_floor:.4f}")
    return max(eligible, key=lambda p: (p.complementarity, p.oracle))
