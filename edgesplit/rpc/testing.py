"""Tiny random split models written in the model directory format, for tests and benchmarks."""

from __future__ import annotations

import json
import warnings
from pathlib import Path


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
    """Write `root/<model_id>/{meta.json, tail.pt, head.pt}` of a random two-conv CNN; returns the subdirectory.

    The head halves the image size, so the tail's input is `[bottleneck_channels, H/2, W/2]`.
    """
    import torch
    from torch import nn

    torch.manual_seed(seed)
    c, h, w = image_shape
    input_shape = [bottleneck_channels, h // 2, w // 2]
    head = nn.Sequential(nn.Conv2d(c, bottleneck_channels, 3, stride=2, padding=1), nn.ReLU())
    tail = nn.Sequential(
        nn.Conv2d(bottleneck_channels, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, num_classes),
    )
    sub = Path(root) / model_id
    sub.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit")  # still the format
        torch.jit.save(torch.jit.script(tail.eval()), str(sub / "tail.pt"))
        if with_head:
            torch.jit.save(torch.jit.script(head.eval()), str(sub / "head.pt"))
    meta = {
        "model_id": model_id,
        "split_id": split_id,
        "input_shape": input_shape,
        "input_dtype": "float32",
        "num_classes": num_classes,
    }
    (sub / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return sub


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
