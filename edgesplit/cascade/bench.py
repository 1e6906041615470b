"""Benchmark of the memoised cascade against the large CNN on duplicated test streams: accuracy and energy."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.cascade.cascade import Cascade, confidence, softmax
from edgesplit.cascade.energy import UnitCost, device_profile
from edgesplit.cascade.memo import dhash_ops
from edgesplit.cascade.train import Checkpoint, load_checkpoint
from edgesplit.cascade.workload import PERTURBATIONS, make_stream, stream_inputs
from edgesplit.datasets import load_dataset
from edgesplit.errors import UserError
from edgesplit.model.energy import per_request_energy_j, radio_energy_j
from edgesplit.nn.timing import measure_seconds

_ROLES = (("a", "model_a"), ("b", "model_b"), ("large", "large"))


@dataclass
class BenchRow:
    """One stream's outcome. Energies are device joules per request (inference)."""

    duplicates: float
    perturb: str
    requests: int
    accuracy: float
    large_accuracy: float
    b_ratio: float  # B invocations per request
    hit_ratio: float  # cache hits per request
    evictions: int
    energy_flops_j: float  # cascade incl. cache, FLOPs x J/FLOP
    energy_time_j: float  # cascade incl. cache, measured time x core power
    large_energy_flops_j: float
    large_energy_time_j: float

    @property
    def ratio_flops(self) -> float:
        """Cascade energy / large-CNN energy, FLOP-based."""
        return self.energy_flops_j / self.large_energy_flops_j

    @property
    def ratio_time(self) -> float:
        """Cascade energy / large-CNN energy, time-based."""
        return self.energy_time_j / self.large_energy_time_j

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, ratios included."""
        return {**asdict(self), "ratio_flops": self.ratio_flops, "ratio_time": self.ratio_time}


@dataclass
class BenchResult:
    """All rows plus the unit costs and settings they were computed from."""

    device: str
    b_placement: str
    capacity: int
    radius: int
    costs: dict[str, dict[str, float]]
    rows: list[BenchRow] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {**asdict(self), "rows": [r.to_dict() for r in self.rows]}


def measure_costs(ckpt: Checkpoint, capacity: int, radius: int) -> dict[str, UnitCost]:
    """Batch-1 cost of each part of a request, timed in turns on one image.

    - "a": model A plus the softmax and confidence score that decide on B;
    - "b": model B plus its score (the post-check comparison is negligible);
    - "large": the large CNN plus its argmax;
    - "cache": the dHash plus a missing lookup in a full cache (a full Hamming scan when radius > 0).
    """
    s = ckpt.summary
    x1 = np.zeros((1, *ckpt.image_shape), dtype=np.float32)
    x1[..., ckpt.image_shape[-2] // 2, :] = 1.0  # a bar, not a blank image
    cascade = ckpt.cascade()
    only_a = Cascade(cascade.model_a, cascade.model_b, replace(cascade.threshold, lam=0.0))
    score = cascade.threshold.score
    large = ckpt.classifier(s["large"])
    memo = ckpt.memo_cascade(capacity, radius)
    for key in np.random.default_rng(0).integers(0, 2**63, size=capacity, dtype=np.int64):
        memo.cache.insert(int(key), (0, 1.0))
    seconds = measure_seconds(
        {
            "a": lambda: only_a.predict(x1),
            "b": lambda: confidence(softmax(cascade.model_b(x1)), score),
            "large": lambda: large(x1).argmax(axis=1),
            "cache": lambda: memo.cache.lookup(int(memo.hashes(x1)[0])),
        }
    )
    crop = s["cache"]["hash_crop"]
    c, h, w = ckpt.image_shape
    flops = {
        "a": ckpt.flops(s["model_a"]),
        "b": ckpt.flops(s["model_b"]),
        "large": ckpt.flops(s["large"]),
        "cache": dhash_ops((c, h - 2 * crop, w - 2 * crop)) + (3 * capacity if radius else 0),
    }
    return {k: UnitCost(flops=flops[k], seconds=seconds[k]) for k in flops}


def batched_seconds(ckpt: Checkpoint, name: str, batch: int = 256) -> float:
    """Seconds per sample of the named model at batch size `batch` (for the record)."""
    x = np.random.default_rng(0).random((batch, *ckpt.image_shape), dtype=np.float32)
    clf = ckpt.classifier(name)
    return measure_seconds({name: lambda: clf(x)}, repeats=3, rounds=3, warmup=1)[name] / batch


def run_bench(
    checkpoint_dir: str | Path,
    duplicates: list[float],
    perturbs: list[str],
    device: str = "jetson-nano",
    capacity: int = 10_000,
    radius: int | None = None,
    seed: int = 0,
    limit: int | None = None,
    b_placement: str = "device",
    uplink_mbps: float = 10.0,
    threads: int = 1,
) -> BenchResult:
    """Run every (duplicate rate, perturbation) stream through the memoised cascade and the large CNN.

    A stream shows each of the first `limit` test samples (all by default) once, plus repeats; a rate of
    0 is run once, as perturbations only touch repeats.
    """
    import torch  # lazy: the cascade package imports without torch

    for p in perturbs:
        if p not in PERTURBATIONS:
            raise UserError(f"unknown perturbation {p!r}; known: {', '.join(PERTURBATIONS)}", where="--perturb")
    if b_placement not in ("device", "edge"):
        raise UserError("B placement must be 'device' or 'edge'", where="--b-on")
    if capacity < 1:
        raise UserError("cache capacity must be at least 1", where="--capacity")
    profile = device_profile(device)
    torch.set_num_threads(threads)
    ckpt = load_checkpoint(checkpoint_dir)
    s = ckpt.summary
    r = s["cache"]["radius"] if radius is None else radius
    if not 0 <= r <= 64:
        raise UserError("Hamming radius must be within 0..64", where="--radius")
    data = load_dataset(s["dataset"])
    x_test, y_test = data.x_test, data.y_test
    if limit:
        x_test, y_test = x_test[:limit], y_test[:limit]
    costs = measure_costs(ckpt, capacity, r)
    large = ckpt.classifier(s["large"])
    large_right_orig = large.logits(x_test).argmax(1) == y_test

    e = {k: c.energy(profile) for k, c in costs.items()}  # (flop J, time J) per call
    nbytes = int(np.prod(ckpt.image_shape))
    if b_placement == "edge":
        bits = nbytes * 8
        # the radio's consumed energy on the air (Huang et al.); requests come back to back, so no tail
        up = radio_energy_j(profile.radio_base_w, profile.radio_up_w_per_bps, bits / (uplink_mbps * 1e6), bits)
        e["b"] = (up, up)
    result = BenchResult(
        device=device,
        b_placement=b_placement,
        capacity=capacity,
        radius=r,
        costs={
            **{k: {**c.to_dict(), "energy_flops_j": e[k][0], "energy_time_j": e[k][1]} for k, c in costs.items()},
            **{f"{k}_batched": {"seconds_per_sample": batched_seconds(ckpt, s[n])} for k, n in _ROLES},
        },
        notes={
            "energy_flops": f"FLOPs x {profile.joules_per_flop:.3e} J/FLOP ({device})",
            "energy_time": f"batch-1 wall time on this host x {profile.core_power_w:.3f} W per busy core ({device})",
            "b_on_edge": "B costs the device only the upload of the input image" if b_placement == "edge" else "",
        },
    )

    settings = [(0.0, "-")] if 0.0 in duplicates else []
    settings += [(d, p) for d in duplicates if d != 0.0 for p in perturbs]
    for dup, kind in settings:
        stream = make_stream(len(y_test), dup, seed)
        xs = stream_inputs(x_test, stream, "none" if kind == "-" else kind, seed)
        labels = y_test[stream.sample_ids]
        large_right = large_right_orig[stream.sample_ids]
        if kind not in ("-", "none") and stream.repeat.any():
            large_right[stream.repeat] = large.logits(xs[stream.repeat]).argmax(1) == labels[stream.repeat]
        memo = ckpt.memo_cascade(capacity, r)
        out = memo.stream(xs)
        n = len(out)
        hits = np.array([o.cache_hit for o in out])
        used_b = np.array([o.used_b for o in out])
        right = np.array([o.pred for o in out]) == labels
        runs_a, runs_b = (~hits).sum(), used_b.sum()
        per = [per_request_energy_j([(e["cache"][i], n), (e["a"][i], runs_a), (e["b"][i], runs_b)], n) for i in (0, 1)]
        result.rows.append(
            BenchRow(
                duplicates=dup,
                perturb=kind,
                requests=n,
                accuracy=float(right.mean()),
                large_accuracy=float(large_right.mean()),
                b_ratio=float(runs_b / n),
                hit_ratio=float(hits.mean()),
                evictions=memo.cache.stats.evictions,
                energy_flops_j=per[0],
                energy_time_j=per[1],
                large_energy_flops_j=e["large"][0],
                large_energy_time_j=e["large"][1],
            )
        )
    return result
