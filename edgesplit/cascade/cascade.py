"""The dual-CNN cascade: confidence scores, the lambda grid search, and batched / memoised inference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from edgesplit.cascade.memo import MemoCache, dhash_batch

SCORES = ("maxp", "margin", "entropy")
RULES = ("postcheck", "plain")

# A classifier maps a float32 batch (N, C, H, W) to logits (N, K); see edgesplit.nn.classifier.TorchClassifier.
Classifier = Callable[[np.ndarray], np.ndarray]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def confidence(probs: np.ndarray, score: str) -> np.ndarray:
    """Confidence in [0, 1] per row, higher = surer.

    - "maxp": the top class probability;
    - "margin": top-1 minus top-2 probability;
    - "entropy": 1 - H(p) / log(K), one minus the normalised entropy.
    """
    p = np.asarray(probs, dtype=np.float64)
    if score == "maxp":
        return p.max(axis=1)
    if score == "margin":
        top2 = np.partition(p, -2, axis=1)[:, -2:]
        return top2[:, 1] - top2[:, 0]
    if score == "entropy":
        h = -(p * np.log(np.clip(p, 1e-300, None))).sum(axis=1)
        return np.clip(1.0 - h / np.log(p.shape[1]), 0.0, 1.0)
    raise ValueError(f"unknown score {score!r}; known: {', '.join(SCORES)}")


def combine(pred_a: np.ndarray, conf_a: np.ndarray, pred_b: np.ndarray, conf_b: np.ndarray, rule: str) -> np.ndarray:
    """Final answers for rows that went to B: B's ("plain"), or the more confident of A and B
    ("postcheck"; a tie keeps A's)."""
    if rule == "plain":
        return np.asarray(pred_b)
    if rule == "postcheck":
        return np.where(np.asarray(conf_b) > np.asarray(conf_a), pred_b, pred_a)
    raise ValueError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")


def lambda_grid(n: int = 2000) -> np.ndarray:
    """`n` thresholds evenly spaced strictly inside (0, 1): k / (n + 1) for k = 1..n."""
    return np.arange(1, n + 1, dtype=np.float64) / (n + 1)


@dataclass(frozen=True)
class Threshold:
    """A cascade operating point: A's score type, the threshold lambda and the combination rule."""

    score: str
    lam: float
    rule: str
    val_accuracy: float = float("nan")
    b_ratio: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


def sweep(
    probs_a: np.ndarray, probs_b: np.ndarray, labels: np.ndarray, score: str, rule: str, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and B-invocation ratio at every lambda in `grid` (B runs when A's confidence < lambda).

    Exact and O((N + G) log N): rows are sorted by A's confidence once, and the rows sent to B at a
    given lambda are a prefix of that order.
    """
    labels = np.asarray(labels)
    conf_a, conf_b = confidence(probs_a, score), confidence(probs_b, score)
    pred_a, pred_b = np.argmax(probs_a, axis=1), np.argmax(probs_b, axis=1)
    right_a = pred_a == labels
    right_sent = combine(pred_a, conf_a, pred_b, conf_b, rule) == labels
    order = np.argsort(conf_a, kind="stable")
    cum_a = np.concatenate([[0], np.cumsum(right_a[order])])
    cum_sent = np.concatenate([[0], np.cumsum(right_sent[order])])
    k = np.searchsorted(conf_a[order], grid, side="left")  # rows with conf_a < lambda
    n = len(labels)
    accuracy = (cum_sent[k] + cum_a[-1] - cum_a[k]) / n
    return accuracy, k / n


def search_threshold(
    probs_a: np.ndarray,
    probs_b: np.ndarray,
    labels: np.ndarray,
    grid: np.ndarray | None = None,
    scores: tuple[str, ...] = SCORES,
    rules: tuple[str, ...] = RULES,
    tolerance: float = 0.0,
) -> Threshold:
    """The (score, lambda, rule) that maximises accuracy on the given (validation) data.

    With `tolerance` = 0 this is the paper's lambda* = argmax acc(lambda), ties going to the smaller B
    ratio, then to the smaller lambda. With `tolerance` > 0, any point within `tolerance` (a fraction, e.g.
    0.001 = 0.1 point) of the best accuracy qualifies, and the one invoking B least wins.
    """
    grid = lambda_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    points: list[tuple[float, float, str, str, float]] = []
    for score in scores:
        for rule in rules:
            acc, ratio = sweep(probs_a, probs_b, labels, score, rule, grid)
            for a, r, lam in zip(acc.tolist(), ratio.tolist(), grid.tolist(), strict=True):
                points.append((a, r, score, rule, lam))
    best = max(p[0] for p in points)
    eligible = [p for p in points if p[0] >= best - tolerance - 1e-12]
    acc, ratio, score, rule, lam = min(eligible, key=lambda p: (p[1], -p[0], p[4]))
    return Threshold(score=score, lam=lam, rule=rule, val_accuracy=acc, b_ratio=ratio)


@dataclass
class CascadeOutput:
    """Per-row results of a cascade call."""

    pred: np.ndarray  # final class
    conf: np.ndarray  # confidence of the final answer (under the cascade's score)
    used_b: np.ndarray  # bool: B ran on this row


@dataclass
class Cascade:
    """Model A answers; rows whose confidence is below lambda also go to model B."""

    model_a: Classifier
    model_b: Classifier
    threshold: Threshold

    def predict(self, x: np.ndarray) -> CascadeOutput:
        """Batched inference; B sees only the unsure rows."""
        t = self.threshold
        probs_a = softmax(self.model_a(x))
        pred, conf = probs_a.argmax(axis=1), confidence(probs_a, t.score)
        used_b = conf < t.lam
        if used_b.any():
            probs_b = softmax(self.model_b(x[used_b]))
            pred_b, conf_b = probs_b.argmax(axis=1), confidence(probs_b, t.score)
            pred[used_b] = combine(pred[used_b], conf[used_b], pred_b, conf_b, t.rule)
            conf[used_b] = conf_b if t.rule == "plain" else np.maximum(conf[used_b], conf_b)
        return CascadeOutput(pred=pred, conf=conf, used_b=used_b)


@dataclass
class RequestResult:
    """What the memoised cascade did for one request."""

    pred: int
    conf: float
    cache_hit: bool
    used_b: bool
    hash: int


@dataclass
class MemoCascade:
    """A cascade behind a memo cache: the cache is consulted before any model runs."""

    cascade: Cascade
    cache: MemoCache = field(default_factory=MemoCache)
    hash_crop: int = 0  # pixels trimmed from each border before hashing

    def hashes(self, x: np.ndarray) -> np.ndarray:
        """Cache keys of a batch."""
        c = self.hash_crop
        return dhash_batch(x[..., c : x.shape[-2] - c, c : x.shape[-1] - c] if c else x)

    def request(self, x: np.ndarray, key: int | None = None) -> RequestResult:
        """Serve one input (C, H, W): a cached answer if there is one, else the cascade's (then cached).

        `key` may pass a precomputed hash of `x`.
        """
        key = int(self.hashes(x[None])[0]) if key is None else int(key)
        hit = self.cache.lookup(key)
        if hit is not None:
            return RequestResult(pred=hit[0], conf=hit[1], cache_hit=True, used_b=False, hash=key)
        out = self.cascade.predict(x[None])
        pred, conf = int(out.pred[0]), float(out.conf[0])
        self.cache.insert(key, (pred, conf))
        return RequestResult(pred=pred, conf=conf, cache_hit=False, used_b=bool(out.used_b[0]), hash=key)

    def stream(self, xs: np.ndarray) -> list[RequestResult]:
        """Serve a stream of inputs in order, one at a time (hashes computed in one batch)."""
        keys = self.hashes(xs)
        return [self.request(x, key) for x, key in zip(xs, keys, strict=True)]
