"""The real Alibaba v2018 sample replayed end to end: every parsed task is in the records and the counts add up."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from edgesplit.run import run_scenario
from edgesplit.scenario import load_scenario
from edgesplit.workload.alibaba import read_trace

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "alibaba" / "alibaba_v2018_batch_task_selected_DAGs.csv"
pytestmark = pytest.mark.skipif(not SAMPLE.is_file(), reason=f"real trace sample not found at {SAMPLE}")


def test_every_parsed_task_appears_and_counts_add_up() -> None:
    overrides = [
        f"workload.trace.path={SAMPLE}",
        "workload.trace.max_jobs=null",
        "policy.kind=greedy-latency",
    ]
    result = run_scenario(load_scenario(ROOT / "scenarios" / "alibaba_trace.yaml", overrides))
    parsed = read_trace(SAMPLE, "alibaba-v2018")
    expected = Counter((job.name, task.name) for job in parsed for task in job.tasks)
    recorded = Counter(zip(result.columns["job"], result.columns["task_name"], strict=True))
    assert recorded == expected
    s = result.summary
    assert s["real_trace"] and str(SAMPLE) in s["trace_source"]
    t = s["tasks"]
    assert t["submitted"] == sum(expected.values()) == t["completed"] + t["failed"] + t["dropped"]
    assert s["jobs"]["submitted"] == len(parsed)
    assert s["trace_repairs"]["truncated_names"] > 0
