"""The event engine against hand-computed figures: timing, bandwidth sharing on fixed and bounded-Shannon cells,
jitter, energy (outages included), failures and drops, determinism."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from hand_world import hand_device, hand_network

from edgesplit.engines.factory import prepare
from edgesplit.engines.sim import SimEngine
from edgesplit.model.profiles import get_profile
from edgesplit.policies import make_policy
from edgesplit.run import run_scenario
from edgesplit.scenario import load_scenario
from edgesplit.workload.build import BuiltWorkload
from edgesplit.workload.dag import Job, Task

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


def shannon_pair(tmp_path: Path, count: int) -> list[float]:
    """Uplink seconds of `count` devices 400 m from the base station of a shared 10 MHz bounded-Shannon cell, each
    sending 100 kB at t = 0."""
    doc = yaml.safe_load(STAR.read_text())
    doc["fleet"]["devices"][0].update({"count": count, "distance_m": 400})
    doc["network"]["cells"] = [{"name": "c", "bandwidth_hz": 10e6, "shared": True, "latency_s": 0.01}]
    doc["workload"]["synthetic"].update({"iterations": 1, "local_cycles": 0})
    path = tmp_path / "shannon.yaml"
    path.write_text(yaml.safe_dump(doc))
    return [r["uplink_s"] for r in run_scenario(load_scenario(path)).records() if r["placement"] == "edge"]


def test_shannon_cell_rates_and_the_shared_band_hand_figures(tmp_path: Path) -> None:
    # By hand, at 400 m: path loss 128.1 + 37.6 log10(0.4) = 113.14 dB; 0.2 W = 23.01 dBm; noise -174 dBm/Hz over
    # 10 MHz (+70 dB) and the base station's 5 dB noise figure: -99 dBm; SNR 8.87 dB = 7.71. Attenuated Shannon
    # 0.6 log2(1 + 7.71) = 1.874 bit/s/Hz reaches CQI 7 of TS 38.214 table 5.2.2.1-2, 1.4766 bit/s/Hz:
    # 14.766 Mbit/s, so 800 kbit take 54.18 ms.
    assert shannon_pair(tmp_path, 1) == pytest.approx([8e5 / (10e6 * 1.4766)], rel=1e-9)
    # Two devices on the air share the band: 5 MHz each, into which each puts its whole 0.2 W, so each sees twice
    # the SNR, 11.88 dB = 15.42; 0.6 log2(16.42) = 2.423 reaches CQI 9, 2.4063 bit/s/Hz: 12.03 Mbit/s each,
    # 66.49 ms, not the 108 ms of half the solo rate.
    assert shannon_pair(tmp_path, 2) == pytest.approx([8e5 / (5e6 * 2.4063)] * 2, rel=1e-9)


def test_jitter_adds_its_mean_each_way() -> None:
    # 2,000 offloads of one star device on its 10 ms link with 4 ms of uniform jitter, drawn once on the way up and
    # once on the way back: network_s = 2 x 10 ms + backhaul (0.8 us) + U1 + U2, U ~ U[0, 4 ms]. By hand the extra
    # has mean 4 ms and variance 2 x (4 ms)^2 / 12; the sample mean of 2,000 has a standard error of 0.037 ms.
    result = star("fleet.devices.0.count=1", "workload.synthetic.iterations=2000", "network.cells.0.jitter_s=4 ms")
    rows = [r for r in result.records() if r["placement"] == "edge"]
    extra = np.array([r["network_s"] for r in rows]) - (0.020 + (1e5 + 100) * 8 / 1e15)
    assert len(extra) == 2000 and extra.min() >= 0 and extra.max() <= 0.008
    assert abs(extra.mean() - 0.004) < 4 * 0.037e-3  # measured 4.009 ms
    assert extra.var() == pytest.approx(2 * 0.004**2 / 12, rel=0.1)
    # Each task's latency is the jitter-free figure (test_star_single_device_matches_hand_figures) + its own draws.
    no_jitter = 0.010 + 0.010 + 0.001 + 0.010 + 100 / 1e7 + (1e5 + 100) * 8 / 1e15
    assert [r["latency_s"] for r in rows] == pytest.approx(list(no_jitter + extra), rel=1e-9)


# One device at 1 GHz, a 10 GHz edge server, a 1 Mbit/s link both ways with no latency; radio 0.2 W on the air,
# 0.05 W stalled, no per-bit slope, no tail (the rules of docs/architecture.md "Energy", in hand figures).
HAND = {
    "name": "hand",
    "seed": 1,
    "fleet": {
        "devices": [
            hand_device()
        ],
        "edge_servers": [{"name": "edge", "profile": "edge-server", "cpu_hz": 1e10, "cores": 1}],
    },
    "network": hand_network(),
    "workload": {"source": "synthetic", "synthetic": {"kind": "poisson", "jobs": 1}, "deadline": {"factor": None}},
    "policy": {"kind": "edge"},
    "faults": [{"kind": "link-outage", "cell": "c", "at_s": 1.0, "duration_s": 4.0}],
    "outputs": {"plots": False},
}  # fmt: skip


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("direction", ["up", "down"])
def test_a_transfer_through_an_outage_is_charged_airtime_and_stall_hand_figures(
    tmp_path: Path, shared: bool, direction: str
) -> None:
    # 1 MB at 1 Mbit/s: 8 s on the air; the outage [1 s, 5 s) stalls it 4 s: 0.2 W x 8 s + 0.05 W x 4 s = 1.8 J,
    # not 0.2 W x 12 s = 2.4 J. The other way carries nothing; 1e6 cycles take 0.1 ms on the server.
    doc = copy.deepcopy(HAND)
    doc["network"]["cells"][0]["shared"] = shared
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    up, down = (1e6, 0.0) if direction == "up" else (0.0, 1e6)
    task = Task(uid=0, job_uid=0, name="M1", cycles=1e6, input_bytes=up, output_bytes=down)
    workload = BuiltWorkload([Job(0, "j_1", 0.0, 0, [task])], [task], "hand-built", False)
    (rec,) = SimEngine(load_scenario(path), workload, make_policy("edge")).run().records()
    assert rec["outcome"] == "completed"
    assert rec["uplink_s" if direction == "up" else "downlink_s"] == pytest.approx(12.0)
    assert rec["finish_s"] == pytest.approx(12.0 + 1e-4, abs=1e-6)
    assert rec["device_radio_j"] == pytest.approx(0.2 * 8 + 0.05 * 4)


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
    sc = load_scenario(SMOKE, ["policy.kind=edge", "network.cells.0.loss=0.6", "network.cells.0.max_retries=1"])
    engine = prepare(sc)
    c = engine.run().columns
    rows = range(len(c["task"]))
    up_lost = [i for i in rows if c["reason"][i] == "upload lost: every retransmission failed"]
    down_lost = [i for i in rows if c["reason"][i] == "result lost on the downlink: every retransmission failed"]
    sent = [i for i in rows if c["placement"][i] == "edge"]  # every task released here sent its input
    # A transfer is lost when its try and its one retry both are: 0.6^2 = 0.36 of the uploads, and of the results
    # of the uploads that got through (binomial standard errors about 0.024 and 0.030; 4 of them allowed).
    uploads, results = len(sent), len(sent) - len(up_lost)
    assert uploads > 300 and abs(len(up_lost) / uploads - 0.36) < 4 * (0.36 * 0.64 / uploads) ** 0.5
    assert abs(len(down_lost) / results - 0.36) < 4 * (0.36 * 0.64 / results) ** 0.5
    # A lost upload never reached the server: nothing ran or was charged there, while its radio paid its attempts.
    for i in up_lost:
        assert np.isnan(c["start_s"][i]) and c["compute_s"][i] == 0 and c["server_energy_j"][i] == 0
        assert c["device_radio_j"][i] > 0
    # The dropped tasks are exactly the descendants of failed ones; they drop when their first ancestor fails, and
    # cost nothing: they never ran.
    failed = {i for i in rows if c["outcome"][i] == "failed"}
    assert failed == set(up_lost) | set(down_lost)
    dropped_at: dict[int, float] = {}
    for f in sorted(failed, key=lambda i: c["finish_s"][i]):
        stack = list(engine.tasks[f].children)
        while stack:
            d = stack.pop()
            if d not in dropped_at:
                dropped_at[d] = c["finish_s"][f]
                stack.extend(engine.tasks[d].children)
    dropped = {i for i in rows if c["outcome"][i] == "dropped"}
    assert dropped and dropped == set(dropped_at) and not dropped & failed
    for i in dropped:
        assert c["reason"][i] == "an ancestor failed" and c["finish_s"][i] == dropped_at[i]
        assert np.isnan(c["release_s"][i]) and c["placement"][i] == "none"
        assert c["device_energy_j"][i] == 0 and c["server_energy_j"][i] == 0


def test_stop_time_and_expired_deadlines_drop_tasks() -> None:
    result = run_scenario(load_scenario(SMOKE, ["stop.max_time_s=5"]))
    t = result.summary["tasks"]
    assert result.summary["sim_time_s"] == 5
    assert set(t["by_reason"]) == {
        "stop time reached before the task was released",
        "stop time reached before the task finished",
    }
    phone = get_profile("phone-midrange")
    cut_local = 0
    for r in result.records():
        if r["outcome"] == "completed":
            assert r["finish_s"] <= 5
        elif r["reason"] == "stop time reached before the task finished":  # released, running or in transit
            assert r["release_s"] < 5 and r["finish_s"] == 5
            if r["placement"] == "local" and r["device_class"] == "phone":
                # By hand: kappa f^2 for each cycle that ran, (5 s - start) x f of them (none if it was still
                # queued), not the whole task.
                ran = max(5 - r["start_s"], 0.0) * phone.cpu_hz
                assert ran < r["cycles"]
                assert r["device_compute_j"] == pytest.approx(phone.kappa * phone.cpu_hz**2 * ran, abs=1e-12)
                cut_local += ran > 0
        else:  # never released: no placement, nothing charged
            assert np.isnan(r["release_s"]) and r["placement"] == "none" and r["device_energy_j"] == 0
    assert cut_local > 0
    expired = run_scenario(
        load_scenario(
            SMOKE,
            ["policy.kind=local", "workload.deadline.factor=0.05", "workload.deadline.drop_expired=true"],
        )
    )
    assert "deadline passed before the task was released" in expired.summary["tasks"]["by_reason"]
    for r in expired.records():
        if r["reason"] == "deadline passed before the task was released":  # dropped at its release, past the deadline
            assert r["finish_s"] > r["deadline_s"] and r["device_energy_j"] == 0


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
