"""Seeds that vary the workload: `workload.trace.sample` draws each seed's jobs from the real trace sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgesplit.errors import UserError
from edgesplit.scenario import load_scenario
from edgesplit.workload import alibaba
from edgesplit.workload.build import trace_jobs

ROOT = Path(__file__).resolve().parents[1]
DAGS = ROOT.parent / "shared" / "data" / "alibaba" / "alibaba_v2018_batch_task_selected_DAGs.csv"
pytestmark = pytest.mark.skipif(not DAGS.is_file(), reason=f"real trace sample not found at {DAGS}")


def _names(sample: str, seed: int, n: int = 30) -> list[str]:
    sets = [f"workload.trace.path={DAGS}", f"workload.trace.max_jobs={n}", f"workload.trace.sample={sample}",
            f"seed={seed}"]  # fmt: skip
    return [j.name for j in trace_jobs(load_scenario(ROOT / "scenarios" / "alibaba_trace.yaml", sets)).jobs]


def test_first_ignores_the_seed_and_window_and_bootstrap_follow_it() -> None:
    every = [j.name for j in alibaba.read_trace(DAGS, "alibaba-v2018")]
    assert _names("first", 1) == _names("first", 2) == every[:30]
    a, b = _names("window", 1), _names("window", 2)
    assert a == _names("window", 1) and a != b  # deterministic per seed, different across seeds
    for names in (a, b):
        start = every.index(names[0])
        assert names == every[start : start + 30]  # a contiguous run of the trace
    boot = _names("bootstrap", 3)
    assert boot == _names("bootstrap", 3) and boot != _names("bootstrap", 4)
    base = [n.split("#")[0] for n in boot]
    assert len(boot) == 30 and len(set(boot)) == 30  # repeats are renamed, so every job name is unique
    assert [every.index(n) for n in base] == sorted(every.index(n) for n in base)  # in trace order
    assert any("#" in n for n in _names("bootstrap", 3, n=len(every)))  # drawing as many as there are repeats


def test_a_sample_needs_a_size() -> None:
    with pytest.raises(UserError, match="draws max_jobs jobs"):
        load_scenario(ROOT / "scenarios" / "alibaba_trace.yaml", [f"workload.trace.path={DAGS}",
                      "workload.trace.max_jobs=null", "workload.trace.sample=window"])  # fmt: skip
