"""Split models on disk: `DIR/<model_id>/{meta.json, tail.pt[, head.pt]}` (TorchScript) loaded for serving."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.errors import UserError

META_KEYS = {"model_id": str, "split_id": str, "input_shape": list, "input_dtype": str, "num_classes": int}
ECHO_MODEL_ID = "_echo"


@dataclass
class TailModel:
    """The server half of a split model: float32 `[N, *input_shape]` -> logits `[N, num_classes]`."""

    model_id: str
    split_id: str
    input_shape: tuple[int, ...]
    input_dtype: str
    num_classes: int
    module: Any  # torch.jit.ScriptModule (torch is imported only when a model is loaded)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            # from_numpy needs a writable array; request buffers are read-only, so copy those once.
            t = torch.from_numpy(x if x.flags.writeable else x.copy())
            out = self.module(t)
        return out.detach().numpy().astype(np.float32, copy=False)


@dataclass
class EchoModel:
    """A benchmark target that does no compute: its "logits" are the element count of each sample.

    The server still decodes and checks the tensor (byte length, dtype); the answer is small, so what is
    measured is the tensor's way to the server. Served only when asked for (`EdgeServer(echo=True)`).
    """

    model_id: str = ECHO_MODEL_ID
    split_id: str = ""
    input_shape: tuple[int, ...] | None = None  # any shape
    input_dtype: str = "float32"
    num_classes: int = 1

    def __call__(self, x: np.ndarray) -> np.ndarray:
        per_sample = math.prod(x.shape[1:])
        return np.full((x.shape[0], 1), per_sample, dtype=np.float32)


def _read_meta(meta_path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"cannot read model metadata: {err}", where=str(meta_path)) from None
    if not isinstance(meta, dict):
        raise UserError("meta.json must hold a JSON object", where=str(meta_path))
    for key, kind in META_KEYS.items():
        if not isinstance(meta.get(key), kind):
            raise UserError(f"field {key!r} missing or not a {kind.__name__}", where=str(meta_path))
    shape = meta["input_shape"]
    if not shape or not all(isinstance(d, int) and d > 0 for d in shape):
        raise UserError(f"input_shape must be positive integers, got {shape}", where=str(meta_path))
    if meta["input_dtype"] != "float32":
        raise UserError(f"input_dtype must be float32, got {meta['input_dtype']!r}", where=str(meta_path))
    if meta["num_classes"] < 1:
        raise UserError("num_classes must be at least 1", where=str(meta_path))
    if meta["model_id"] != meta_path.parent.name:
        raise UserError(
            f"model_id {meta['model_id']!r} differs from its directory name {meta_path.parent.name!r}",
            where=str(meta_path),
        )
    return meta


def _load_script(path: Path) -> Any:
    import torch

    try:
        with warnings.catch_warnings():
            # torch 2.9+ marks TorchScript deprecated; it is still the format of the model directory contract
            warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit")
            return torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as err:  # torch raises RuntimeError or its own types for a bad archive
        raise UserError(f"not a TorchScript archive: {str(err).splitlines()[0]}", where=str(path)) from None


def load_tail(model_dir: Path) -> TailModel:
    """The tail of one model subdirectory (`meta.json` + `tail.pt`)."""
    model_dir = Path(model_dir)
    meta = _read_meta(model_dir / "meta.json")
    tail = model_dir / "tail.pt"
    if not tail.is_file():
        raise UserError("tail.pt is missing", where=str(model_dir))
    return TailModel(
        model_id=meta["model_id"],
        split_id=meta["split_id"],
        input_shape=tuple(meta["input_shape"]),
        input_dtype=meta["input_dtype"],
        num_classes=meta["num_classes"],
        module=_load_script(tail),
    )


def load_model_dir(path: str | Path) -> dict[str, TailModel]:
    """Every model under `path` (each subdirectory with a meta.json), by model id."""
    root = Path(path)
    if not root.is_dir():
        raise UserError("models directory not found", where=str(root))
    models = {}
    for sub in sorted(p for p in root.iterdir() if (p / "meta.json").is_file()):
        model = load_tail(sub)
        models[model.model_id] = model
    if not models:
        raise UserError("no models found (expected <model_id>/meta.json and tail.pt)", where=str(root))
    return models


class HeadModel:
    """The device half of a split model: float32 images `[N, C, H, W]` -> bottleneck `[N, *input_shape]`."""

    def __init__(self, meta: dict[str, Any], module: Any) -> None:
        self.model_id: str = meta["model_id"]
        self.split_id: str = meta["split_id"]
        self.output_shape: tuple[int, ...] = tuple(meta["input_shape"])
        self.module = module

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.module(torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)))
        return out.detach().numpy().astype(np.float32, copy=False)


def load_head(model_dir: str | Path) -> HeadModel:
    """The head of one model subdirectory (`meta.json` + `head.pt`), for the device side."""
    model_dir = Path(model_dir)
    meta = _read_meta(model_dir / "meta.json")
    head = model_dir / "head.pt"
    if not head.is_file():
        raise UserError("head.pt is missing", where=str(model_dir))
    return HeadModel(meta, _load_script(head))
