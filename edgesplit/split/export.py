"""Export of a trained split run as serving models: ONNX head/tail pairs with meta.json and card.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgesplit.nn.onnx import export_onnx
from edgesplit.split.checkpoint import SplitCheckpoint
from edgesplit.split.models import bottleneck_shape, head_tail_flops, stage_shapes, student_head, student_tail
from edgesplit.split.wire import u8_wire_bytes


def model_prefix(dataset: str) -> str:
    """Model id prefix of a dataset: its name, or the kind of a kind:path dataset."""
    return dataset.partition(":")[0] or "data"


def export_models(ckpt: SplitCheckpoint, out_dir: str | Path) -> list[Path]:
    """Write the serving models: `<out_dir>/<model_id>/{meta.json,head.onnx,tail.onnx,card.json}`.

    Two models: the student (`<prefix>-bottleneck-c<C>`, the tail takes the decoded bottleneck) and the teacher
    split at the same stage without a bottleneck (`<prefix>-split-raw`, the tail takes the stage's features).
    head.onnx / tail.onnx (ONNX, batch size free): float32 images (N, C, H, W) in [0, 1] -> float32
    (N, *input_shape), and float32 (N, *input_shape) -> logits (N, num_classes). meta.json is the server's
    contract; card.json adds
    what clients and simulators use (head input shape, head and tail FLOPs, wire bytes, test accuracies).
    """
    spec, k, bn = ckpt.spec, ckpt.split_after, ckpt.bottleneck
    prefix = model_prefix(ckpt.dataset)
    teacher, student = ckpt.teacher(), ckpt.student()
    test = ckpt.report.get("test", {})
    z_shape = bottleneck_shape(spec, k, bn)
    f_shape = stage_shapes(spec)[k]
    bn_flops, raw_flops = head_tail_flops(spec, k, bn), head_tail_flops(spec, k)
    models = [
        (
            f"{prefix}-bottleneck-c{bn.channels}",
            f"stage{k}-c{bn.channels}",
            student_head(student),
            student_tail(student),
            z_shape,
            {
                "head_flops": bn_flops[0],
                "tail_flops": bn_flops[1],
                "accuracy_float": test.get("student_float"),
                "accuracy_u8": test.get("student_u8"),
            },
        ),
        (
            f"{prefix}-split-raw",
            f"stage{k}",
            teacher[:k],
            teacher[k:],
            f_shape,
            {
                "head_flops": raw_flops[0],
                "tail_flops": raw_flops[1],
                "accuracy_float": test.get("teacher"),
                "accuracy_u8": test.get("teacher_split_u8", {}).get(str(k)),
            },
        ),
    ]
    written: list[Path] = []
    for model_id, split_id, head, tail, shape, acc in models:
        d = Path(out_dir) / model_id
        d.mkdir(parents=True, exist_ok=True)
        export_onnx(head, d / "head.onnx", spec.input_shape)
        export_onnx(tail, d / "tail.onnx", shape)
        meta = {
            "model_id": model_id,
            "split_id": split_id,
            "input_shape": list(shape),
            "input_dtype": "float32",
            "num_classes": spec.num_classes,
        }
        (d / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        card = {
            "head_input_shape": list(spec.input_shape),
            "head_input": "float32 images in [0, 1], channels first",
            "split_after_stage": k,
            "wire_bytes_u8": u8_wire_bytes(shape),
            "wire_bytes_f32": 4 * int(np.prod(shape)),
            "quantization": "per sample: edgesplit.rpc.codec.quantize_u8 on the head's output",
            **acc,
        }
        (d / "card.json").write_text(json.dumps(card, indent=2) + "\n")
        written.append(d)
    return written
