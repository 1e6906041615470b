"""Export of a torch module to one ONNX file with a free batch dimension, checked against torch before it is kept.

ONNX Runtime serves the files (`edgesplit.rpc.models`); torch is needed only here, at export. The exporter is
torch's `torch.export`-based one (the TorchScript-based exporter and TorchScript itself are deprecated).
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from torch import nn

OPSET = 18
INPUT_NAME, OUTPUT_NAME = "x", "y"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter prints progress lines and logs that torchvision is missing: neither is news to a user."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch._dynamo", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def export_onnx(module: nn.Module, path: str | Path, sample_shape: Sequence[int], *, seed: int = 0) -> Path:
    """Write `module` (float32 `[N, *sample_shape]` -> float32 `[N, ...]`) to `path` as ONNX, N free.

    The file is written next to `path` and moved there only after ONNX Runtime has run it on a random batch
    and matched torch's output (max abs error below 1e-4 of the output's scale), so a file that exists is one that
    serves what torch computed.
    """
    import onnxruntime as ort
    import torch

    path = Path(path)
    model = copy.deepcopy(module).eval()
    gen = torch.Generator().manual_seed(seed)
    example = torch.rand((2, *sample_shape), generator=gen)  # batch 2: batch 1 would be specialised away
    tmp = path.with_name(path.name + ".tmp")
    with _quiet():
        torch.onnx.export(
            model,
            (example,),
            str(tmp),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes=({0: torch.export.Dim("batch", min=1)},),
            opset_version=OPSET,
            external_data=False,
            dynamo=True,
            verbose=False,
        )
    check = torch.rand((3, *sample_shape), generator=gen)
    with torch.inference_mode():
        want = model(check).numpy()
    session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: check.numpy()})[0]
    err = float(np.max(np.abs(got - want))) if want.size else 0.0
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    if got.shape != want.shape or err > 1e-4 * scale:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"ONNX export of {type(module).__name__} differs from torch (max abs error {err:.3g})")
    tmp.replace(path)
    return path
