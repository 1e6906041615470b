"""BottleFit training of a split CNN: teacher, head distillation, KD fine-tuning, 8-bit bottleneck, checkpoints."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesplit.cascade.models import TorchClassifier
from edgesplit.datasets import Splits, open_dataset
from edgesplit.errors import UserError
from edgesplit.split.models import (
    BottleneckSpec,
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
from edgesplit.split.wire import QUANT_HEADER_BYTES, png_sizes, quantize_roundtrip, to_uint8, u8_wire_bytes

if TYPE_CHECKING:
    from torch import nn

REPORT_FILE = "split.json"
CONFIG_FILE = "config.json"
FORMAT_VERSION = 1
STAGE_FILES = {"teacher": "teacher.pt", "stage1": "stage1.pt", "stage2": "stage2.pt"}
VAL_PROBE = 2000  # validation images for the training diagnostics (feature MSE, accuracy before KD)

# (stage name, optimiser steps done, steps in total for that stage)
ProgressFn = Callable[[str, int, int], None]
LogFn = Callable[[str], None]


@dataclass
class SplitTrainConfig:
    """Every hyperparameter of a run in one place; None fields take input-size dependent defaults.

    Stage 1 (head distillation) trains head + encoder + decoder by MSE to the teacher's features at the split
    with the tail frozen; stage 2 fine-tunes decoder + tail by knowledge distillation with head and encoder
    frozen: loss = kd_alpha x CE(labels) + (1 - kd_alpha) x T^2 x KL(teacher || student) at temperature T.
    """

    dataset: str = "mnist"  # a name or kind:path, see `edgesplit.datasets.open_dataset`
    out: Path = Path("runs/split")
    stages: tuple[tuple[int, ...], ...] | None = None  # None: ((32,), (64,)) from 16 px up, else ((16,), (32,))
    hidden: int | None = None  # None: 128 from 16 px up, else 64
    dropout: float = 0.25
    split_after: int = 1
    bottleneck_channels: int = 4
    bottleneck_stride: int = 2
    decoder_hidden: int = 32
    epochs_teacher: int | None = None  # None: 4 from 16 px up, else 40
    epochs_head: int | None = None  # stage 1; None: 3 from 16 px up, else 40
    epochs_kd: int | None = None  # stage 2; None: 3 from 16 px up, else 40
    batch_size: int = 128
    lr_teacher: float = 3e-3  # peak of the one-cycle schedule (Adam)
    lr_head: float = 3e-3
    lr_kd: float = 1e-3
    kd_temperature: float = 1.0
    kd_alpha: float = 0.5
    threads: int = 2
    seed: int = 0
    limit_train: int | None = None
    resume: bool = False  # reuse the stage checkpoints in `out` whose settings are unchanged (see STAGE_KEYS)
    export: bool = True  # write TorchScript head/tail pairs to out/models/


@dataclass(frozen=True)
class Resolved:
    """The settings a run really used (defaults filled in); equal settings make stage checkpoints reusable."""

    dataset: str
    spec: SplitCNNSpec
    split_after: int
    bottleneck: BottleneckSpec
    epochs_teacher: int
    epochs_head: int
    epochs_kd: int
    batch_size: int
    lr_teacher: float
    lr_head: float
    lr_kd: float
    kd_temperature: float
    kd_alpha: float
    seed: int
    limit_train: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        d = asdict(self)
        d["spec"] = self.spec.to_dict()
        d["bottleneck"] = self.bottleneck.to_dict()
        return d


def resolve(cfg: SplitTrainConfig, data: Splits) -> Resolved:
    """Fill in the defaults for `data` and check the settings (UserError on bad ones)."""
    shape = data.image_shape
    big = min(shape[1:]) >= 16
    num_classes = int(max(data.y_train.max(), data.y_val.max(), data.y_test.max())) + 1
    stages = cfg.stages or (((32,), (64,)) if big else ((16,), (32,)))
    hidden = (128 if big else 64) if cfg.hidden is None else cfg.hidden
    epochs = {
        "epochs_teacher": cfg.epochs_teacher or (4 if big else 40),
        "epochs_head": cfg.epochs_head or (3 if big else 40),
        "epochs_kd": cfg.epochs_kd or (3 if big else 40),
    }
    if min(epochs.values()) < 1:
        raise UserError("epochs must be at least 1")
    if not 0.0 <= cfg.kd_alpha <= 1.0:
        raise UserError("must be within 0..1", where="kd_alpha")
    if cfg.kd_temperature <= 0:
        raise UserError("must be > 0", where="kd_temperature")
    try:
        spec = SplitCNNSpec(
            input_shape=(int(shape[0]), int(shape[1]), int(shape[2])),
            stages=tuple(tuple(s) for s in stages),
            hidden=hidden,
            dropout=cfg.dropout,
            num_classes=max(num_classes, 2),
            seed=cfg.seed,
        )
        bottleneck = BottleneckSpec(cfg.bottleneck_channels, cfg.bottleneck_stride, decoder_hidden=cfg.decoder_hidden)
    except ValueError as err:
        raise UserError(str(err)) from None
    if not 1 <= cfg.split_after <= spec.n_stages:
        raise UserError(f"must be within 1..{spec.n_stages} for this network", where="--split-after")
    return Resolved(
        dataset=cfg.dataset,
        spec=spec,
        split_after=cfg.split_after,
        bottleneck=bottleneck,
        batch_size=cfg.batch_size,
        lr_teacher=cfg.lr_teacher,
        lr_head=cfg.lr_head,
        lr_kd=cfg.lr_kd,
        kd_temperature=cfg.kd_temperature,
        kd_alpha=cfg.kd_alpha,
        seed=cfg.seed,
        limit_train=cfg.limit_train,
        **epochs,
    )


# --- training loops ---------------------------------------------------------------------------------------------


def _fit(
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
    """Adam with a one-cycle learning rate over shuffled mini-batches of `arrays`; mean loss per epoch."""
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


def _tensor(x: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x))


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
    from torch import nn

    teacher = build_teacher(spec).train()
    _fit(
        list(teacher.parameters()),
        lambda xb, yb: nn.functional.cross_entropy(teacher(xb), yb),
        (_tensor(x), _tensor(y)),
        epochs,
        batch_size,
        lr,
        spec.seed,
        "teacher",
        progress,
    )
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

    losses = _fit(list(front.parameters()), loss, (_tensor(x),), epochs, batch_size, lr, seed + 1, "stage 1", progress)
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
    losses = _fit(
        list(back.parameters()),
        lambda zb, yb, tb: kd_loss(back(zb), tb, yb, temperature, alpha),
        (_tensor(z), _tensor(y), _tensor(np.asarray(teacher_logits, dtype=np.float32))),
        epochs,
        batch_size,
        lr,
        seed + 2,
        "stage 2",
        progress,
    )
    student.eval()
    return losses


# --- evaluation -------------------------------------------------------------------------------------------------


def logits(module: nn.Module, x: np.ndarray) -> np.ndarray:
    """Logits (or any output) of `module` in eval mode, in chunks."""
    return TorchClassifier(module.eval()).logits(np.asarray(x, dtype=np.float32))


def split_logits(head: nn.Module, tail: nn.Module, x: np.ndarray, quantize: bool = False) -> np.ndarray:
    """tail(head(x)), with the head's output quantized to 8 bits per sample in between when `quantize`."""
    z = logits(head, x)
    return logits(tail, quantize_roundtrip(z) if quantize else z)


def accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of logits."""
    return float((scores.argmax(1) == y).mean()) if len(y) else float("nan")


def feature_mse(student: nn.Sequential, teacher: nn.Sequential, split_after: int, x: np.ndarray) -> float:
    """Mean squared error between the decoder's output and the teacher's features at the split."""
    from torch import nn

    front = nn.Sequential(student.head, student.encoder, student.decoder)
    return float(np.mean((logits(front, x) - logits(teacher[:split_after], x)) ** 2)) if len(x) else float("nan")


def evaluate(
    teacher: nn.Sequential, student: nn.Sequential, split_after: int, x: np.ndarray, y: np.ndarray
) -> dict[str, Any]:
    """Accuracies on (x, y): teacher; teacher split after each stage with 8-bit features; student float and
    8-bit bottleneck."""
    out: dict[str, Any] = {"samples": int(len(y)), "teacher": accuracy(logits(teacher, x), y)}
    out["teacher_split_u8"] = {
        str(k): accuracy(split_logits(teacher[:k], teacher[k:], x, quantize=True), y) for k in range(1, len(teacher))
    }
    head, tail = student_head(student), student_tail(student)
    out["student_float"] = accuracy(split_logits(head, tail, x), y)
    out["student_u8"] = accuracy(split_logits(head, tail, x, quantize=True), y)
    return out


# --- the whole run ----------------------------------------------------------------------------------------------


def _load_state(module: nn.Module, path: Path) -> None:
    import torch

    module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))


def _save_state(module: nn.Module, path: Path) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(module.state_dict(), tmp)
    tmp.replace(path)  # a stage checkpoint is either whole or absent


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
        _load_state(teacher, path)
        teacher.eval()
        say(f"teacher: resumed from {path}")
    else:
        teacher = train_teacher(spec, x_train, y_train, run.epochs_teacher, run.batch_size, run.lr_teacher, progress)
        _save_state(teacher, path)
    seconds["teacher"] = time.perf_counter() - t0
    _freeze(teacher)

    t0 = time.perf_counter()
    student = build_student(teacher, spec, k, bn, seed=run.seed)
    x_val, y_val = data.x_val[:VAL_PROBE], data.y_val[:VAL_PROBE]
    mse_before = feature_mse(student, teacher, k, x_val)
    path = out / STAGE_FILES["stage1"]
    stage1_losses: list[float] = []
    if path.is_file():
        _load_state(student, path)
        say(f"stage 1: resumed from {path}")
    else:
        stage1_losses = distill_head(
            student, teacher, k, x_train, run.epochs_head, run.batch_size, run.lr_head, run.seed, progress
        )
        _save_state(student, path)
    mse_after = feature_mse(student, teacher, k, x_val)
    seconds["stage1"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    path = out / STAGE_FILES["stage2"]
    stage2_losses: list[float] = []
    val_float_before_kd = accuracy(split_logits(student_head(student), student_tail(student), x_val), y_val)
    if path.is_file():
        _load_state(student, path)
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
        _save_state(student, path)
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


# --- checkpoints and export -------------------------------------------------------------------------------------


@dataclass
class SplitCheckpoint:
    """A trained run on disk: its report and lazily loaded teacher and student."""

    path: Path
    report: dict[str, Any]
    _teacher: Any = field(default=None, repr=False)
    _student: Any = field(default=None, repr=False)

    @property
    def spec(self) -> SplitCNNSpec:
        """The teacher's architecture."""
        return SplitCNNSpec.from_dict(self.report["settings"]["spec"])

    @property
    def bottleneck(self) -> BottleneckSpec:
        """The student's bottleneck."""
        return BottleneckSpec.from_dict(self.report["settings"]["bottleneck"])

    @property
    def split_after(self) -> int:
        """The stage after which the student's bottleneck sits."""
        return int(self.report["settings"]["split_after"])

    @property
    def dataset(self) -> str:
        """The dataset it was trained on (a name or kind:path)."""
        return str(self.report["dataset"])

    def teacher(self) -> nn.Sequential:
        """The teacher, loaded once, in eval mode."""
        if self._teacher is None:
            t = build_teacher(self.spec)
            _load_state(t, self.path / STAGE_FILES["teacher"])
            self._teacher = t.eval()
        return self._teacher

    def student(self) -> nn.Sequential:
        """The bottleneck student after stage 2, loaded once, in eval mode."""
        if self._student is None:
            s = build_student(build_teacher(self.spec), self.spec, self.split_after, self.bottleneck)
            _load_state(s, self.path / STAGE_FILES["stage2"])
            self._student = s.eval()
        return self._student


def load_split_checkpoint(path: str | Path) -> SplitCheckpoint:
    """Open a directory written by `train_split`."""
    p = Path(path)
    f = p / REPORT_FILE
    if not f.is_file():
        raise UserError(f"no trained split model here (missing {REPORT_FILE}); run `edgesplit split train`", str(p))
    report = json.loads(f.read_text())
    if report.get("format") != FORMAT_VERSION:
        raise UserError(f"unsupported checkpoint format {report.get('format')!r}", str(f))
    for name in ("teacher", "stage2"):
        if not (p / STAGE_FILES[name]).is_file():
            raise UserError(f"missing {STAGE_FILES[name]}", str(p))
    return SplitCheckpoint(p, report)


def evaluate_checkpoint(ckpt: SplitCheckpoint, dataset: str | None = None, limit: int | None = None) -> dict[str, Any]:
    """Test accuracies of a checkpoint (see `evaluate`) on its dataset or another one of the same image shape."""
    data = open_dataset(dataset or ckpt.dataset)
    if tuple(data.image_shape) != tuple(ckpt.spec.input_shape):
        raise UserError(f"images are {data.image_shape}, the model takes {ckpt.spec.input_shape}", "--dataset")
    x, y = data.x_test[:limit], data.y_test[:limit]
    return evaluate(ckpt.teacher(), ckpt.student(), ckpt.split_after, x, y)


def model_prefix(dataset: str) -> str:
    """Model id prefix of a dataset: its name, or the kind of a kind:path dataset."""
    return dataset.partition(":")[0] or "data"


def export_models(ckpt: SplitCheckpoint, out_dir: str | Path) -> list[Path]:
    """Write the serving models: `<out_dir>/<model_id>/{meta.json,head.pt,tail.pt,card.json}`.

    Two models: the student (`<prefix>-bottleneck-c<C>`, the tail takes the decoded bottleneck) and the teacher
    split at the same stage without a bottleneck (`<prefix>-split-raw`, the tail takes the stage's features).
    head.pt / tail.pt are TorchScript: float32 images (N, C, H, W) in [0, 1] -> float32 (N, *input_shape), and
    float32 (N, *input_shape) -> logits (N, num_classes). meta.json is the server's contract; card.json adds
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
        _script(head, d / "head.pt")
        _script(tail, d / "tail.pt")
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


def _script(module: nn.Module, path: Path) -> None:
    import copy
    import warnings

    import torch

    with warnings.catch_warnings():  # TorchScript is deprecated in torch 2.13 but is the serving contract
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit")
        scripted = torch.jit.script(copy.deepcopy(module).eval())
        tmp = path.with_suffix(".tmp")
        torch.jit.save(scripted, str(tmp))
    tmp.replace(path)
