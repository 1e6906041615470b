"""The training loop of every edgesplit CNN: Adam with a one-cycle learning rate over shuffled mini-batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily so that importing this module stays cheap
    import torch

# (stage or model name, optimiser steps done, steps in total for it)
ProgressFn = Callable[[str, int, int], None]


def as_tensor(x: np.ndarray) -> torch.Tensor:
    """A torch view of a numpy array (made contiguous first)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(x))


def fit(
    params: list,
    loss_fn: Callable[..., Any],
    arrays: tuple,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    name: str,
    progress: ProgressFn | None,
) -> list[float]:
    """Adam with a one-cycle learning rate (peak `lr`) over shuffled mini-batches of `arrays`; mean loss per epoch.

    `loss_fn` takes one mini-batch of each array; the batch order is seeded by `seed`.
    """
    import torch

    n = len(arrays[0])
    total = epochs * -(-n // batch_size)
    opt = torch.optim.Adam(params, lr=lr / 25)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total)
    gen = torch.Generator().manual_seed(seed)
    losses: list[float] = []
    step = 0
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        running, batches = 0.0, 0
        for i in range(0, n, batch_size):
            idx = perm[i : i + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(*(a[idx] for a in arrays))
            loss.backward()
            opt.step()
            sched.step()
            running += float(loss.detach())
            batches += 1
            step += 1
            if progress:
                progress(name, step, total)
        losses.append(running / batches)
    return losses


def fit_classifier(
    module: Any,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    name: str,
    progress: ProgressFn | None,
) -> list[float]:
    """`fit` a plain classifier `module` to labels `y` with cross-entropy (the cascade's CNNs, the split teacher)."""
    from torch import nn  # lazy, as above

    return fit(
        list(module.parameters()),
        lambda xb, yb: nn.functional.cross_entropy(module(xb), yb),
        (as_tensor(x), as_tensor(y)),
        epochs,
        batch_size,
        lr,
        seed,
        name,
        progress,
    )
