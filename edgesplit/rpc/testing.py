"""Tiny random split models written in the model directory format, for tests and benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def make_model_dir(
    root: str | Path,
    model_id: str = "tiny",
    *,
    split_id: str = "s1",
    image_shape: tuple[int, int, int] = (3, 16, 16),
    bottleneck_channels: int = 4,
    num_classes: int = 10,
    seed: int = 0,
    with_head: bool = True,
) -> Path:
    """Write `root/<model_id>/{meta.json, tail.onnx, head.onnx}` of a random two-conv CNN; returns the subdirectory.

    The head (3x3 conv, stride 2, ReLU) halves the image size, so the tail's input is
    `[bottleneck_channels, H/2, W/2]`; the tail is a 3x3 conv to 8 channels, ReLU, global average pool and a linear
    layer. The graphs are written with the `onnx` package directly (no torch, in milliseconds).
    """
    rng = np.random.default_rng(seed)
    c, h, w = image_shape
    input_shape = [bottleneck_channels, h // 2, w // 2]
    sub = Path(root) / model_id
    sub.mkdir(parents=True, exist_ok=True)
    head = [("Conv", (bottleneck_channels, c, 3, 3), {"strides": [2, 2], "pads": [1, 1, 1, 1]}), ("Relu", None, {})]
    tail = [
        ("Conv", (8, bottleneck_channels, 3, 3), {"pads": [1, 1, 1, 1]}),
        ("Relu", None, {}),
        ("GlobalAveragePool", None, {}),
        ("Flatten", None, {}),
        ("Gemm", (num_classes, 8), {"transB": 1}),
    ]
    _write_graph(tail, sub / "tail.onnx", rng)
    if with_head:
        _write_graph(head, sub / "head.onnx", rng)
    meta = {
        "model_id": model_id,
        "split_id": split_id,
        "input_shape": input_shape,
        "input_dtype": "float32",
        "num_classes": num_classes,
    }
    (sub / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return sub


def _write_graph(layers: list[tuple[str, tuple[int, ...] | None, dict]], path: Path, rng: np.random.Generator) -> None:
    """A chain of ONNX ops; a layer with a weight shape gets that weight (He-scaled normal) and a zero bias."""
    from onnx import TensorProto, helper, numpy_helper, save

    nodes, weights, x = [], [], "x"
    for i, (op, wshape, attrs) in enumerate(layers):
        y = "y" if i == len(layers) - 1 else f"t{i}"
        inputs = [x]
        if wshape is not None:
            fan_in = int(np.prod(wshape[1:]))
            wt = (rng.standard_normal(wshape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
            weights += [
                numpy_helper.from_array(wt, f"w{i}"),
                numpy_helper.from_array(np.zeros(wshape[0], np.float32), f"b{i}"),
            ]
            inputs += [f"w{i}", f"b{i}"]
        nodes.append(helper.make_node(op, inputs, [y], **attrs))
        x = y
    graph = helper.make_graph(
        nodes,
        path.stem,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", None, None, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10  # what onnxruntime 1.20, the lowest declared, reads
    save(model, str(path))


def self_signed_cert(directory: str | Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """(cert.pem, key.pem) of a one-day self-signed certificate for `host` and localhost, made with openssl."""
    import shutil
    import subprocess

    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed to make a test certificate")
    cert, key = Path(directory) / "cert.pem", Path(directory) / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", f"subjectAltName=DNS:localhost,IP:{host}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key
