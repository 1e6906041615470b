"""Scenario models of the workload: trace, synthetic, cascade and DNN sources, and how trace tasks are sized."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, FiniteFloat, field_validator, model_validator

from edgesplit.scenario.base import Strict
from edgesplit.units import Frequency, Size, Work


def _is_file(path: Path) -> bool:
    """Path.is_file, but False for a path the OS refuses to look up (too long, a NUL byte) instead of raising."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


class TraceSpec(Strict):
    """Jobs from a cluster trace. With no `path`, the fetched trace is used if present, else a calibrated generator.

    `sample` picks which `max_jobs` jobs of a trace file (within `start_s`..`end_s`) run: `first` (the first
    ones, whatever the seed), `window` (a contiguous run of them starting at a place the seed draws) or
    `bootstrap` (drawn with replacement by the seed, in trace order), so that seeds vary the workload too and
    error bars over seeds include its variability. The calibrated generator draws new jobs for each seed anyway."""

    format: Literal["alibaba-v2018", "alibaba-v2017"] = "alibaba-v2018"
    path: Path | None = None
    start_s: FiniteFloat | None = None
    end_s: FiniteFloat | None = None
    max_jobs: int | None = Field(None, gt=0)
    sample: Literal["first", "window", "bootstrap"] = "first"
    skip_bad_lines: bool = False

    @model_validator(mode="after")
    def _sample_needs_a_size(self) -> TraceSpec:
        if self.sample != "first" and self.max_jobs is None:
            raise ValueError(f"trace.sample {self.sample!r} draws max_jobs jobs: give workload.trace.max_jobs")
        return self

    @field_validator("path")
    @classmethod
    def _exists(cls, v: Path | None) -> Path | None:
        if v is not None and not _is_file(v):
            raise ValueError(f"trace file {str(v)!r} does not exist (relative paths start from the current directory)")
        return v


class SyntheticSpec(Strict):
    """Generated jobs.

    - calibrated: DAG jobs drawn from the Alibaba v2018 trace's statistics (`jobs` of them);
    - poisson: independent tasks with log-normal cycles arriving at `rate_per_s` over the fleet;
    - chain: every device runs `iterations` rounds of (local pre-processing -> offloadable task).
    """

    kind: Literal["calibrated", "poisson", "chain"] = "calibrated"
    jobs: int = Field(1000, gt=0)
    rate_per_s: FiniteFloat = Field(10.0, gt=0)
    mean_cycles: Work = Field(1e9, gt=0)
    iterations: int = Field(100, gt=0)
    local_cycles: Work = Field(1e7, ge=0)
    offload_cycles: Work = Field(1e8, gt=0)
    input_bytes: Size = Field(100e3, ge=0)
    output_bytes: Size = Field(100.0, ge=0)


class CascadeSpec(Strict):
    """Image-classification requests served by a trained, memoised CNN cascade (`edgesplit cascade train`).

    Requests arrive as a Poisson stream at `rate_per_s`, round-robin over the devices; each sample appears
    1 + `duplicates` times on average (repeats perturbed by `perturb`). Model A and the memo cache run on the
    device; model B runs when A is unsure, on the device (`model_b: device`) or where the policy sends it.
    """

    checkpoint: Path = Path("runs/cascade")
    requests: int = Field(1000, gt=0)
    duplicates: FiniteFloat = Field(0.0, ge=0)
    perturb: Literal["none", "flip", "brightness"] = "none"
    rate_per_s: FiniteFloat = Field(10.0, gt=0)
    model_b: Literal["device", "offload"] = "offload"
    cache_capacity: int = Field(10_000, gt=0)


class CyclesModel(Strict):
    """Trace tasks have no cycle counts: cycles = duration x plan_cpu/100 x reference_hz x scale."""

    reference_hz: Frequency = Field(2.5e9, gt=0)
    scale: FiniteFloat = Field(1.0, gt=0)
    min_cycles: Work = Field(1e6, ge=0)


class DataModel(Strict):
    """Trace and Poisson tasks have no byte counts; docs/trace.md "Data sizes" gives the models and their sources.

    - lognormal: ln(input) = ln(input_median_bytes) + input_sigma x (rho x z_cycles + sqrt(1 - rho^2) x z_own),
      z_cycles the task's standardised rank score of cycles; output = input x output_ratio x exp(output_sigma x z);
    - per-cycle: input bits = cycles / cycles_per_bit; output = input x output_ratio.
    Inputs are clipped to [min_bytes, max_bytes] (lognormal outputs to max_bytes).
    """

    model: Literal["lognormal", "per-cycle"] = "lognormal"
    cycles_per_bit: FiniteFloat = Field(1000.0, gt=0)
    output_ratio: FiniteFloat = Field(0.1, ge=0)
    min_bytes: Size = Field(1e3, ge=0)
    max_bytes: Size = Field(50e6, gt=0)
    input_median_bytes: Size = Field(500e3, gt=0)
    input_sigma: FiniteFloat = Field(1.4, ge=0)
    rho: FiniteFloat = Field(0.5, ge=-1, le=1)
    output_sigma: FiniteFloat = Field(1.5, ge=0)


class DeadlineModel(Strict):
    """Job deadline = arrival + factor x the job's critical path run locally on its device."""

    factor: FiniteFloat | None = Field(2.0, gt=0)
    drop_expired: bool = False


class ArrivalModel(Strict):
    """When jobs arrive: the trace's own times divided by `time_scale`, or a Poisson stream."""

    kind: Literal["trace", "poisson"] = "trace"
    time_scale: FiniteFloat = Field(1.0, gt=0)
    rate_per_s: FiniteFloat = Field(1.0, gt=0)


class DnnSpec(Strict):
    """Split-DNN inference requests (`edgesplit split train` exports the model): each request shows a test image,
    runs the model's head on the device and its tail where the policy says, with the bottleneck as upload.

    Requests arrive as a Poisson stream at `rate_per_s`, round-robin over the devices. In the event engine the
    times come from the profiles (FLOPs) and the predictions from an offline pass over the same path; in the Ray
    engine's real-time mode devices run the real head and send the real tensor over gRPC to the edge servers.
    """

    models: Path = Path("runs/split/models")
    model_id: str = "mnist-bottleneck-c4"
    dataset: Literal["mnist", "digits"] = "mnist"
    requests: int = Field(500, gt=0)
    rate_per_s: FiniteFloat = Field(20.0, gt=0)
    codec: Literal["q8", "raw"] = "q8"


class Workload(Strict):
    source: Literal["trace", "synthetic", "cascade", "dnn"] = "trace"
    trace: TraceSpec = TraceSpec()
    synthetic: SyntheticSpec = SyntheticSpec()
    cascade: CascadeSpec = CascadeSpec()
    dnn: DnnSpec = DnnSpec()
    arrival: ArrivalModel = ArrivalModel()
    mapping: Literal["round-robin", "random", "hash"] = "round-robin"
    cycles: CyclesModel = CyclesModel()
    data: DataModel = DataModel()
    deadline: DeadlineModel = DeadlineModel()

    @model_validator(mode="after")
    def _cascade_checkpoint_exists(self) -> Workload:
        if self.source == "cascade" and not _is_file(self.cascade.checkpoint / "cascade.json"):
            raise ValueError(
                f"cascade.checkpoint {str(self.cascade.checkpoint)!r} holds no trained cascade (cascade.json);"
                " make one with `edgesplit cascade train --out DIR`"
            )
        return self
