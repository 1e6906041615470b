"""A trained split run on disk: its file layout, its report, and the teacher and student it holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgesplit.datasets import open_dataset
from edgesplit.errors import UserError
from edgesplit.nn.state import load_state, read_versioned
from edgesplit.split.evaluate import evaluate
from edgesplit.split.models import BottleneckSpec, SplitCNNSpec, build_student, build_teacher

if TYPE_CHECKING:  # torch is imported lazily so that importing this module stays cheap
    from torch import nn

REPORT_FILE = "split.json"
CONFIG_FILE = "config.json"
FORMAT_VERSION = 1
STAGE_FILES = {"teacher": "teacher.pt", "stage1": "stage1.pt", "stage2": "stage2.pt"}


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
            load_state(t, self.path / STAGE_FILES["teacher"])
            self._teacher = t.eval()
        return self._teacher

    def student(self) -> nn.Sequential:
        """The bottleneck student after stage 2, loaded once, in eval mode."""
        if self._student is None:
            s = build_student(build_teacher(self.spec), self.spec, self.split_after, self.bottleneck)
            load_state(s, self.path / STAGE_FILES["stage2"])
            self._student = s.eval()
        return self._student


def load_split_checkpoint(path: str | Path) -> SplitCheckpoint:
    """Open a directory written by `train_split`."""
    p = Path(path)
    report = read_versioned(
        p, REPORT_FILE, FORMAT_VERSION, "no trained split model here (missing {name}); run `edgesplit split train`"
    )
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
