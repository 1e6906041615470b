"""Training of the CNN pool and the large reference, pair and threshold choice, and cascade checkpoints."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.cascade.cascade import (
    Cascade,
    MemoCascade,
    Threshold,
    lambda_grid,
    search_threshold,
    softmax,
    sweep,
)
from edgesplit.cascade.complementarity import choose_pair, pair_table
from edgesplit.cascade.memo import MemoCache, dhash_batch
from edgesplit.cascade.models import CNNSpec, build_cnn, count_flops, fold_batchnorm, large_spec, small_pool
from edgesplit.datasets import NUM_CLASSES, Splits, load_dataset
from edgesplit.errors import UserError
from edgesplit.nn.classifier import TorchClassifier, accuracy
from edgesplit.nn.fit import ProgressFn, fit_classifier
from edgesplit.nn.state import load_state, read_versioned, save_state

SUMMARY_FILE = "cascade.json"
FORMAT_VERSION = 1


@dataclass
class TrainConfig:
    """Everything `train_cascade` needs; None fields take dataset-dependent defaults."""

    dataset: str = "mnist"
    out: Path = Path("runs/cascade")
    epochs_small: int | None = None  # mnist 3, digits 30
    epochs_large: int | None = None  # mnist 3, digits 30
    batch_size: int = 128
    max_lr: float = 3e-3
    accuracy_floor: float | None = None  # None: 2nd-best small model's validation accuracy - 1 point
    grid: int = 2000
    tolerance: float = 0.0
    hash_crop: int | None = None  # None: 4 px on MNIST (its empty border), else 0
    max_false_hit: float = 0.002
    max_radius: int = 8
    threads: int = 2
    limit_train: int | None = None
    small: list[CNNSpec] | None = None
    large: CNNSpec | None = None


def train_model(
    spec: CNNSpec,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int = 128,
    max_lr: float = 3e-3,
    progress: ProgressFn | None = None,
) -> TorchClassifier:
    """Train one CNN with Adam and a one-cycle learning rate; deterministic given `spec.seed`."""
    module = build_cnn(spec, tuple(x.shape[1:]), NUM_CLASSES).train()
    fit_classifier(module, x, y, epochs, batch_size, max_lr, spec.seed, spec.name, progress)
    return TorchClassifier(module, spec.name)


def default_hash_crop(dataset: str) -> int:
    """Border trimmed before hashing: MNIST digits sit in the central 20x20 of 28x28 by construction."""
    return 4 if dataset == "mnist" else 0


def choose_radius(hashes: np.ndarray, labels: np.ndarray, max_false_hit: float, max_radius: int = 8) -> int:
    """The largest Hamming radius at which at most `max_false_hit` of the samples have a sample of
    another class within that radius (a cached answer for the wrong digit)."""
    h = np.asarray(hashes, dtype=np.uint64)
    nearest_other = np.full(len(h), 65, dtype=np.int64)
    for i in range(0, len(h), 512):  # blocks keep the distance matrix small
        d = np.bitwise_count(h[i : i + 512, None] ^ h[None, :]).astype(np.int64)
        d[labels[i : i + 512, None] == labels[None, :]] = 65
        nearest_other[i : i + 512] = d.min(axis=1)
    radius = 0
    for r in range(max_radius + 1):
        if (nearest_other <= r).mean() <= max_false_hit:
            radius = r
    return radius


def _resolve(cfg: TrainConfig, data: Splits) -> tuple[int, int, list[CNNSpec], CNNSpec, int]:
    size = data.image_shape[-1]
    mnist_like = size >= 28
    epochs_small = cfg.epochs_small or (3 if mnist_like else 30)
    epochs_large = cfg.epochs_large or (3 if mnist_like else 30)
    small = cfg.small or small_pool(size)
    large = cfg.large or large_spec(size)
    crop = default_hash_crop(cfg.dataset) if cfg.hash_crop is None else cfg.hash_crop
    if epochs_small < 1 or epochs_large < 1:
        raise UserError("epochs must be at least 1")
    if not 0 <= crop < size // 2:
        raise UserError(f"hash crop must be within 0..{size // 2 - 1} for {size}x{size} images")
    return epochs_small, epochs_large, small, large, crop


def train_cascade(cfg: TrainConfig, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Train the pool and the large CNN, pick the pair, the threshold and the cache radius, and save.

    Writes `cfg.out/models/<name>.pt` (state_dicts) and `cfg.out/cascade.json`, and returns that summary.
    """
    import torch  # lazy: the cascade package imports without torch

    if cfg.grid < 2:
        raise UserError("the lambda grid needs at least 2 values")
    if cfg.tolerance < 0:
        raise UserError("tolerance must be >= 0")
    torch.set_num_threads(cfg.threads)
    data = load_dataset(cfg.dataset)
    epochs_small, epochs_large, small, large, crop = _resolve(cfg, data)
    x_train, y_train = data.x_train, data.y_train
    if cfg.limit_train:
        keep = np.random.default_rng(0).permutation(len(y_train))[: cfg.limit_train]
        x_train, y_train = x_train[keep], y_train[keep]
    shape = data.image_shape
    models_dir = Path(cfg.out) / "models"
    models_dir.mkdir(parents=True, exist_ok=True)

    records: dict[str, dict[str, Any]] = {}
    val_probs: dict[str, np.ndarray] = {}
    test_probs: dict[str, np.ndarray] = {}
    for spec in [*small, large]:
        epochs = epochs_large if spec is large else epochs_small
        clf = train_model(spec, x_train, y_train, epochs, cfg.batch_size, cfg.max_lr, progress)
        save_state(clf.module, models_dir / f"{spec.name}.pt")
        val_probs[spec.name] = softmax(clf.logits(data.x_val))
        test_probs[spec.name] = softmax(clf.logits(data.x_test))
        records[spec.name] = {
            "spec": spec.to_dict(),
            "role": "large" if spec is large else "small",
            "epochs": epochs,
            "flops": count_flops(spec, shape, NUM_CLASSES),
            "params": sum(p.numel() for p in clf.module.parameters()),
            "val_accuracy": accuracy(val_probs[spec.name], data.y_val),
            "test_accuracy": accuracy(test_probs[spec.name], data.y_test),
        }

    names = [s.name for s in small]
    right = {n: val_probs[n].argmax(1) == data.y_val for n in names}
    pairs = pair_table(right)
    floor = cfg.accuracy_floor
    if floor is None:
        floor = sorted(records[n]["val_accuracy"] for n in names)[-2] - 0.01  # >= 1 pair qualifies
    try:
        pair = choose_pair(pairs, floor)
    except ValueError as err:
        raise UserError(f"{err}; lower --accuracy-floor", where="--accuracy-floor") from None

    # Both orders of the pair; the better validation accuracy wins, and within `tolerance` the cheaper.
    grid = lambda_grid(cfg.grid)
    options = []
    for a, b in ((pair.a, pair.b), (pair.b, pair.a)):
        th = search_threshold(val_probs[a], val_probs[b], data.y_val, grid=grid, tolerance=cfg.tolerance)
        flops = records[a]["flops"] + th.b_ratio * records[b]["flops"]
        options.append((th, a, b, flops))
    best_acc = max(o[0].val_accuracy for o in options)
    th, a, b, _ = min((o for o in options if o[0].val_accuracy >= best_acc - cfg.tolerance - 1e-12), key=lambda o: o[3])
    test_acc, test_ratio = sweep(test_probs[a], test_probs[b], data.y_test, th.score, th.rule, np.array([th.lam]))

    val_hashes = dhash_batch(_crop(data.x_val, crop))
    radius = choose_radius(val_hashes, data.y_val, cfg.max_false_hit, cfg.max_radius)

    summary: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "dataset": cfg.dataset,
        "image_shape": list(shape),
        "num_classes": NUM_CLASSES,
        "train_samples": int(len(y_train)),
        "models": records,
        "large": large.name,
        "pairs": [p.to_dict() for p in pairs],
        "accuracy_floor": floor,
        "pair": pair.to_dict(),
        "model_a": a,
        "model_b": b,
        "threshold": th.to_dict(),
        "threshold_search": {"grid": cfg.grid, "tolerance": cfg.tolerance, "split": "val"},
        "cascade_test": {"accuracy": float(test_acc[0]), "b_ratio": float(test_ratio[0])},
        "cache": {"hash_crop": crop, "radius": radius, "max_false_hit": cfg.max_false_hit},
    }
    (Path(cfg.out) / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _crop(x: np.ndarray, crop: int) -> np.ndarray:
    return x[..., crop : x.shape[-2] - crop, crop : x.shape[-1] - crop] if crop else x


@dataclass
class Checkpoint:
    """A trained cascade on disk: its summary and lazily loaded models."""

    path: Path
    summary: dict[str, Any]
    _models: dict[str, TorchClassifier] = field(default_factory=dict, repr=False)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Input shape (C, H, W)."""
        return tuple(self.summary["image_shape"])

    def flops(self, name: str) -> int:
        """FLOPs of one inference of the named model."""
        return int(self.summary["models"][name]["flops"])

    def classifier(self, name: str) -> TorchClassifier:
        """The named model, loaded once."""
        if name not in self._models:
            rec = self.summary["models"].get(name)
            if rec is None:
                raise UserError(f"no model {name!r} in the checkpoint", where=str(self.path))
            module = build_cnn(CNNSpec.from_dict(rec["spec"]), self.image_shape, self.summary["num_classes"])
            load_state(module, self.path / "models" / f"{name}.pt")
            self._models[name] = TorchClassifier(fold_batchnorm(module.eval()), name)
        return self._models[name]

    @property
    def threshold(self) -> Threshold:
        """The chosen operating point."""
        return Threshold(**self.summary["threshold"])

    def cascade(self) -> Cascade:
        """Model A then, when unsure, model B."""
        s = self.summary
        return Cascade(self.classifier(s["model_a"]), self.classifier(s["model_b"]), self.threshold)

    def memo_cascade(self, capacity: int = 10_000, radius: int | None = None) -> MemoCascade:
        """The cascade behind a fresh memo cache (radius defaults to the one chosen at training)."""
        cache = self.summary["cache"]
        r = cache["radius"] if radius is None else radius
        return MemoCascade(self.cascade(), MemoCache(capacity, r), hash_crop=cache["hash_crop"])


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Open a directory written by `train_cascade`."""
    p = Path(path)
    hint = "no trained cascade here (missing {name}); run `edgesplit cascade train`"
    return Checkpoint(p, read_versioned(p, SUMMARY_FILE, FORMAT_VERSION, hint))
