"""The Ray engine: same records as the event engine (parity), faults on both engines, 1,000 devices, real time."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from edgesplit.engines.factory import prepare
from edgesplit.errors import UserError
from edgesplit.results import RunResult
from edgesplit.run import run_scenario
from edgesplit.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
DAGS = ROOT.parent / "shared" / "data" / "alibaba" / "alibaba_v2018_batch_task_selected_DAGs.csv"
# What legitimately differs between engines: the engine's name, wall time and event count (shards count
# mirror replays and server messages as events).
ENGINE_KEYS = ("engine", "wall_s", "events")


def both(path: str, *sets: str) -> tuple[RunResult, RunResult]:
    sim = run_scenario(load_scenario(ROOT / path, list(sets)))
    ray = run_scenario(load_scenario(ROOT / path, [*sets, "engine.kind=ray"]))
    return sim, ray


def assert_same(sim: RunResult, ray: RunResult) -> None:
    """Bit-for-bit equal per-task records and summaries (NaN equals NaN)."""
    assert sim.columns.keys() == ray.columns.keys()
    for name, col in sim.columns.items():
        other = ray.columns[name]
        diff = [
            i
            for i, (a, b) in enumerate(zip(col, other, strict=True))
            if a != b and not (isinstance(a, float) and math.isnan(a) and math.isnan(b))
        ]
        assert not diff, f"column {name}: {len(diff)} differences, first at task {diff[0]}"
    a = {k: v for k, v in sim.summary.items() if k not in ENGINE_KEYS}
    b = {k: v for k, v in ray.summary.items() if k not in ENGINE_KEYS}
    assert a == b
    assert ray.summary["engine"] == "ray"


def test_parity_smoke_policy_reading_server_queues(ray_session: None) -> None:
    """greedy-latency reads the servers' queues: shards replay arrivals on their mirrors."""
    sim, ray = both("scenarios/smoke.yaml")
    assert_same(sim, ray)
    assert sim.summary["tasks"]["completed"] > 0


@pytest.mark.skipif(not DAGS.is_file(), reason=f"real trace sample not found at {DAGS}")
def test_parity_real_trace_slice(ray_session: None) -> None:
    """A slice of the real Alibaba sample on two shared cells (two shards), three edge servers and a cloud VM,
    with jitter and loss drawn on both sides."""
    sim, ray = both(
        "scenarios/alibaba_trace.yaml",
        f"workload.trace.path={DAGS}",
        "workload.trace.max_jobs=40",
        "workload.arrival.rate_per_s=2",
    )
    assert sim.summary["real_trace"]
    assert_same(sim, ray)


def test_parity_star_two_shards_and_random_policy(ray_session: None) -> None:
    """Unshared links spread over two shards; the random policy draws from per-device streams."""
    sim, ray = both(
        "scenarios/star_offload.yaml",
        "fleet.devices.0.count=40",
        "workload.synthetic.iterations=5",
        "engine.shards=2",
        "policy.kind=random",
    )
    assert_same(sim, ray)
    assert 0 < sim.summary["offload_ratio"] < 1


def test_thousand_devices(ray_session: None) -> None:
    sim, ray = both("scenarios/star_offload.yaml", "fleet.devices.0.count=1000", "workload.synthetic.iterations=2")
    assert ray.summary["tasks"]["completed"] == 1000 * 2 * 2
    assert_same(sim, ray)


def test_faults_on_both_engines(ray_session: None) -> None:
    """scenarios/faults.yaml: edge-0 dies at 8 s for 6 s, cell north is dark in [12 s, 15 s), pi-1 is away in
    [15 s, 25 s). Both engines give the same records; every task is accounted for, with reasons."""
    sim, ray = both("scenarios/faults.yaml")
    assert_same(sim, ray)
    s, cols = sim.summary, sim.columns
    tasks = s["tasks"]
    assert all(r for r, o in zip(cols["reason"], cols["outcome"], strict=True) if o != "completed")

    # The server: re-dispatched tasks exist and most complete elsewhere. No task completed on edge-0 computed
    # there at any moment of [8 s, 14 s): none started while it was down, and none that was running when it went
    # down (those were lost and re-dispatched) counts as done there.
    faults = s["faults"]
    assert faults["redispatched_tasks"] > 0 and faults["redispatched_completed"] > 0
    rows = list(zip(cols["placement"], cols["start_s"], cols["compute_s"], cols["outcome"], strict=True))
    on_edge0 = [(st, st + cs) for p, st, cs, o in rows if p == "edge-0" and o == "completed"]
    assert on_edge0 and not [(a, b) for a, b in on_edge0 if a < 14.0 and b > 8.0]
    assert [a for a, _ in on_edge0 if a >= 14.0]  # it served again once back
    # Energy still adds up: what the servers spent is what the tasks were charged (refunds included).
    charged = sum(cols["server_energy_j"])
    spent = sum(v["compute"] for v in s["energy_j"]["by_server"].values())
    assert charged == pytest.approx(spent, rel=1e-9)

    # The outage: no result reaches a device of cell north while it is dark.
    north = {f"phone-{k}" for k in range(8)}
    remote_north = [
        f
        for d, p, f, o in zip(cols["device"], cols["placement"], cols["finish_s"], cols["outcome"], strict=True)
        if d in north and p not in ("local", "none") and o == "completed"
    ]
    assert remote_north and not [f for f in remote_north if 12.0 <= f < 15.0]

    # The device: pi-1 finishes nothing while away; its jobs that arrive then are dropped with the reason.
    reasons = tasks["by_reason"]
    assert reasons["its device left the network"] > 0
    assert reasons["its device was away when the job arrived"] > 0
    pi1 = [
        (f, o)
        for d, f, o in zip(cols["device"], cols["finish_s"], cols["outcome"], strict=True)
        if d == "pi-1" and o == "completed"
    ]
    assert pi1 and not [f for f, _ in pi1 if 15.0 <= f < 25.0]


def test_realtime_clock_paces_and_keeps_results(ray_session: None) -> None:
    sets = ["fleet.devices.0.count=4", "fleet.devices.1.count=1", "workload.synthetic.jobs=6"]
    sim = run_scenario(load_scenario(ROOT / "scenarios/smoke.yaml", sets))
    ray = run_scenario(
        load_scenario(
            ROOT / "scenarios/smoke.yaml", [*sets, "engine.kind=ray", "engine.clock=realtime", "engine.time_scale=8"]
        )
    )
    assert_same(sim, ray)
    # Paced: the run cannot take less wall time than its virtual time divided by the scale.
    assert ray.summary["wall_s"] >= 0.9 * sim.summary["sim_time_s"] / 8


def test_the_cli_keeps_a_realtime_scenario_paced(ray_session: None, tmp_path: Path) -> None:
    """`edgesplit scenario run` without --pace leaves a Ray scenario's realtime clock alone (it once reset it)."""
    from edgesplit.cli.scenario import _run

    sets = ["fleet.devices.0.count=4", "fleet.devices.1.count=1", "workload.synthetic.jobs=6", "engine.kind=ray",
            "engine.clock=realtime", "engine.time_scale=8", "outputs.plots=false"]  # fmt: skip
    _run(load_scenario(ROOT / "scenarios/smoke.yaml", sets), tmp_path, quiet=True, exporter=None, pace=None)
    import json

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["wall_s"] >= 0.9 * summary["sim_time_s"] / 8


def test_errors_are_user_errors() -> None:
    zero = ["engine.kind=ray", "network.cells.0.latency_s=0", "network.backhaul.latency_s=0"]
    sc = load_scenario(ROOT / "scenarios/smoke.yaml", zero)
    with pytest.raises(UserError, match="lookahead"):
        prepare(sc)
    with pytest.raises(UserError, match="no cell named"):
        load_scenario(ROOT / "scenarios/faults.yaml", ["faults.1.cell=nowhere"])


def test_metrics_observer_on_ray_matches_the_summary(ray_session: None) -> None:
    """The Prometheus exporter watches a Ray run: device meters live, task counters when the run ends."""
    from edgesplit.metrics import FleetMetrics, MetricsObserver, iter_samples

    metrics = FleetMetrics(top_devices=20, process_metrics=False)
    engine = prepare(load_scenario(ROOT / "scenarios/smoke.yaml", ["engine.kind=ray"]), [MetricsObserver(metrics)])
    s = engine.run().summary
    got: dict[str, float] = {}
    for name, labels, value in iter_samples(metrics.exposition().decode()):
        if name == "edgesplit_tasks_total":
            name = f"{name}:{labels['outcome']}"
        got[name] = got.get(name, 0.0) + value
    assert got["edgesplit_tasks_total:completed"] == s["tasks"]["completed"]
    assert got["edgesplit_device_class_energy_joules_total"] == pytest.approx(s["energy_j"]["device_total"], rel=1e-12)
    assert got["edgesplit_server_energy_joules_total"] == pytest.approx(s["energy_j"]["server_total"], rel=1e-12)
