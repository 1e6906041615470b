"""Energy charged for work that happened: cuts by the stop time, a departure or an outage, against hand figures."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from hand_world import hand_device, hand_network

from edgesplit.engines.sim import SimEngine
from edgesplit.policies import make_policy
from edgesplit.scenario import load_scenario
from edgesplit.workload.build import BuiltWorkload
from edgesplit.workload.dag import Job, Task

# One device at 1 GHz drawing kappa f^3 = 1 W per busy core, one edge server at 10 GHz drawing 100 W per core,
# a dedicated 1 Mbit/s link; radio: 0.2 W on the air, 0.05 W stalled or in its tail, nothing per bit.
BASE = {
    "name": "hand",
    "seed": 1,
    "fleet": {
        "devices": [
            hand_device(kappa=1e-27, energy_model="kappa")
        ],
        "edge_servers": [{"name": "edge", "profile": "edge-server", "cpu_hz": 1e10, "cores": 1, "kappa": 1e-28}],
    },
    "network": hand_network(),
    "workload": {"source": "synthetic", "synthetic": {"kind": "poisson", "jobs": 1}, "deadline": {"factor": None}},
    "policy": {"kind": "local"},
    "outputs": {"plots": False},
}  # fmt: skip


def run(tmp_path: Path, cycles: float, nbytes: float, policy: str, **changes: object) -> tuple[dict, dict]:
    """One task of `cycles` and `nbytes` of input, released at 0; returns (its record, the summary)."""
    doc = copy.deepcopy(BASE)
    doc.update(changes)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    sc = load_scenario(path)
    task = Task(uid=0, job_uid=0, name="M1", cycles=cycles, input_bytes=nbytes, output_bytes=0.0)
    workload = BuiltWorkload([Job(0, "j_1", 0.0, 0, [task])], [task], "hand-built", False)
    result = SimEngine(sc, workload, make_policy(policy)).run()
    return result.records()[0], result.summary


def test_a_local_task_cut_by_the_stop_time_is_charged_what_ran(tmp_path: Path) -> None:
    rec, summary = run(tmp_path, 1e10, 0.0, "local", stop={"max_time_s": 2.0})  # 10 s of work at 1 W
    assert rec["outcome"] == "dropped"
    assert rec["device_compute_j"] == pytest.approx(2.0)  # 2 s of 1 W, not 10 J
    assert summary["energy_j"]["device_by_component"]["compute"] == pytest.approx(2.0)


def test_a_task_whose_device_leaves_is_charged_what_ran(tmp_path: Path) -> None:
    faults = [{"kind": "device-leave", "device": "dev", "at_s": 3.0}]
    rec, summary = run(tmp_path, 1e10, 0.0, "local", faults=faults)
    assert (rec["outcome"], rec["reason"]) == ("failed", "its device left the network")
    assert rec["device_compute_j"] == pytest.approx(3.0)
    assert summary["energy_j"]["device_by_component"]["compute"] == pytest.approx(3.0)


def test_server_work_cut_by_the_stop_time_is_charged_what_ran(tmp_path: Path) -> None:
    # 1e11 cycles at 10 GHz: 10 s at 100 W on the server; the input is empty, so it starts at once.
    rec, summary = run(tmp_path, 1e11, 0.0, "edge", stop={"max_time_s": 2.0})
    assert rec["server_energy_j"] == pytest.approx(200.0)
    assert summary["energy_j"]["by_server"]["edge"]["compute"] == pytest.approx(200.0)


def test_an_upload_through_an_outage_is_charged_airtime_and_stall_apart(tmp_path: Path) -> None:
    # 1 MB at 1 Mbit/s: 8 s on the air, stalled 4 s by the outage [1, 5): 0.2 W x 8 s + 0.05 W x 4 s.
    faults = [{"kind": "link-outage", "cell": "c", "at_s": 1.0, "duration_s": 4.0}]
    rec, _ = run(tmp_path, 1e6, 1e6, "edge", faults=faults)
    assert rec["outcome"] == "completed"
    assert rec["uplink_s"] == pytest.approx(12.0)
    assert rec["device_radio_j"] == pytest.approx(0.2 * 8 + 0.05 * 4)  # not 0.2 W x 12 s = 2.4 J


def test_an_upload_cut_by_the_stop_time_is_charged_its_airtime_so_far(tmp_path: Path) -> None:
    for shared in (False, True):
        cells = [{**BASE["network"]["cells"][0], "shared": shared}]
        network = {**BASE["network"], "cells": cells}
        rec, summary = run(tmp_path, 1e6, 1e6, "edge", network=network, stop={"max_time_s": 3.0})
        assert rec["outcome"] == "dropped"
        assert rec["device_radio_j"] == pytest.approx(0.2 * 3.0), shared  # 3 of its 8 s on the air
        assert summary["energy_j"]["device_by_component"]["radio"] == pytest.approx(0.6)


def test_the_radio_tail_follows_each_burst(tmp_path: Path) -> None:
    # 1 kB: 8 ms on the air at 0.2 W, then a 0.05 W tail of 2 s (the run lasts longer: the task computes 5 s).
    dev = {**BASE["fleet"]["devices"][0], "radio_tail_s": 2.0}
    fleet = {**BASE["fleet"], "devices": [dev]}
    rec, _ = run(tmp_path, 5e10, 1e3, "edge", fleet=fleet)
    assert rec["device_radio_j"] == pytest.approx(0.2 * 0.008 + 0.05 * 2.0)
