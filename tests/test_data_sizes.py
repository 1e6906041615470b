"""Data sizes of trace and Poisson tasks: the per-cycle rule, the log-normal model, its correlation and its bounds."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from edgesplit.scenario import load_scenario
from edgesplit.scenario.workload import DataModel
from edgesplit.workload.build import build_window, trace_jobs
from edgesplit.workload.dag import Task
from edgesplit.workload.data_sizes import cycle_scores, size_tasks

ROOT = Path(__file__).resolve().parents[1]
N = 20_000
Z90 = 1.2815515655446004  # standard-normal 90th percentile


def _tasks(n: int = N, seed: int = 7) -> list[Task]:
    """Tasks with log-normal cycles (median 1e9, log-sd 1.2), the shape of the trace's durations."""
    cycles = np.random.default_rng(seed).lognormal(math.log(1e9), 1.2, n)
    return [Task(i, i, f"t{i}", float(c), 0.0, 0.0) for i, c in enumerate(cycles)]


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    return r


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def test_per_cycle_reproduces_the_old_formula_exactly() -> None:
    data = DataModel(model="per-cycle", cycles_per_bit=737.5, output_ratio=0.3, min_bytes=2e3, max_bytes=4e6)
    tasks = _tasks(2000) + [Task(9000, 0, "tiny", 10.0, 0.0, 0.0), Task(9001, 0, "huge", 1e15, 0.0, 0.0)]
    size_tasks(tasks, data, seed=3)
    for t in tasks:
        inp = min(max(t.cycles / 737.5 / 8.0, 2e3), 4e6)  # the rule as build.py had it
        assert t.input_bytes == inp and t.output_bytes == inp * 0.3
    assert tasks[-2].input_bytes == 2e3 and tasks[-1].input_bytes == 4e6


def test_lognormal_is_the_default_and_deterministic_per_seed() -> None:
    assert DataModel().model == "lognormal"
    a, b, c = _tasks(500), _tasks(500), _tasks(500)
    size_tasks(a, DataModel(), seed=1)
    size_tasks(b, DataModel(), seed=1)
    size_tasks(c, DataModel(), seed=2)
    assert [(t.input_bytes, t.output_bytes) for t in a] == [(t.input_bytes, t.output_bytes) for t in b]
    assert [t.input_bytes for t in a] != [t.input_bytes for t in c]


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_lognormal_quantiles_match_the_parameters(rho: float) -> None:
    median, sigma = 400e3, 1.3
    data = DataModel(input_median_bytes=median, input_sigma=sigma, rho=rho, min_bytes=0.0, max_bytes=1e30)
    tasks = _tasks()
    size_tasks(tasks, data, seed=11)
    log_in = np.log([t.input_bytes for t in tasks])
    # standard errors of a normal sample's median and p90 on N draws, in log space: about 0.012 and 0.017
    se_median = sigma * math.sqrt(math.pi / 2) / math.sqrt(N)
    se_p90 = sigma * math.sqrt(0.9 * 0.1) / (math.exp(-(Z90**2) / 2) / math.sqrt(2 * math.pi)) / math.sqrt(N)
    assert abs(np.median(log_in) - math.log(median)) < 4 * se_median
    assert abs(np.quantile(log_in, 0.9) - (math.log(median) + Z90 * sigma)) < 4 * se_p90
    assert float(np.std(log_in)) == pytest.approx(sigma, rel=0.03)


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_correlation_with_cycles_is_rho(rho: float) -> None:
    data = DataModel(rho=rho, min_bytes=0.0, max_bytes=1e30)
    tasks = _tasks()
    size_tasks(tasks, data, seed=5)
    log_in = np.log([t.input_bytes for t in tasks])
    log_c = np.log([t.cycles for t in tasks])
    # Pearson of the logs is rho; Spearman of a bivariate normal is (6/pi) asin(rho/2), within 0.02 of rho here
    assert float(np.corrcoef(log_in, log_c)[0, 1]) == pytest.approx(rho, abs=0.03)
    assert _spearman(log_in, log_c) == pytest.approx(6 / math.pi * math.asin(rho / 2), abs=0.03)
    assert _spearman(log_in, log_c) == pytest.approx(rho, abs=0.04)


def test_rho_one_orders_sizes_like_cycles() -> None:
    tasks = _tasks(3000)
    size_tasks(tasks, DataModel(rho=1.0, min_bytes=0.0, max_bytes=1e30), seed=1)
    by_cycles = sorted(tasks, key=lambda t: t.cycles)
    assert [t.input_bytes for t in by_cycles] == sorted(t.input_bytes for t in tasks)


def test_bounds_still_clip() -> None:
    data = DataModel(input_median_bytes=1e6, input_sigma=3.0, min_bytes=200e3, max_bytes=5e6, output_sigma=4.0)
    tasks = _tasks(5000)
    size_tasks(tasks, data, seed=2)
    ins = np.array([t.input_bytes for t in tasks])
    outs = np.array([t.output_bytes for t in tasks])
    assert ins.min() == 200e3 and ins.max() == 5e6  # sigma 3 puts ~30% of draws beyond each bound
    assert outs.max() <= 5e6 and outs.min() >= 0.0


def test_output_ratio_model() -> None:
    tasks = _tasks(N)
    size_tasks(tasks, DataModel(output_ratio=0.2, output_sigma=0.0, min_bytes=0.0, max_bytes=1e30), seed=4)
    assert all(t.output_bytes == pytest.approx(t.input_bytes * 0.2, rel=1e-12) for t in tasks)
    size_tasks(tasks, DataModel(output_ratio=0.2, output_sigma=1.5, min_bytes=0.0, max_bytes=1e30), seed=4)
    log_ratio = np.log([t.output_bytes / t.input_bytes for t in tasks])
    assert float(np.median(log_ratio)) == pytest.approx(math.log(0.2), abs=0.05)
    assert float(np.std(log_ratio)) == pytest.approx(1.5, rel=0.03)


def test_cycle_scores_handle_ties_and_constants() -> None:
    assert cycle_scores([]) == [] and cycle_scores([5.0, 5.0, 5.0]) == [0.0, 0.0, 0.0]
    z = cycle_scores([1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 10.0])
    assert z[0] == z[1] and z[3] == z[4] == z[5] and z[0] < z[2] < z[3] < z[6]
    assert float(np.mean(z)) == pytest.approx(0.0, abs=1e-12) and float(np.std(z)) == pytest.approx(1.0)


def test_trace_scenario_sizes_follow_the_data_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGESPLIT_CACHE", str(tmp_path))  # no fetched trace: the calibrated generator
    path = ROOT / "scenarios" / "alibaba_trace.yaml"
    sets = ["workload.trace.max_jobs=60"]
    for model in ("lognormal", "per-cycle"):
        sc = load_scenario(path, [*sets, f"workload.data.model={model}"])
        found = trace_jobs(sc)
        tasks = build_window(sc, found.jobs, [1e9], found.source, found.real_trace).tasks
        d = sc.workload.data
        per_cycle = [min(max(t.cycles / d.cycles_per_bit / 8.0, d.min_bytes), d.max_bytes) for t in tasks]
        if model == "per-cycle":
            assert [t.input_bytes for t in tasks] == per_cycle
        else:
            assert [t.input_bytes for t in tasks] != per_cycle
            assert all(d.min_bytes <= t.input_bytes <= d.max_bytes for t in tasks)


def test_huge_sigmas_clip_instead_of_overflowing() -> None:
    tasks = _tasks(200)
    size_tasks(tasks, DataModel(input_sigma=1e300, output_sigma=1e300, output_ratio=0.0), seed=1)
    assert {t.input_bytes for t in tasks} <= {1e3, 50e6} and {t.output_bytes for t in tasks} == {0.0}
    size_tasks(tasks, DataModel(input_sigma=1e300, output_sigma=1e300, output_ratio=1e300), seed=1)
    assert all(0.0 <= t.output_bytes <= 50e6 for t in tasks)
