"""CNN specs: FLOP counts by hand, batch-norm folding, and the datasets the cascade trains on."""

from __future__ import annotations

import numpy as np
import pytest

from edgesplit.cascade.models import POOL, CNNSpec, build_cnn, count_flops, fold_batchnorm, large_spec, small_pool
from edgesplit.datasets import load_dataset
from edgesplit.errors import UserError
from edgesplit.nn.classifier import TorchClassifier


def test_flops_by_hand():
    spec = CNNSpec("t", (4, POOL, 8, POOL), kernel=3, hidden=16)
    conv1 = 28 * 28 * 4 * 1 * 9
    conv2 = 14 * 14 * 8 * 4 * 9
    head = 8 * 7 * 7 * 16 + 16 * 10
    assert count_flops(spec, (1, 28, 28)) == 2 * (conv1 + conv2 + head)
    assert count_flops(CNNSpec("u", (2,), kernel=1), (1, 2, 2), num_classes=3) == 2 * (2 * 2 * 2 + 8 * 3)
    with pytest.raises(ValueError):
        count_flops(CNNSpec("v", (4, POOL, POOL, POOL, POOL)), (1, 8, 8))


def test_pool_is_small_and_the_large_model_is_not():
    large = count_flops(large_spec(28), (1, 28, 28))
    small = [count_flops(s, (1, 28, 28)) for s in small_pool(28)]
    assert len(small) >= 4 and max(small) * 5 < large
    assert len({s.seed for s in small_pool(28)}) == len(small)


def test_spec_round_trips_through_json():
    spec = small_pool(28)[0]
    assert CNNSpec.from_dict(spec.to_dict()) == spec


def test_folded_batchnorm_gives_the_same_outputs():
    import torch

    spec = CNNSpec("bn", (6, POOL, 12, POOL), kernel=3, hidden=20, batchnorm=True, dropout=0.5, seed=3)
    module = build_cnn(spec, (1, 8, 8))
    torch.manual_seed(0)
    for m in module.modules():  # non-trivial running statistics and affine parameters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    module.eval()
    folded = fold_batchnorm(module)
    assert not any(isinstance(m, torch.nn.BatchNorm2d | torch.nn.Dropout) for m in folded)
    x = np.random.default_rng(0).random((5, 1, 8, 8), dtype=np.float32)
    np.testing.assert_allclose(TorchClassifier(folded)(x), TorchClassifier(module)(x), atol=1e-5)


def test_digits_splits():
    x_train, y_train, x_val, y_val, x_test, y_test = d = load_dataset("digits")
    assert d.image_shape == (1, 8, 8)
    assert len(x_train) + len(x_val) + len(x_test) == 1797
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert y_train.dtype == np.int64 and set(np.unique(y_test)) == set(range(10))
    raw = load_dataset("digits", as_uint8=True)
    assert raw.x_val.dtype == np.uint8 and np.allclose(raw.x_val / 255.0, x_val)
    with pytest.raises(UserError):
        load_dataset("cifar")


@pytest.mark.slow
def test_mnist_is_decoded_once_and_cached(tmp_path, monkeypatch):
    pytest.importorskip("mnist")
    monkeypatch.setenv("EDGESPLIT_CACHE", str(tmp_path))
    first = load_dataset("mnist", as_uint8=True)
    assert [len(a) for a in first[::2]] == [50_000, 10_000, 10_000]
    assert first.image_shape == (1, 28, 28)
    assert (tmp_path / "mnist-v1.npz").is_file()
    again = load_dataset("mnist", as_uint8=True)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
