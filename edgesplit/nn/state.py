"""Saving and loading a module's weights (state_dict files on CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported lazily so that importing this module stays cheap
    from torch import nn


def load_state(module: nn.Module, path: Path) -> None:
    """Load the weights saved by `save_state` (or any `torch.save`d state_dict) into `module`, on CPU."""
    import torch

    module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))


def save_state(module: nn.Module, path: Path) -> None:
    """Write `module`'s state_dict to `path` atomically: the file is either whole or absent."""
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(module.state_dict(), tmp)
    tmp.replace(path)
