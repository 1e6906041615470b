"""What policies see: estimates against what then happens, and work in transit counted (hand figures)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgesplit.engines.sim import SimEngine
from edgesplit.policies import make_policy
from edgesplit.policies.heuristics import GreedyLatencyPolicy
from edgesplit.scenario import load_scenario
from edgesplit.workload.build import BuiltWorkload
from edgesplit.workload.dag import Job, Task

ROOT = Path(__file__).resolve().parents[1]

TWO_EDGES = {
    "name": "two-edges",
    "seed": 1,
    "fleet": {
        "devices": [{"name": "phone", "profile": "phone-midrange", "cpu_hz": 1e9, "cores": 1, "energy_model": "kappa"}],
        "edge_servers": [{"name": "edge", "profile": "edge-server", "count": 2, "cpu_hz": 1e10, "cores": 1}],
    },
    "network": {
        "cells": [
            {
                "name": "c",
                "model": "fixed",
                "rate_bps": 1e8,
                "shared": False,
                "latency_s": 0.005,
                "downlink_rate_bps": 1e8,
            }
        ],
        "backhaul": {"latency_s": 0.002, "rate_bps": 1e10},
    },
    "workload": {"source": "synthetic", "synthetic": {"kind": "poisson", "jobs": 1}, "deadline": {"factor": None}},
    "policy": {"kind": "greedy-latency"},
    "outputs": {"plots": False},
}


def _scenario(tmp_path: Path, doc: dict) -> object:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_scenario(path)


def _siblings(n: int, cycles: float, nbytes: float, out_bytes: float) -> BuiltWorkload:
    """One job released at 0 with `n` root tasks (siblings released at the same instant)."""
    tasks = [Task(uid=i, job_uid=0, name=f"M{i + 1}", cycles=cycles, input_bytes=nbytes, output_bytes=out_bytes)
             for i in range(n)]  # fmt: skip
    return BuiltWorkload([Job(0, "j_1", 0.0, 0, tasks)], tasks, "hand-built", False)


def test_siblings_released_together_are_spread_over_servers(tmp_path: Path) -> None:
    sc = _scenario(tmp_path, TWO_EDGES)
    engine = SimEngine(sc, _siblings(2, 1e9, 1000.0, 100.0), make_policy("greedy-latency"))
    result = engine.run()
    rec = result.records()
    # The first sibling takes edge-0; edge-0 then holds its 0.1 s of work (still on its way) and the second
    # sibling, behind it on the radio, is better off on the idle edge-1.
    assert [r["placement"] for r in rec] == ["edge-0", "edge-1"]
    up = 1000 * 8 / 1e8  # 80 us on the air each, one after the other on the device's radio
    way_in = 0.005 + 0.002 + 1000 * 8 / 1e10
    compute = 1e9 / 1e10
    way_back = 0.002 + 100 * 8 / 1e10 + 100 * 8 / 1e8 + 0.005
    assert rec[0]["finish_s"] == pytest.approx(up + way_in + compute + way_back, rel=1e-12)
    assert rec[1]["finish_s"] == pytest.approx(2 * up + way_in + compute + way_back, rel=1e-12)


def test_a_server_that_can_take_both_gets_both(tmp_path: Path) -> None:
    """With one fast server and a slow one, both siblings still go to the fast one when that is sooner."""
    doc = yaml.safe_load(yaml.safe_dump(TWO_EDGES))
    doc["fleet"]["edge_servers"] = [
        {"name": "fast", "profile": "edge-server", "cpu_hz": 1e11, "cores": 1},
        {"name": "slow", "profile": "edge-server", "cpu_hz": 1e9, "cores": 1},
    ]
    engine = SimEngine(_scenario(tmp_path, doc), _siblings(2, 1e9, 1000.0, 100.0), make_policy("greedy-latency"))
    assert [r["placement"] for r in engine.run().records()] == ["fast", "fast"]


class Recording(GreedyLatencyPolicy):
    """Greedy-latency that remembers the finish time it estimated for its choice."""

    def __init__(self) -> None:
        self.estimated: dict[int, float] = {}

    def place(self, task: Task, view: object) -> int:
        target = super().place(task, view)  # type: ignore[arg-type]
        self.estimated[task.uid] = view.estimate(task, target)[0]  # type: ignore[attr-defined]
        return target


@pytest.mark.parametrize("shared", [False, True])
def test_estimates_come_true_when_nothing_else_competes(shared: bool) -> None:
    """One device alone (no jitter, no loss): every estimated finish time is what then happens, local and remote,
    whether its tasks queue on its cores, its radio or a server. (The backhaul is made fast: a later small input
    could otherwise overtake a big one on the wire, which no estimate made before it was sent can know; so is the
    downlink: a result could wait there behind an earlier task's result that had not yet left its server.)"""
    sc = load_scenario(
        ROOT / "scenarios" / "smoke.yaml",
        ["fleet.devices=[{name: phone, profile: phone-midrange, count: 1}]", "network.backhaul.rate_bps=1e15",
         f"network.cells.0.shared={str(shared).lower()}", "network.cells.0.downlink_rate_bps=1e15",
         "workload.synthetic.jobs=15"],
    )  # fmt: skip
    policy = Recording()
    from edgesplit.engines.factory import device_profiles
    from edgesplit.workload.build import build_workload

    engine = SimEngine(sc, build_workload(sc, device_profiles(sc)), policy)
    rec = engine.run().records()
    placed = [r for r in rec if r["task"] in policy.estimated]
    remote = [r for r in placed if r["placement"] != "local"]
    assert remote and len(remote) < len(placed)  # both kinds of placement are checked
    for r in placed:
        assert r["finish_s"] == pytest.approx(policy.estimated[r["task"]], rel=1e-9, abs=1e-9), r


def test_estimates_count_the_mean_jitter() -> None:
    """With jitter the estimate is right on average: the mean error of remote finishes is far below the jitter.
    (A fast downlink, as above: results queueing there behind each other would add an error of their own.)"""
    jitter = 0.02
    sc = load_scenario(
        ROOT / "scenarios" / "smoke.yaml",
        ["fleet.devices=[{name: phone, profile: phone-midrange, count: 1}]", f"network.cells.0.jitter_s={jitter}",
         "network.cells.0.downlink_rate_bps=1e15", "workload.synthetic.jobs=40"],
    )  # fmt: skip
    policy = Recording()
    from edgesplit.engines.factory import device_profiles
    from edgesplit.workload.build import build_workload

    engine = SimEngine(sc, build_workload(sc, device_profiles(sc)), policy)
    rec = engine.run().records()
    errors = [r["finish_s"] - policy.estimated[r["task"]] for r in rec if r["placement"] not in ("local", "none")]
    assert len(errors) > 30
    mean = sum(errors) / len(errors)
    # Two legs each add U(0, jitter): the estimate adds their mean, so what is left averages out.
    assert abs(mean) < jitter / 4


def test_decide_refuses_a_bad_target_and_keeps_the_task() -> None:
    from edgesplit.engines.factory import prepare

    engine = prepare(load_scenario(ROOT / "scenarios" / "smoke.yaml"), external_policy=True)
    engine.start()
    task = engine.advance()
    assert task is not None
    with pytest.raises(ValueError, match="neither LOCAL"):
        engine.decide(99)
    assert engine.advance() is task  # still waiting, not lost
    engine.decide(-1)
    while (t := engine.advance()) is not None:
        engine.decide(-1 if t.uid % 2 else 0)
    result = engine.finish()
    assert result.summary["tasks"]["completed"] == result.n_tasks
