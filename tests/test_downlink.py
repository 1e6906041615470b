"""Results come back over the cell's downlink, modelled like the uplink: queued per device, shared among the
devices receiving at once, lossy (hand figures)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from edgesplit.engines.sim import SimEngine
from edgesplit.policies import make_policy
from edgesplit.scenario import load_scenario
from edgesplit.workload.build import BuiltWorkload
from edgesplit.workload.dag import Job, Task

BASE = {
    "name": "downlink",
    "seed": 1,
    "fleet": {
        "devices": [{"name": "phone", "profile": "phone-midrange", "count": 1, "cpu_hz": 1e9, "cores": 1}],
        "edge_servers": [{"name": "edge", "profile": "edge-server", "cpu_hz": 1e10, "cores": 2}],
    },
    "network": {
        "cells": [
            {"name": "c", "model": "fixed", "rate_bps": 1e8, "shared": False, "latency_s": 0.005,
             "downlink_rate_bps": 1e8}
        ],
        "backhaul": {"latency_s": 0.002, "rate_bps": 1e10},
    },
    "workload": {"source": "synthetic", "synthetic": {"kind": "poisson", "jobs": 1}, "deadline": {"factor": None}},
    "policy": {"kind": "edge"},
    "outputs": {"plots": False},
}  # fmt: skip

IN_B, OUT_B, CYCLES = 1000.0, 1e6, 1e9
UP = IN_B * 8 / 1e8  # 80 us on a 100 Mbit/s uplink alone
DOWN = OUT_B * 8 / 1e8  # 80 ms on a 100 Mbit/s downlink alone
WAY_IN = 0.005 + 0.002 + IN_B * 8 / 1e10
COMPUTE = CYCLES / 1e10
WAY_BACK = 0.002 + OUT_B * 8 / 1e10 + 0.005  # wired, then the radio latency, before the downlink


def _run(tmp_path: Path, doc: dict, jobs: list[Job]) -> list[dict]:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    tasks = [t for j in jobs for t in j.tasks]
    workload = BuiltWorkload(jobs, tasks, "hand-built", False)
    return SimEngine(load_scenario(path), workload, make_policy("edge")).run().records()


def _task(uid: int, job: int) -> Task:
    return Task(uid=uid, job_uid=job, name=f"M{uid + 1}", cycles=CYCLES, input_bytes=IN_B, output_bytes=OUT_B)


def test_a_devices_results_queue_on_its_dedicated_downlink(tmp_path: Path) -> None:
    """Two siblings computed side by side: the second result waits for the first to leave the air."""
    tasks = [_task(0, 0), _task(1, 0)]
    rec = _run(tmp_path, BASE, [Job(0, "j_1", 0.0, 0, tasks)])
    first = UP + WAY_IN + COMPUTE + WAY_BACK + DOWN
    assert rec[0]["finish_s"] == pytest.approx(first, rel=1e-12)
    assert rec[0]["downlink_s"] == pytest.approx(DOWN, rel=1e-12)
    # its input left 80 us later, so its result reached the cell 80 us later, and waits the rest of DOWN
    assert rec[1]["finish_s"] == pytest.approx(first + DOWN, rel=1e-12)
    assert rec[1]["downlink_s"] == pytest.approx(2 * DOWN - UP, rel=1e-12)


def test_devices_receiving_at_once_share_the_downlink(tmp_path: Path) -> None:
    """Two devices of a shared fixed-rate cell: each gets half the rate while both receive."""
    doc = copy.deepcopy(BASE)
    doc["fleet"]["devices"][0]["count"] = 2
    doc["network"]["cells"][0]["shared"] = True
    jobs = [Job(d, f"j_{d + 1}", 0.0, d, [_task(d, d)]) for d in range(2)]
    rec = _run(tmp_path, doc, jobs)
    for r in rec:
        assert r["finish_s"] == pytest.approx(2 * UP + WAY_IN + COMPUTE + WAY_BACK + 2 * DOWN, rel=1e-9)
        assert r["downlink_s"] == pytest.approx(2 * DOWN, rel=1e-9)


@pytest.mark.parametrize("shared", [False, True])
def test_a_result_lost_on_every_attempt_fails_its_task(tmp_path: Path, shared: bool) -> None:
    """A lossy cell loses results too: after every retransmission fails the task fails, with the server's
    energy spent and the device charged for each attempt it received."""
    doc = copy.deepcopy(BASE)
    doc["network"]["cells"][0].update(loss=0.5, max_retries=0, shared=shared)
    jobs = [Job(j, f"j_{j + 1}", 0.5 * j, 0, [_task(j, j)]) for j in range(40)]
    rec = _run(tmp_path, doc, jobs)
    reasons = [r["reason"] for r in rec]
    lost_down = [r for r in rec if r["reason"].startswith("result lost on the downlink")]
    assert reasons.count("upload lost: every retransmission failed") > 5
    assert len(lost_down) > 5
    assert sum(r["outcome"] == "completed" for r in rec) > 5
    for r in lost_down:
        assert r["outcome"] == "failed" and r["server_energy_j"] > 0.0
        assert r["downlink_s"] == pytest.approx(DOWN, rel=1e-9)
