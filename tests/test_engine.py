"""The event engine against hand-computed figures: timing, bandwidth sharing, energy, accounting, determinism."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from edgesplit.model.network import dbm_to_w, path_gain, shannon_rate_bps
from edgesplit.model.profiles import get_profile
from edgesplit.run import run_scenario
from edgesplit.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
STAR = ROOT / "scenarios" / "star_offload.yaml"
SMOKE = ROOT / "scenarios" / "smoke.yaml"


def star(*overrides: str):
    return run_scenario(load_scenario(STAR, list(overrides)))


def test_star_single_device_matches_hand_figures() -> None:
    # Per iteration: 1e7/1e9 local + 10 ms latency + 1e5 B / 1e7 B/s + 1e8/1e11 edge + 10 ms + 100 B / 1e7 B/s.
    # The scenario's backhaul (1e15 bit/s, no latency) adds (1e5 + 100) B x 8 / 1e15.
    per_iteration = 0.010 + 0.010 + 0.010 + 0.001 + 0.010 + 100 / 1e7 + (1e5 + 100) * 8 / 1e15
    result = star("fleet.devices.0.count=1", "workload.synthetic.iterations=10")
    assert result.summary["sim_time_s"] == pytest.approx(10 * per_iteration, rel=1e-12)
    rows = result.records()
    offloaded = [r for r in rows if r["placement"] == "edge"]
    assert len(offloaded) == 10 and all(r["outcome"] == "completed" for r in rows)
    first = offloaded[0]
    assert first["uplink_s"] == pytest.approx(0.010)
    assert first["compute_s"] == pytest.approx(0.001)
    assert first["latency_s"] == pytest.approx(per_iteration - 0.010, rel=1e-12)
    # Radio (Huang et al.): base power x airtime + per-bit/s slope x bits, both ways, then the tail at tail power
    # between the upload and the result (21 ms) and between the result and the next upload (10 ms of local work).
    p = get_profile("rpi4")
    up = p.radio_base_w * 0.010 + p.radio_up_w_per_bps * 1e5 * 8
    down = p.radio_base_w * 100 * 8 / 80e6 + p.radio_down_w_per_bps * 100 * 8
    tails = p.radio_tail_w * ((0.021 + (1e5 + 100) * 8 / 1e15) + 0.010)
    assert first["device_radio_j"] == pytest.approx(up + down + tails, rel=1e-9)


def test_edge_core_is_fifo_and_shared_by_devices() -> None:
    # 100 devices in lock-step: the edge's single core serialises their 1 ms jobs (SimGrid FIFO figure: 10.04 s).
    result = star("fleet.devices.0.count=100")
    assert result.summary["sim_time_s"] == pytest.approx(10.04, abs=1e-3)
    assert result.summary["tasks"]["completed"] == 100 * 200


def test_shared_cell_splits_bandwidth() -> None:
    alone = star("fleet.devices.0.count=1", "workload.synthetic.iterations=1", "network.cells.0.shared=true")
    pair = star("fleet.devices.0.count=2", "workload.synthetic.iterations=1", "network.cells.0.shared=true")
    up = lambda r: [x["uplink_s"] for x in r.records() if x["placement"] == "edge"]  # noqa: E731
    assert up(alone) == pytest.approx([0.010])
    assert up(pair) == pytest.approx([0.020, 0.020])  # both on the air together at half the rate


def test_shannon_rate_hand_check() -> None:
    # 3GPP macro path loss at 100 m: 128.1 + 37.6 log10(0.1) = 90.5 dB; 0.2 W; -174 dBm/Hz; 10 MHz.
    gain = path_gain(100.0)
    assert 10 * math.log10(1 / gain) == pytest.approx(90.5)
    snr_per_hz = 0.2 * gain / dbm_to_w(-174.0)
    rate = shannon_rate_bps(10e6, snr_per_hz)
    snr = 0.2 * 10 ** (-9.05) / (10 ** (-20.4) * 1e7)
    assert rate == pytest.approx(10e6 * math.log2(1 + snr))


def test_energy_adds_up_per_device_and_component() -> None:
    result = run_scenario(load_scenario(SMOKE))
    s, rows = result.summary, result.records()
    energy = s["energy_j"]
    by_device = {d["device"]: d for d in energy["per_device"]}
    for name, d in by_device.items():
        mine = [r for r in rows if r["device"] == name]
        assert sum(r["device_compute_j"] for r in mine) == pytest.approx(d["compute"], rel=1e-9)
        assert sum(r["device_radio_j"] for r in mine) == pytest.approx(d["radio"], rel=1e-9)
        # Idle power runs for the whole run; tasks share it while in flight, the rest is unattributed.
        assert sum(r["device_idle_j"] for r in mine) <= d["idle"] * (1 + 1e-9)
    profile = {"phone": get_profile("phone-midrange"), "pi": get_profile("rpi4")}
    for d in energy["per_device"]:
        assert d["idle"] == pytest.approx(profile[d["class"]].idle_power_w * s["sim_time_s"], rel=1e-9)
    local = next(r for r in rows if r["placement"] == "local" and r["device_class"] == "phone")
    p = profile["phone"]
    assert local["device_compute_j"] == pytest.approx(p.kappa * p.cpu_hz**2 * local["cycles"])
    total = sum(energy["device_by_component"].values())
    assert energy["device_total"] == pytest.approx(total)


def test_same_seed_same_records_other_seed_different() -> None:
    a = run_scenario(load_scenario(SMOKE)).columns
    b = run_scenario(load_scenario(SMOKE)).columns
    c = run_scenario(load_scenario(SMOKE, ["seed=2"])).columns
    assert a == b
    assert a != c


def test_lossy_link_fails_tasks_and_drops_descendants_with_reasons() -> None:
    result = run_scenario(
        load_scenario(SMOKE, ["policy.kind=edge", "network.cells.0.loss=0.6", "network.cells.0.max_retries=1"])
    )
    t = result.summary["tasks"]
    assert t["failed"] > 0 and t["dropped"] > 0
    assert t["submitted"] == t["completed"] + t["failed"] + t["dropped"]
    reasons = {r["reason"] for r in result.records() if r["outcome"] != "completed"}
    assert "upload lost: every retransmission failed" in reasons
    assert "an ancestor failed" in reasons


def test_stop_time_and_expired_deadlines_drop_tasks() -> None:
    result = run_scenario(load_scenario(SMOKE, ["stop.max_time_s=5"]))
    t = result.summary["tasks"]
    assert t["dropped"] > 0 and t["submitted"] == t["completed"] + t["failed"] + t["dropped"]
    assert result.summary["sim_time_s"] == 5
    assert set(t["by_reason"]) <= {
        "stop time reached before the task was released",
        "stop time reached before the task finished",
    }
    expired = run_scenario(
        load_scenario(
            SMOKE,
            ["policy.kind=local", "workload.deadline.factor=0.05", "workload.deadline.drop_expired=true"],
        )
    )
    assert "deadline passed before the task was released" in expired.summary["tasks"]["by_reason"]


def test_records_and_summary_are_written(tmp_path: Path) -> None:
    result = run_scenario(load_scenario(SMOKE))
    paths = result.write(tmp_path, "parquet")
    assert {p.name for p in paths} == {"tasks.parquet", "summary.json"}
    from edgesplit.results import read_records

    back = read_records(tmp_path)
    assert list(back["task"]) == result.columns["task"]


def test_idle_meter_shares_add_up_to_power_times_time() -> None:
    from edgesplit.model.energy import IdleMeter

    meter = IdleMeter(2.0)
    a = meter.begin(1.0)  # 0-1 s: nobody in flight -> unattributed 2 J
    b = meter.begin(2.0)  # 1-2 s: a alone -> a gets 2 J
    share_a = meter.end(4.0, a)  # 2-4 s: a and b -> 2 J each
    share_b = meter.end(5.0, b)  # 4-5 s: b alone -> 2 J
    meter.advance(6.0)  # 5-6 s: unattributed 2 J
    assert (share_a, share_b, meter.unattributed_j) == pytest.approx((4.0, 4.0, 4.0))
    assert share_a + share_b + meter.unattributed_j == pytest.approx(meter.total_j) == pytest.approx(12.0)


def test_an_external_driver_makes_the_same_run_as_the_policy() -> None:
    from edgesplit.engines.factory import prepare
    from edgesplit.policies import make_policy

    sc = load_scenario(SMOKE)
    reference = run_scenario(sc).columns
    engine = prepare(sc, external_policy=True)
    policy = make_policy(sc.policy.kind, sc.seed)
    engine.start()
    decisions = 0
    while (task := engine.advance()) is not None:
        engine.decide(policy.place(task, engine))
        decisions += 1
    assert decisions > 0
    assert engine.finish().columns == reference
