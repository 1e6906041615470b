"""The settings of a split-training run: the hyperparameters given, and those resolved for a dataset."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgesplit.datasets import Splits
from edgesplit.errors import UserError
from edgesplit.split.models import BottleneckSpec, SplitCNNSpec


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
    export: bool = True  # write ONNX head/tail pairs to out/models/


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
