"""The `dnn` workload source: split-DNN inference requests, real images through head, bottleneck and tail.

Each request is a job of two tasks: `head` (the model's head and encoder, pinned to the device) and `tail` (the
decoder and the rest, placed by the policy; remotely its input is the 8-bit or raw bottleneck tensor). The
prediction of every request is computed here, offline, on the same path the data plane takes (head, codec,
tail), so the event engine's summaries carry accuracy; the Ray engine in real-time mode computes it again over
gRPC, and the two must agree.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesplit.datasets import load_dataset
from edgesplit.errors import UserError
from edgesplit.rpc.codec import dequantize_u8, quantize_u8
from edgesplit.rpc.models import load_head, load_tail
from edgesplit.workload.dag import Job, Task
from edgesplit.workload.sources import SourceJobs

if TYPE_CHECKING:
    from edgesplit.model.profiles import Profile
    from edgesplit.scenario import Scenario

LOGIT_BYTES = 4  # float32 logits come back


@dataclass(frozen=True)
class SplitModel:
    """What the engines need to know of an exported split model (its `meta.json`)."""

    directory: Path
    model_id: str
    split_id: str
    bottleneck_shape: tuple[int, ...]
    num_classes: int
    head_flops: float
    tail_flops: float

    def wire_bytes(self, codec: str) -> int:
        """Bytes of one sample's bottleneck on the wire: one per value plus scale and zero point (q8), or four."""
        values = math.prod(self.bottleneck_shape)
        return values + 5 if codec == "q8" else 4 * values


def read_split_model(models: Path, model_id: str) -> SplitModel:
    """The model `models/<model_id>` (written by `edgesplit split train`); clear errors when it is not there."""
    sub = Path(models) / model_id
    path = sub / "meta.json"
    if not path.is_file():
        known = sorted(p.name for p in Path(models).glob("*") if (p / "meta.json").is_file())
        raise UserError(
            f"no split model {model_id!r} in {models} (found: {', '.join(known) or 'none'});"
            " train one with `edgesplit split train`"
        )
    meta = json.loads(path.read_text())
    card = sub / "card.json"  # the export's extra facts (FLOPs, accuracies) beside the server's contract
    facts = {**(json.loads(card.read_text()) if card.is_file() else {}), **meta}
    for key in ("head_flops", "tail_flops"):
        if not isinstance(facts.get(key), int | float):
            raise UserError(f"{sub}: {key} is missing from meta.json and card.json; re-export the model")
    return SplitModel(
        sub,
        meta["model_id"],
        meta["split_id"],
        tuple(meta["input_shape"]),
        int(meta["num_classes"]),
        float(facts["head_flops"]),
        float(facts["tail_flops"]),
    )


def predict(model: SplitModel, images: np.ndarray, codec: str) -> np.ndarray:
    """Predicted classes of float images `[N, C, H, W]` through head, codec (per sample) and tail, as the data
    plane computes them."""
    head, tail = load_head(model.directory), load_tail(model.directory)
    z = head(np.ascontiguousarray(images, dtype=np.float32))
    if codec == "q8":
        z = np.stack([dequantize_u8(*quantize_u8(s)) for s in z])
    return tail(z.astype(np.float32)).argmax(axis=1)


def dnn_jobs(spec: Any, seed: int, n_devices: int, flops_per_cycle: list[float]) -> list[Job]:
    """One job per request: `spec.requests` test images drawn with the seed, Poisson arrivals at
    `spec.rate_per_s`, devices in turn."""
    model = read_split_model(spec.models, spec.model_id)
    data = load_dataset(spec.dataset)
    rng = random.Random(f"{seed}:dnn")
    picks = [rng.randrange(len(data.x_test)) for _ in range(spec.requests)]
    predicted = predict(model, data.x_test[picks], spec.codec)
    wire = float(model.wire_bytes(spec.codec))
    jobs: list[Job] = []
    t = 0.0
    for j, (image, pred) in enumerate(zip(picks, predicted, strict=True)):
        t += rng.expovariate(spec.rate_per_s)
        device = j % n_devices
        per_cycle = flops_per_cycle[device]
        head = Task(2 * j, j, "head", model.head_flops / per_cycle, 0.0, 0.0, flops=model.head_flops, pin="local")
        tail = Task(
            2 * j + 1,
            j,
            "tail",
            model.tail_flops / per_cycle,
            wire,
            float(LOGIT_BYTES * model.num_classes),
            flops=model.tail_flops,
            parents=[2 * j],
        )
        label = int(data.y_test[image])
        meta = {"kind": "dnn", "image": image, "label": label, "prediction": int(pred), "correct": int(pred) == label}
        meta["source"] = "offline"
        jobs.append(Job(j, f"infer{j}", t, device, [head, tail], meta=meta))
    return jobs


def dnn_source(sc: Scenario, devices: list[Profile]) -> SourceJobs:
    """The `dnn` workload source (entry point of `edgesplit.workload_sources`): `dnn_jobs` of the scenario."""
    d = sc.workload.dnn
    jobs = dnn_jobs(d, sc.seed, len(devices), [p.flops_per_cycle for p in devices])
    return SourceJobs(jobs, f"split-model requests ({d.model_id} from {d.models}, {d.dataset} test images)")
