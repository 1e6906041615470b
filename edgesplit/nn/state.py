"""Saving and loading a module's weights (state_dict files on CPU)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgesplit.errors import UserError

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


def read_versioned(folder: Path, name: str, version: int, missing: str) -> dict[str, Any]:
    """The JSON file `name` of a training output `folder`, checked to be of format `version`; `missing` is the
    error when the folder holds none (`{name}` in it names the file)."""
    f = folder / name
    if not f.is_file():
        raise UserError(missing.format(name=name), str(folder))
    data = json.loads(f.read_text())
    if data.get("format") != version:
        raise UserError(f"unsupported checkpoint format {data.get('format')!r}", str(f))
    return data
