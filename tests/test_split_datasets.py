"""Dataset loaders for files on disk (CIFAR-10 python batches, image folders) on tiny fixtures."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

from edgesplit.datasets import imagefolder_classes, load_dataset_path, open_dataset
from edgesplit.errors import UserError


def write_cifar(d, batches=2, n=20, seed=0):
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, batches + 1)] + ["test_batch"]
    written = {}
    for name in names:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        with (d / name).open("wb") as fh:
            pickle.dump({b"data": data, b"labels": labels, b"batch_label": name.encode()}, fh)
        written[name] = (data, labels)
    return written


def test_cifar10_batches(tmp_path):
    written = write_cifar(tmp_path / "cifar-10-batches-py")
    for root in (tmp_path, tmp_path / "cifar-10-batches-py"):  # the parent of the extracted folder works too
        s = load_dataset_path("cifar10", root, as_uint8=True)
        assert s.image_shape == (3, 32, 32) and s.x_train.dtype == np.uint8
        assert len(s.y_train) + len(s.y_val) == 40 and len(s.y_val) == 8 and len(s.y_test) == 20
        data, labels = written["test_batch"]
        assert np.array_equal(s.x_test[3, 0].ravel(), data[3, :1024])  # red plane first, row-major
        assert np.array_equal(s.x_test[3, 2].ravel(), data[3, 2048:])
        assert s.y_test.tolist() == labels
    f = load_dataset_path("cifar10", tmp_path)
    assert f.x_train.dtype == np.float32 and 0.0 <= f.x_train.min() and f.x_train.max() <= 1.0
    assert open_dataset(f"cifar10:{tmp_path}").image_shape == (3, 32, 32)


def test_cifar10_errors(tmp_path):
    with pytest.raises(UserError, match="no such directory"):
        load_dataset_path("cifar10", tmp_path / "missing")
    with pytest.raises(UserError, match="no CIFAR-10 python batches"):
        load_dataset_path("cifar10", tmp_path)
    write_cifar(tmp_path, batches=1)
    (tmp_path / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(UserError, match="not a CIFAR-10 python batch") as err:
        load_dataset_path("cifar10", tmp_path)
    assert err.value.where.endswith("data_batch_1")
    with (tmp_path / "data_batch_1").open("wb") as fh:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(UserError, match="expected data"):
        load_dataset_path("cifar10", tmp_path)


def write_images(root, classes, per_class=5, size=(6, 5), mode="L", fmt="PNG", seed=0):
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
            img = Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode=mode)
            img.save(root / c / f"{i}.{fmt.lower()}", format=fmt)


def test_imagefolder_flat(tmp_path):
    write_images(tmp_path, ["cat", "ant", "bee"], per_class=10)
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    assert imagefolder_classes(tmp_path) == ["ant", "bee", "cat"]
    s = load_dataset_path("imagefolder", tmp_path, as_uint8=True)
    assert s.image_shape == (1, 5, 6)  # (C, H, W) of 6-wide, 5-high images
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (18, 6, 6)
    assert sorted(np.concatenate([s.y_train, s.y_val, s.y_test]).tolist()) == [0] * 10 + [1] * 10 + [2] * 10
    again = open_dataset(f"imagefolder:{tmp_path}", as_uint8=True)
    assert all(np.array_equal(a, b) for a, b in zip(s, again, strict=True))  # seeded split


def test_imagefolder_train_val_test_rgb_and_resize(tmp_path):
    write_images(tmp_path / "train", ["a", "b"], per_class=4, size=(8, 8))
    write_images(tmp_path / "train", ["b"], per_class=1, size=(8, 8), mode="RGB", fmt="JPEG", seed=1)
    write_images(tmp_path / "valid", ["a"], per_class=2, size=(8, 8))
    write_images(tmp_path / "test", ["a", "b"], per_class=3, size=(8, 8))
    s = load_dataset_path("imagefolder", tmp_path, as_uint8=True)
    assert s.image_shape == (3, 8, 8)  # one colour image makes them all RGB
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (9, 2, 6)
    assert s.y_val.tolist() == [0, 0] and s.y_test.tolist() == [0, 0, 0, 1, 1, 1]
    small = load_dataset_path("imagefolder", tmp_path, image_size=4)
    assert small.image_shape == (3, 4, 4) and small.x_train.dtype == np.float32


def test_imagefolder_errors(tmp_path):
    with pytest.raises(UserError, match="no class subfolders"):
        load_dataset_path("imagefolder", tmp_path)
    (tmp_path / "a").mkdir()
    with pytest.raises(UserError, match="no .png"):
        load_dataset_path("imagefolder", tmp_path)
    write_images(tmp_path, ["a"], per_class=2, size=(4, 4))
    write_images(tmp_path, ["b"], per_class=2, size=(5, 4))
    with pytest.raises(UserError, match="image is 5x4, others 4x4"):
        load_dataset_path("imagefolder", tmp_path)
    assert load_dataset_path("imagefolder", tmp_path, image_size=4).image_shape == (1, 4, 4)
    (tmp_path / "a" / "broken.png").write_bytes(b"\x89PNG nope")
    with pytest.raises(UserError, match="cannot read image") as err:
        load_dataset_path("imagefolder", tmp_path, image_size=4)
    assert err.value.where.endswith("broken.png")


@pytest.mark.parametrize("spec", ["cifar", "imagefolder", "cifar100:/x", "mnist:/x"])
def test_unknown_dataset_specs(spec):
    with pytest.raises(UserError, match="unknown dataset"):
        open_dataset(spec)
