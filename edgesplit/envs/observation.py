"""Costs and episode windows of the RL environments (their observations come from `edgesplit.policies.features`)."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import numpy as np

from edgesplit.engines.observer import RunObserver
from edgesplit.engines.sim import SimEngine
from edgesplit.policies.base import LOCAL
from edgesplit.policies.features import CostWeights, Featurizer
from edgesplit.results import COMPLETED
from edgesplit.scenario import Scenario, load_scenario
from edgesplit.workload.build import build_window, trace_jobs
from edgesplit.workload.dag import Task

DEFAULT_SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "alibaba_trace.yaml"


def task_cost(engine: SimEngine, uid: int, w: CostWeights) -> float:
    """The cost of task `uid` once it has ended (completed, failed or dropped), from the engine's table."""
    tab = engine.table
    target = tab.target[uid]
    energy = (tab.compute_j[uid] if target == LOCAL else 0.0) + tab.radio_j[uid]
    release = tab.release_s[uid]
    latency = 0.0 if math.isnan(release) else tab.finish_s[uid] - release
    if tab.outcome[uid] == COMPLETED:
        missed = tab.finish_s[uid] > engine.jobs[engine.tasks[uid].job_uid].deadline_s
    else:
        missed = True
    return w.latency * latency + w.energy * energy + w.miss * missed


def costs_from_columns(columns: dict[str, list[Any]], w: CostWeights) -> np.ndarray:
    """Per-task cost from a RunResult's columns; the same formula as `task_cost`."""
    release = np.asarray(columns["release_s"], dtype=float)
    finish = np.asarray(columns["finish_s"], dtype=float)
    latency = np.where(np.isnan(release), 0.0, finish - release)
    energy = np.asarray(columns["device_compute_j"], dtype=float) + np.asarray(columns["device_radio_j"], dtype=float)
    completed = np.asarray([o == "completed" for o in columns["outcome"]])
    missed = ~completed | np.asarray(columns["deadline_missed"], dtype=bool)
    return w.latency * latency + w.energy * energy + w.miss * missed


class CostMeter(RunObserver):
    """Adds up the cost of every task as it ends; `take()` returns what accrued since the last call."""

    def __init__(self, weights: CostWeights) -> None:
        self.weights = weights
        self.accrued = 0.0
        self.counted = 0.0
        self.ended: list[tuple[int, float]] = []

    def on_task_end(self, engine: SimEngine, uid: int) -> None:
        c = task_cost(engine, uid, self.weights)
        self.accrued += c
        self.ended.append((uid, c))

    def take(self) -> float:
        c, self.accrued = self.accrued, 0.0
        self.counted += c
        return c


# ----------------------------------------------------------------------------------------------------------
# Episodes: windows of jobs


def resolve_scenario(scenario: str | Path | Scenario | None, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """A Scenario from a path (with `--set`-style overrides) or as given; None means the bundled Alibaba scenario."""
    if isinstance(scenario, Scenario):
        return scenario
    return load_scenario(scenario or DEFAULT_SCENARIO, list(overrides))


class EpisodeSource:
    """Builds engines (without a policy) for episodes.

    `window_jobs=None`: the scenario's whole workload, exactly as `edgesplit scenario run` builds it. Otherwise an
    episode is `window_jobs` consecutive jobs (by trace arrival) from the scenario's job set, starting at a random
    job, under a per-episode seed (which redraws Poisson arrivals, the job-to-device mapping and the channel).
    """

    def __init__(self, sc: Scenario, window_jobs: int | None) -> None:
        self.sc = sc
        self.window_jobs = window_jobs
        self.device_hz = [g.resolve().cpu_hz for g in sc.fleet.devices for _ in range(g.count)]
        self._trace: list[Any] | None = None
        self.real_trace = False
        self.source = ""
        if window_jobs is not None:
            ws = sc.workload
            if ws.source == "synthetic" and ws.synthetic.kind != "calibrated":
                raise ValueError("episode windows need trace-like jobs (workload.source trace or calibrated)")
            self._trace, self.source, self.real_trace, _ = trace_jobs(sc)
            self._trace.sort(key=lambda j: (j.arrival_s, j.name))
            if not self._trace:
                raise ValueError("the scenario's workload has no jobs")

    @property
    def n_jobs(self) -> int:
        return len(self._trace) if self._trace is not None else 0

    def engine(self, rng: random.Random) -> SimEngine:
        """A fresh engine for the next episode."""
        from edgesplit.engines.factory import prepare
        from edgesplit.gcpause import gc_paused

        if self._trace is None:
            return prepare(self.sc, external_policy=True)
        n = min(self.window_jobs or 1, len(self._trace))
        start = rng.randrange(len(self._trace) - n + 1)
        sc = self.sc.model_copy(update={"seed": rng.randrange(2**31)})
        with gc_paused():
            workload = build_window(sc, self._trace[start : start + n], self.device_hz, self.source, self.real_trace)
        return SimEngine(sc, workload, None)


def start_episode(
    source: EpisodeSource, rng: random.Random, featurizer: Featurizer, weights: CostWeights
) -> tuple[SimEngine, CostMeter, Task | None]:
    """A fresh engine for the next episode with a cost meter attached, run up to its first decision."""
    engine = source.engine(rng)
    featurizer.reset()
    meter = CostMeter(weights)
    engine.observers.append(meter)
    engine.start()
    return engine, meter, engine.advance()
