"""Base-station energy (EARTH, Auer et al. 2011, eq. 1 and Table II) by hand: the model's figures and one run."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from edgesplit.engines.sim import SimEngine
from edgesplit.errors import UserError
from edgesplit.model.base_station import EARTH_PRESETS
from edgesplit.policies import make_policy
from edgesplit.scenario import load_scenario
from edgesplit.workload.build import BuiltWorkload
from edgesplit.workload.dag import Job, Task

BASE = {
    "name": "base-station",
    "seed": 1,
    "fleet": {
        "devices": [{"name": "phone", "profile": "phone-midrange", "count": 1}],
        "edge_servers": [{"name": "edge", "profile": "edge-server"}],
    },
    "network": {
        "cells": [{"name": "c", "model": "fixed", "rate_bps": 1e8, "shared": False, "downlink_rate_bps": 1e8}],
    },
    "workload": {"source": "synthetic", "synthetic": {"kind": "poisson", "jobs": 1}},
    "policy": {"kind": "edge"},
    "outputs": {"plots": False},
}


def test_earth_macro_site_at_full_load_and_asleep() -> None:
    """REFERENCE_FIGURES section 5's DERIVED check: 6 (130 + 4.7 x 20) = 1344 W at full load, 6 x 75 = 450 W."""
    macro = EARTH_PRESETS["macro"]
    assert macro.input_power_w(macro.p_max_w) == pytest.approx(1344.0)
    assert macro.input_power_w(0.0) == pytest.approx(450.0)


def test_a_runs_base_station_energy_by_hand(tmp_path: Path) -> None:
    """One task offloaded over a dedicated fixed-rate cell: the site sends for the download's airtime, only
    receives for the upload's, and sleeps the rest of the run; each state at its EARTH power."""
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(BASE))
    task = Task(uid=0, job_uid=0, name="M1", cycles=1e9, input_bytes=1e6, output_bytes=2e6)
    workload = BuiltWorkload([Job(0, "j_1", 0.0, 0, [task])], [task], "hand-built", False)
    result = SimEngine(load_scenario(path), workload, make_policy("edge")).run()
    up, down = 1e6 * 8 / 1e8, 2e6 * 8 / 1e8
    end = result.summary["sim_time_s"]
    site = result.summary["energy_j"]["by_base_station"]["c"]
    assert site["sending_s"] == pytest.approx(down)
    assert site["awake_s"] == pytest.approx(up + down)
    assert site["transmit"] == pytest.approx(1344.0 * down)
    assert site["receive"] == pytest.approx(6 * 130.0 * up)
    assert site["sleep"] == pytest.approx(450.0 * (end - up - down))
    energy = result.summary["energy_j"]
    assert energy["system_total"] == pytest.approx(
        energy["device_total"] + energy["server_total"] + site["transmit"] + site["receive"] + site["sleep"]
    )


def test_a_base_station_cannot_send_above_its_full_load_output(tmp_path: Path) -> None:
    doc = copy.deepcopy(BASE)
    doc["network"]["cells"][0]["base_station"] = {"type": "pico"}
    doc["network"]["cells"][0]["bs_tx_power_w"] = 1.0
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(UserError, match="p_max_w 0.13 W"):
        load_scenario(path)
