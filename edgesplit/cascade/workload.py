"""Request streams with duplicated inputs, per-request cascade records, and the `cascade` workload source."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgesplit.errors import UserError
from edgesplit.workload.dag import Job, Task
from edgesplit.workload.sources import SourceJobs

if TYPE_CHECKING:
    from edgesplit.cascade.train import Checkpoint
    from edgesplit.model.profiles import Profile
    from edgesplit.scenario import Scenario

PERTURBATIONS = ("none", "flip", "brightness")


def perturb(images: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Slightly altered copies of float images in [0, 1], shaped (N, C, H, W).

    - "none": unchanged copies;
    - "flip": pixel noise, a few pixels (0.25% of them, at least 1; 2 on 28x28) set to 1 - value;
      not a mirror image, which would be a different picture;
    - "brightness": every pixel shifted by the same +-(0.03..0.10), clipped to [0, 1].
    """
    x = np.array(images, dtype=np.float32, copy=True)
    if kind == "none":
        return x
    if kind == "flip":
        flat = x.reshape(len(x), -1)
        k = max(1, round(0.0025 * flat.shape[1]))
        for row in flat:
            idx = rng.choice(flat.shape[1], size=k, replace=False)
            row[idx] = 1.0 - row[idx]
        return x
    if kind == "brightness":
        shift = rng.uniform(0.03, 0.10, len(x)) * rng.choice([-1.0, 1.0], len(x))
        return np.clip(x + shift.reshape(-1, *([1] * (x.ndim - 1))), 0.0, 1.0).astype(np.float32)
    raise UserError(f"unknown perturbation {kind!r}; known: {', '.join(PERTURBATIONS)}", where="--perturb")


@dataclass(frozen=True)
class Stream:
    """A request stream over a sample set: which sample each request shows, and whether it is a repeat."""

    sample_ids: np.ndarray  # index into the sample set, per request
    repeat: np.ndarray  # bool: a later appearance of a sample already in the stream

    def __len__(self) -> int:
        return len(self.sample_ids)


def make_stream(n_samples: int, duplicate_rate: float, seed: int = 0) -> Stream:
    """Each of `n_samples` samples appears once in shuffled order, plus `duplicate_rate` repeats on average.

    floor(rate) repeats for every sample and one more for round(frac(rate) * n) randomly chosen samples
    (rate 1 = every sample exactly twice). Each repeat is placed uniformly at random after its first
    appearance, among the first appearances that follow it.
    """
    if duplicate_rate < 0:
        raise UserError(f"duplicate rate must be >= 0, got {duplicate_rate}", where="--duplicates")
    rng = np.random.default_rng(seed)
    firsts = rng.permutation(n_samples)
    whole, frac = divmod(duplicate_rate, 1.0)
    counts = np.full(n_samples, int(whole))
    counts[rng.choice(n_samples, size=round(frac * n_samples), replace=False)] += 1
    pos = np.repeat(np.arange(n_samples, dtype=np.float64), counts[firsts])
    keys = pos + rng.uniform(0.0, 1.0, len(pos)) * (n_samples - pos)
    rep_ids = np.repeat(firsts, counts[firsts])
    all_keys = np.concatenate([np.arange(n_samples, dtype=np.float64), keys])
    ids = np.concatenate([firsts, rep_ids])
    is_rep = np.concatenate([np.zeros(n_samples, bool), np.ones(len(rep_ids), bool)])
    order = np.lexsort((is_rep, all_keys))  # by key; a first appearance before a repeat on ties
    return Stream(sample_ids=ids[order], repeat=is_rep[order])


def stream_inputs(images: np.ndarray, stream: Stream, kind: str, seed: int = 0) -> np.ndarray:
    """The stream's inputs: first appearances as they are, repeats perturbed by `kind`."""
    x = images[stream.sample_ids]
    if kind != "none" and stream.repeat.any():
        x[stream.repeat] = perturb(x[stream.repeat], kind, np.random.default_rng(seed + 1))
    return x


@dataclass(frozen=True)
class CascadeRequest:
    """One request served by the memoised cascade, for a simulator to turn into tasks.

    Model A runs on the device unless `cache_hit`; model B runs (on the device, or offloaded with the
    `input_bytes` image as upload) only when `b_invoked`. `flops_a` / `flops_b` are one inference of
    each model; `hash_ops` is the cache lookup's arithmetic, paid on every request.
    """

    request_id: int
    sample_id: int
    repeat: bool
    cache_hit: bool
    b_invoked: bool
    flops_a: int
    flops_b: int
    hash_ops: int
    input_bytes: int
    prediction: int
    label: int
    correct: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for tables, JSON, DataFrames)."""
        return asdict(self)


@lru_cache(maxsize=4)
def _checkpoint(path: str, mtime: float) -> Checkpoint:
    from edgesplit.cascade.train import load_checkpoint

    return load_checkpoint(path)


def open_checkpoint(path: str | Path) -> Checkpoint:
    """A trained cascade, loaded once per process (reloaded if its summary file changes)."""
    from edgesplit.cascade.train import SUMMARY_FILE, load_checkpoint

    summary = Path(path) / SUMMARY_FILE
    if not summary.is_file():
        return load_checkpoint(path)  # raises the usual UserError
    return _checkpoint(str(Path(path).resolve()), summary.stat().st_mtime)


def cascade_requests(
    checkpoint_dir: str | Path,
    duplicate_rate: float = 0.0,
    perturbation: str = "none",
    n_requests: int = 1000,
    seed: int = 0,
    capacity: int = 10_000,
    radius: int | None = None,
) -> list[CascadeRequest]:
    """Serve `n_requests` test-split requests through the trained, memoised cascade, and record each.

    The stream draws round(n_requests / (1 + duplicate_rate)) test samples (seeded), repeats them as
    `make_stream` does, perturbs the repeats, and keeps the first `n_requests` requests. Models really
    run (torch is imported here, not at module import).
    """
    from edgesplit.cascade.memo import dhash_ops
    from edgesplit.datasets import load_dataset

    if n_requests < 1:
        raise UserError("n_requests must be at least 1")
    ckpt = open_checkpoint(checkpoint_dir)
    data = load_dataset(ckpt.summary["dataset"])
    n_unique = min(len(data.y_test), max(1, round(n_requests / (1.0 + duplicate_rate))))
    pick = np.random.default_rng(seed).choice(len(data.y_test), size=n_unique, replace=False)
    stream = make_stream(n_unique, duplicate_rate, seed)
    stream = Stream(stream.sample_ids[:n_requests], stream.repeat[:n_requests])
    xs = stream_inputs(data.x_test[pick], stream, perturbation, seed)
    memo = ckpt.memo_cascade(capacity, radius)
    results = memo.stream(xs)
    s = ckpt.summary
    flops_a, flops_b = ckpt.flops(s["model_a"]), ckpt.flops(s["model_b"])
    crop = s["cache"]["hash_crop"]
    c, h, w = ckpt.image_shape
    ops = dhash_ops((c, h - 2 * crop, w - 2 * crop))
    labels = data.y_test[pick][stream.sample_ids]
    return [
        CascadeRequest(
            request_id=i,
            sample_id=int(pick[sid]),
            repeat=bool(rep),
            cache_hit=r.cache_hit,
            b_invoked=r.used_b,
            flops_a=flops_a,
            flops_b=flops_b,
            hash_ops=ops,
            input_bytes=c * h * w,  # one uint8 per pixel
            prediction=r.pred,
            label=int(y),
            correct=r.pred == int(y),
        )
        for i, (sid, rep, r, y) in enumerate(zip(stream.sample_ids, stream.repeat, results, labels, strict=True))
    ]


def cascade_source(sc: Scenario, devices: list[Profile]) -> SourceJobs:
    """The `cascade` workload source (entry point of `edgesplit.workload_sources`): one job per request of a
    trained, memoised cascade. Model A (with the cache lookup) runs on the device, then model B when A was
    unsure, on the device or wherever the policy sends it with the image as upload."""
    c = sc.workload.cascade
    requests = cascade_requests(
        c.checkpoint, c.duplicates, c.perturb, c.requests, seed=sc.seed, capacity=c.cache_capacity
    )
    rng = random.Random(f"{sc.seed}:cascade-arrivals")
    jobs: list[Job] = []
    uid = 0
    t = 0.0
    for j, r in enumerate(requests):
        t += rng.expovariate(c.rate_per_s)
        device = j % len(devices)
        per_cycle = devices[device].flops_per_cycle
        flops_a = r.hash_ops + (0 if r.cache_hit else r.flops_a)
        tasks = [Task(uid, j, "A", flops_a / per_cycle, 0.0, 0.0, flops=flops_a, pin="local")]
        if r.b_invoked:
            pin = "local" if c.model_b == "device" else None
            b = Task(
                uid + 1, j, "B", r.flops_b / per_cycle, r.input_bytes, 40.0, flops=r.flops_b, parents=[uid], pin=pin
            )
            tasks.append(b)
        uid += len(tasks)
        meta = {"cache_hit": r.cache_hit, "b_invoked": r.b_invoked, "correct": r.correct, "repeat": r.repeat}
        jobs.append(Job(j, f"req{r.request_id}", t, device, tasks, meta=meta))
    return SourceJobs(jobs, f"cascade requests from {c.checkpoint}")
