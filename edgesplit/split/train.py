"""BottleFit training of a split CNN: teacher, head distillation, KD fine-tuning, stage checkpoints, the report."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesplit.datasets import Splits, open_dataset
from edgesplit.errors import UserError
from edgesplit.nn.classifier import TorchClassifier, accuracy, logits
from edgesplit.nn.fit import ProgressFn, as_tensor, fit, fit_classifier
from edgesplit.nn.state import load_state, save_state
from edgesplit.split.checkpoint import CONFIG_FILE, FORMAT_VERSION, REPORT_FILE, STAGE_FILES, SplitCheckpoint
from edgesplit.split.config import Resolved, SplitTrainConfig, resolve
from edgesplit.split.evaluate import evaluate, feature_mse, split_logits
from edgesplit.split.export import export_models
from edgesplit.split.models import (
    SplitCNNSpec,
    bottleneck_shape,
    build_student,
    build_teacher,
    count_flops,
    head_tail_flops,
    stage_shapes,
    student_head,
    student_tail,
)
from edgesplit.split.wire import QUANT_HEADER_BYTES, png_sizes, to_uint8, u8_wire_bytes

if TYPE_CHECKING:  # torch is imported lazily so that importing this module stays cheap
    from torch import nn

VAL_PROBE = 2000  # validation images for the training diagnostics (feature MSE, accuracy before KD)

LogFn = Callable[[str], None]


# --- training loops ---------------------------------------------------------------------------------------------


def _freeze(module: nn.Module) -> None:
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)


def train_teacher(
    spec: SplitCNNSpec,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int,
    batch_size: int = 128,
    lr: float = 3e-3,
    progress: ProgressFn | None = None,
) -> nn.Sequential:
    """The plain network trained with cross-entropy; deterministic given `spec.seed`."""
    teacher = build_teacher(spec).train()
    fit_classifier(teacher, x, y, epochs, batch_size, lr, spec.seed, "teacher", progress)
    return teacher.eval()


def distill_head(
    student: nn.Sequential,
    teacher: nn.Sequential,
    split_after: int,
    x: np.ndarray,
    epochs: int,
    batch_size: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> list[float]:
    """BottleFit stage 1: head + encoder + decoder learn to reproduce the teacher's features at the split (MSE).

    The student's tail (the teacher's, copied) stays frozen: no gradients, batch-norm statistics untouched.
    Returns the mean training MSE per epoch.
    """
    import torch
    from torch import nn

    target = teacher[:split_after]
    _freeze(target)
    _freeze(student.tail)
    front = nn.Sequential(student.head, student.encoder, student.decoder).train()
    for p in front.parameters():
        p.requires_grad_(True)

    def loss(xb):
        with torch.no_grad():
            want = target(xb)
        return nn.functional.mse_loss(front(xb), want)

    losses = fit(list(front.parameters()), loss, (as_tensor(x),), epochs, batch_size, lr, seed + 1, "stage 1", progress)
    student.eval()
    return losses


def kd_loss(student_logits, teacher_logits, labels, temperature: float = 1.0, alpha: float = 0.5):
    """alpha x CE(student, labels) + (1 - alpha) x T^2 x KL(softmax(teacher / T) || softmax(student / T))."""
    from torch import nn

    t = temperature
    soft = nn.functional.kl_div(
        nn.functional.log_softmax(student_logits / t, dim=1),
        nn.functional.log_softmax(teacher_logits / t, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    return alpha * nn.functional.cross_entropy(student_logits, labels) + (1 - alpha) * t * t * soft


def finetune_kd(
    student: nn.Sequential,
    x: np.ndarray,
    y: np.ndarray,
    teacher_logits: np.ndarray,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    temperature: float = 1.0,
    alpha: float = 0.5,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> list[float]:
    """BottleFit stage 2: decoder + tail fine-tuned by knowledge distillation; head and encoder frozen.

    Since the device side is frozen, the bottleneck of every training image is computed once and the epochs
    run on those. Returns the mean training loss per epoch.
    """
    from torch import nn

    _freeze(student.head)
    _freeze(student.encoder)
    z = TorchClassifier(student_head(student)).logits(np.asarray(x, dtype=np.float32))
    back = nn.Sequential(student.decoder, student.tail).train()
    for p in back.parameters():
        p.requires_grad_(True)
    losses = fit(
        list(back.parameters()),
        lambda zb, yb, tb: kd_loss(back(zb), tb, yb, temperature, alpha),
        (as_tensor(z), as_tensor(y), as_tensor(np.asarray(teacher_logits, dtype=np.float32))),
        epochs,
        batch_size,
        lr,
        seed + 2,
        "stage 2",
        progress,
    )
    student.eval()
    return losses


# --- the whole run ----------------------------------------------------------------------------------------------


# Settings each stage depends on (with those of the stages before it): a stage checkpoint is reusable when
# they are unchanged, so that e.g. another bottleneck reuses the teacher.
STAGE_KEYS = {
    "teacher": ("dataset", "spec", "epochs_teacher", "batch_size", "lr_teacher", "seed", "limit_train"),
    "stage1": ("split_after", "bottleneck", "epochs_head", "lr_head"),
    "stage2": ("epochs_kd", "lr_kd", "kd_temperature", "kd_alpha"),
}


def reusable_stages(previous: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """The leading stages whose settings (and their predecessors') are the same in both runs."""
    same: list[str] = []
    for stage, keys in STAGE_KEYS.items():
        if any(previous.get(key) != settings.get(key) for key in keys):
            break
        same.append(stage)
    return same


def train_split(cfg: SplitTrainConfig, progress: ProgressFn | None = None, log: LogFn | None = None) -> dict[str, Any]:
    """Train the teacher, then the bottleneck student (stages 1 and 2), evaluate, save and export.

    Writes `out/config.json`, one state_dict per stage (`teacher.pt`, `stage1.pt`, `stage2.pt`), the report
    `out/split.json` (returned) and, with `cfg.export`, the serving models under `out/models/`.
    """
    import torch

    say = log or (lambda _msg: None)
    if cfg.threads < 1:
        raise UserError("must be at least 1", where="--threads")
    if cfg.batch_size < 1:
        raise UserError("must be at least 1", where="--batch-size")
    torch.set_num_threads(cfg.threads)
    data = open_dataset(cfg.dataset)
    run = resolve(cfg, data)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = run.to_dict()
    config_path = out / CONFIG_FILE
    previous = json.loads(config_path.read_text()) if cfg.resume and config_path.is_file() else None
    reusable = reusable_stages(previous, settings) if previous is not None else []
    for i, stage in enumerate(reusable):  # a stage retrained invalidates every later one
        if not (out / STAGE_FILES[stage]).is_file():
            reusable = reusable[:i]
            break
    if previous is not None and len(reusable) < len(STAGE_KEYS):
        again = [stage for stage in STAGE_KEYS if stage not in reusable]
        say(f"--resume: {', '.join(again)} changed or missing in {out}: training {'them' if len(again) > 1 else 'it'}")
    for stage, name in STAGE_FILES.items():
        if stage not in reusable:
            (out / name).unlink(missing_ok=True)
    config_path.write_text(json.dumps(settings, indent=2) + "\n")

    x_train, y_train = data.x_train, data.y_train
    if run.limit_train:
        keep = np.random.default_rng(run.seed).permutation(len(y_train))[: run.limit_train]
        x_train, y_train = x_train[keep], y_train[keep]
    spec, k, bn = run.spec, run.split_after, run.bottleneck
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    path = out / STAGE_FILES["teacher"]
    if path.is_file():
        teacher = build_teacher(spec)
        load_state(teacher, path)
        teacher.eval()
        say(f"teacher: resumed from {path}")
    else:
        teacher = train_teacher(spec, x_train, y_train, run.epochs_teacher, run.batch_size, run.lr_teacher, progress)
        save_state(teacher, path)
    seconds["teacher"] = time.perf_counter() - t0
    _freeze(teacher)

    t0 = time.perf_counter()
    student = build_student(teacher, spec, k, bn, seed=run.seed)
    x_val, y_val = data.x_val[:VAL_PROBE], data.y_val[:VAL_PROBE]
    mse_before = feature_mse(student, teacher, k, x_val)
    path = out / STAGE_FILES["stage1"]
    stage1_losses: list[float] = []
    if path.is_file():
        load_state(student, path)
        say(f"stage 1: resumed from {path}")
    else:
        stage1_losses = distill_head(
            student, teacher, k, x_train, run.epochs_head, run.batch_size, run.lr_head, run.seed, progress
        )
        save_state(student, path)
    mse_after = feature_mse(student, teacher, k, x_val)
    seconds["stage1"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    path = out / STAGE_FILES["stage2"]
    stage2_losses: list[float] = []
    val_float_before_kd = accuracy(split_logits(student_head(student), student_tail(student), x_val), y_val)
    if path.is_file():
        load_state(student, path)
        say(f"stage 2: resumed from {path}")
    else:
        teacher_logits = logits(teacher, x_train)
        stage2_losses = finetune_kd(
            student,
            x_train,
            y_train,
            teacher_logits,
            run.epochs_kd,
            run.batch_size,
            run.lr_kd,
            run.kd_temperature,
            run.kd_alpha,
            run.seed,
            progress,
        )
        save_state(student, path)
    student.eval()
    seconds["stage2"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    report = _report(run, data, teacher, student, len(y_train))
    report["training"] = {
        "stage1_mse_val": {"before": mse_before, "after": mse_after, "samples": int(len(y_val))},
        "stage1_loss_per_epoch": stage1_losses,
        "stage2_loss_per_epoch": stage2_losses,
        "val_student_float_before_kd": val_float_before_kd,
        "resumed": reusable,
    }
    seconds["evaluate"] = time.perf_counter() - t0
    report["seconds"] = seconds
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    if cfg.export:
        ckpt = SplitCheckpoint(out, report, _teacher=teacher, _student=student)
        report["exported"] = [str(p) for p in export_models(ckpt, out / "models")]
        (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return report


def _report(
    run: Resolved, data: Splits, teacher: nn.Sequential, student: nn.Sequential, train_samples: int
) -> dict[str, Any]:
    spec, k, bn = run.spec, run.split_after, run.bottleneck
    raw_bytes = int(np.prod(spec.input_shape))  # one byte a pixel value
    z_shape = bottleneck_shape(spec, k, bn)
    pngs = png_sizes(to_uint8(data.x_test)) if spec.input_shape[0] in (1, 3) else np.zeros(0)
    splits = {}
    for i, shape in enumerate(stage_shapes(spec)[1:], start=1):
        head, tail = head_tail_flops(spec, i)
        splits[str(i)] = {
            "shape": list(shape),
            "f32_bytes": 4 * int(np.prod(shape)),
            "u8_wire_bytes": u8_wire_bytes(shape),
            "head_flops": head,
            "tail_flops": tail,
        }
    head_flops, tail_flops = head_tail_flops(spec, k, bn)
    return {
        "format": FORMAT_VERSION,
        "dataset": run.dataset,
        "settings": run.to_dict(),
        "train_samples": train_samples,
        "num_classes": spec.num_classes,
        "test": evaluate(teacher, student, k, data.x_test, data.y_test),
        "bytes": {
            "raw_input": raw_bytes,
            "png_mean": float(pngs.mean()) if len(pngs) else None,
            "png_median": float(np.median(pngs)) if len(pngs) else None,
            "bottleneck_shape": list(z_shape),
            "bottleneck_payload": int(np.prod(z_shape)),
            "bottleneck_wire": u8_wire_bytes(z_shape),
            "quant_header": QUANT_HEADER_BYTES,
            "quantization": "per sample, per tensor affine uint8 (float32 scale + uint8 zero point)",
            "bottleneck_wire_vs_raw": u8_wire_bytes(z_shape) / raw_bytes,
            "bottleneck_payload_vs_raw": int(np.prod(z_shape)) / raw_bytes,
        },
        "flops": {
            "teacher": count_flops(spec),
            "student_head": head_flops,
            "student_tail": tail_flops,
            "splits": splits,
        },
        "params": {
            "teacher": sum(p.numel() for p in teacher.parameters()),
            "student": sum(p.numel() for p in student.parameters()),
        },
    }
