"""Split models on disk: `DIR/<model_id>/{meta.json, tail.onnx[, head.onnx]}` loaded for serving with ONNX Runtime.

No torch here: the server and the device side of the real-time mode run the files with onnxruntime, as an edge box
or a Jetson / Raspberry Pi class board would (`edgesplit.nn.onnx` writes them).
"""

from __future__ import annotations

import json
import math
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
    module: OnnxModule

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.module(x)


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


class OnnxModule:
    """One ONNX file run by ONNX Runtime on the CPU: float32 `[N, ...]` in, its single output as float32.

    `threads` is ONNX Runtime's intra-op thread count: 1 by default, because servers and shards run many requests
    side by side and oversubscribed cores cost more than they give (the torch code this replaced did the same).
    """

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # errors only: its warnings are about graph optimisations, not the user
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own Fail / InvalidProtobuf types
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise UserError(f"not an ONNX model: {first}", where=str(path)) from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise UserError(
                f"an ONNX model here has one input and one output, this one has {len(inputs)} and {len(outputs)}",
                where=str(path),
            )
        self.input_name = inputs[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(x, dtype=np.float32)})[0]
        return out.astype(np.float32, copy=False)


def load_tail(model_dir: Path) -> TailModel:
    """The tail of one model subdirectory (`meta.json` + `tail.onnx`)."""
    model_dir = Path(model_dir)
    meta = _read_meta(model_dir / "meta.json")
    tail = _model_file(model_dir, "tail")
    return TailModel(
        model_id=meta["model_id"],
        split_id=meta["split_id"],
        input_shape=tuple(meta["input_shape"]),
        input_dtype=meta["input_dtype"],
        num_classes=meta["num_classes"],
        module=OnnxModule(tail),
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
        raise UserError("no models found (expected <model_id>/meta.json and tail.onnx)", where=str(root))
    return models


class HeadModel:
    """The device half of a split model: float32 images `[N, C, H, W]` -> bottleneck `[N, *input_shape]`."""

    def __init__(self, meta: dict[str, Any], module: OnnxModule) -> None:
        self.model_id: str = meta["model_id"]
        self.split_id: str = meta["split_id"]
        self.output_shape: tuple[int, ...] = tuple(meta["input_shape"])
        self.module = module

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.module(images)


def load_head(model_dir: str | Path) -> HeadModel:
    """The head of one model subdirectory (`meta.json` + `head.onnx`), for the device side."""
    model_dir = Path(model_dir)
    meta = _read_meta(model_dir / "meta.json")
    return HeadModel(meta, OnnxModule(_model_file(model_dir, "head")))


def _model_file(model_dir: Path, part: str) -> Path:
    path = model_dir / f"{part}.onnx"
    if not path.is_file():
        old = " (TorchScript .pt files are no longer served: re-export with `edgesplit split export`)"
        hint = old if (model_dir / f"{part}.pt").is_file() else ""
        raise UserError(f"{part}.onnx is missing{hint}", where=str(model_dir))
    return path
