"""The radio against 3GPP tables and hand figures: CQI-capped attenuated Shannon, noise figures, minimum distance,
inter-cell interference, and the shared uplink and downlink against an independent processor-sharing model."""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from typing import Any

import pytest

from edgesplit.engines.world import build_world
from edgesplit.model.network import Link, dbm_to_w, link_rate_bps, path_gain, received_snr_per_hz, shannon_rate_bps
from edgesplit.model.radio import CQI_EFFICIENCY, MIN_DISTANCE_M, cqi_steps
from edgesplit.scenario import CellSpec, Scenario

# TS 38.214 clause 5.2.2.1 (v16.7.0 text of CR 0026, R1-2112947), efficiency of CQI 1-15 in bit/s/Hz.
TS38214_TABLE_5_2_2_1_2 = (0.1523, 0.2344, 0.3770, 0.6016, 0.8770, 1.1758, 1.4766, 1.9141, 2.4063, 2.7305, 3.3223,
                           3.9023, 4.5234, 5.1152, 5.5547)  # fmt: skip
TS38214_TABLE_5_2_2_1_3 = (0.1523, 0.3770, 0.8770, 1.4766, 1.9141, 2.4063, 2.7305, 3.3223, 3.9023, 4.5234, 5.1152,
                           5.5547, 6.2266, 6.9141, 7.4063)  # fmt: skip
N0_W_PER_HZ = dbm_to_w(-174.0)


def scenario(cells: list[dict[str, Any]], devices: list[dict[str, Any]]) -> Scenario:
    return Scenario.model_validate(
        {
            "fleet": {"devices": devices, "edge_servers": [{"name": "edge"}]},
            "network": {"cells": cells},
            "workload": {"source": "synthetic", "synthetic": {"jobs": 1}},
        }
    )


def world(cells: list[dict[str, Any]], devices: list[dict[str, Any]]) -> Any:
    return build_world(scenario(cells, devices), lambda *a: None)


def test_cqi_tables_are_ts_38_214() -> None:
    assert CQI_EFFICIENCY["64qam"] == TS38214_TABLE_5_2_2_1_2
    assert CQI_EFFICIENCY["256qam"] == TS38214_TABLE_5_2_2_1_3


@pytest.mark.parametrize("table", ["64qam", "256qam"])
def test_efficiency_steps_are_the_table(table: str) -> None:
    """Just above the SNR each CQI needs the link gets that CQI's efficiency, just below the one before."""
    steps = cqi_steps(table)
    assert steps.efficiency == CQI_EFFICIENCY[table]
    got_above = [steps(s * 1.0001) for s in steps.snr]
    got_below = [steps(s * 0.9999) for s in steps.snr]
    assert got_above == list(CQI_EFFICIENCY[table])
    assert got_below == [0.0, *CQI_EFFICIENCY[table][:-1]]
    assert steps(1e12) == CQI_EFFICIENCY[table][-1]  # capped at the top, however high the SNR


def test_cqi_thresholds_are_attenuated_shannon_hand_figures() -> None:
    # alpha log2(1 + SNR) = e  =>  SNR = 2^(e / 0.6) - 1. CQI 1: 2^0.25383 - 1 = 0.19236 = -7.159 dB;
    # 64QAM CQI 15: 2^9.2578 - 1 = 611.2 = 27.862 dB; 256QAM CQI 15: 2^12.3438 - 1 = 5197 = 37.158 dB.
    assert cqi_steps("64qam").needed_db(1) == pytest.approx(-7.159, abs=1e-3)
    assert cqi_steps("64qam").needed_db(15) == pytest.approx(27.862, abs=1e-3)
    assert cqi_steps("256qam").needed_db(15) == pytest.approx(37.158, abs=1e-3)
    # Wherever it is not capped, the efficiency is attenuated Shannon rounded down to the table.
    for snr_db in [x / 4 for x in range(-40, 160)]:
        snr = 10 ** (snr_db / 10)
        se = 0.6 * math.log2(1 + snr)
        assert cqi_steps("64qam")(snr) == max([e for e in TS38214_TABLE_5_2_2_1_2 if e <= se], default=0.0)


@pytest.mark.parametrize(("table", "top"), [("64qam", 5.5547), ("256qam", 7.4063)])
def test_device_alone_at_1_m_gets_at_most_the_table_top(table: str, top: float) -> None:
    w = world([{"name": "c", "bandwidth_hz": 20e6, "mcs_table": table}], [{"name": "phone", "distance_m": 1.0}])
    up, down = w.uplinks[0].solo_rate_bps[0], w.downlinks[0].solo_rate_bps[0]
    assert up == pytest.approx(top * 20e6, rel=1e-12)  # 111.09 / 148.13 Mbit/s
    assert down == pytest.approx(top * 20e6, rel=1e-12)
    # The unbounded form gave 722 Mbit/s (36 bit/s/Hz) here: 0.2 W, 128.1 dB + 37.6 log10(0.001 km) = 15.3 dB.
    assert shannon_rate_bps(20e6, 0.2 * path_gain(1.0) / N0_W_PER_HZ) == pytest.approx(722.2e6, rel=1e-3)


def test_noise_figure_lowers_the_rate_hand_figure() -> None:
    """At 10 dB SNR before the receiver, a 5 dB noise figure leaves 5 dB: 64QAM CQI 8 (needs 9.10 dB, 1.9141
    bit/s/Hz) falls to CQI 6 (needs 4.61 dB, 1.1758 bit/s/Hz); 20 MHz: 38.282 -> 23.516 Mbit/s."""
    gain = 10.0 * N0_W_PER_HZ * 20e6 / 0.2  # puts 0.2 W at exactly 10 dB over N0 B
    rates = {}
    for nf in (0.0, 5.0):
        fig = CellSpec(name="c", bandwidth_hz=20e6, bs_noise_figure_db=nf).link_figures("up")
        snr = received_snr_per_hz(fig, 0.2, gain)
        assert 10 * math.log10(snr / 20e6) == pytest.approx(10.0 - nf, abs=1e-9)
        rates[nf] = link_rate_bps(fig, snr)
    assert rates[0.0] == pytest.approx(20e6 * 1.9141, rel=1e-12)
    assert rates[5.0] == pytest.approx(20e6 * 1.1758, rel=1e-12)
    # The defaults: 5 dB at the base station (uplink), 9 dB at the device (downlink).
    cell = CellSpec(name="c")
    assert (cell.link_figures("up").noise_figure_db, cell.link_figures("down").noise_figure_db) == (5.0, 9.0)


def test_min_distance_freezes_path_loss() -> None:
    assert MIN_DISTANCE_M == 10.0  # TR 38.901 Table 7.4.1-1: 10 m <= d2D
    assert path_gain(1.0, min_distance_m=10.0) == path_gain(10.0)
    assert path_gain(30.0, min_distance_m=10.0) == path_gain(30.0)
    # In the world: a device at 1 m has the received SNR of one at 10 m (the rate is capped at both anyway).
    cells: list[dict[str, Any]] = [{"name": "c"}]
    near, ten = (world(cells, [{"name": "p", "distance_m": d}]).uplinks[0].snr_per_hz[0] for d in (1.0, 10.0))
    assert near == ten
    cells[0]["min_distance_m"] = 1.0
    assert world(cells, [{"name": "p", "distance_m": 1.0}]).uplinks[0].snr_per_hz[0] > ten


TWO_CELLS = [
    {"name": "a", "bandwidth_hz": 20e6, "x_m": 0.0, "y_m": 0.0},
    {"name": "b", "bandwidth_hz": 20e6, "x_m": 600.0, "y_m": 0.0},
]
TWO_DEVICES = [{"name": "pa", "cell": "a", "distance_m": 300.0}, {"name": "pb", "cell": "b", "distance_m": 300.0}]


def test_interference_lowers_rates_when_cells_have_positions() -> None:
    apart = [{k: v for k, v in c.items() if k not in ("x_m", "y_m")} for c in TWO_CELLS]
    alone, heard = world(apart, TWO_DEVICES), world(TWO_CELLS, TWO_DEVICES)
    assert alone.positions is None and heard.positions is not None
    for c in (0, 1):
        for links in ("uplinks", "downlinks"):
            assert getattr(heard, links)[c].solo_rate_bps[0] < getattr(alone, links)[c].solo_rate_bps[0]
    # Hand figure for cell a's uplink: pb (0.2 W over 20 MHz, always on) heard at a's base station.
    (xa, ya), (xb, yb) = heard.positions
    assert math.hypot(xa, ya) == pytest.approx(300.0) and math.hypot(xb - 600.0, yb) == pytest.approx(300.0)
    interference = 0.2 / 20e6 * path_gain(math.hypot(xb, yb), min_distance_m=10.0)
    sinr = 0.2 * path_gain(300.0) / ((N0_W_PER_HZ * 10**0.5 + interference) * 20e6)
    assert heard.uplinks[0].solo_rate_bps[0] == pytest.approx(20e6 * cqi_steps()(sinr), rel=1e-12)
    # Downlink at pa: b's base station (20 W over 20 MHz) at its distance from pa, against a 9 dB noise figure.
    interference = 20.0 / 20e6 * path_gain(math.hypot(xa - 600.0, ya), min_distance_m=10.0)
    sinr = 20.0 * path_gain(300.0) / ((N0_W_PER_HZ * 10**0.9 + interference) * 20e6)
    assert heard.downlinks[0].solo_rate_bps[0] == pytest.approx(20e6 * cqi_steps()(sinr), rel=1e-12)
    # Cells that never transmit cause none.
    quiet = [{**c, "activity": 0.0} for c in TWO_CELLS]
    assert world(quiet, TWO_DEVICES).uplinks[0].snr_per_hz == alone.uplinks[0].snr_per_hz


def test_positions_on_every_cell_or_none() -> None:
    with pytest.raises(ValueError, match="every cell or on none"):
        scenario([TWO_CELLS[0], {"name": "b"}], TWO_DEVICES)
    with pytest.raises(ValueError, match="both x_m and y_m"):
        CellSpec(name="c", x_m=1.0)


def test_cell_solo_rates_are_the_engine_links() -> None:
    """CellSpec.solo_rates_bps (what a scenario check can ask) gives what the built links give."""
    cells = [{"name": "c", "bandwidth_hz": 20e6}]
    for d in (1.0, 30.0, 250.0, 500.0):
        w = world(cells, [{"name": "p", "distance_m": d}])
        rates = scenario(cells, [{"name": "p"}]).network.cells[0].solo_rates_bps(0.2, d)
        assert rates == (w.uplinks[0].solo_rate_bps[0], w.downlinks[0].solo_rate_bps[0])
    assert CellSpec(name="c", bandwidth_hz=20e6).solo_rates_bps(0.2, 1000.0)[0] == 0.0


def test_device_out_of_coverage_is_refused() -> None:
    # 0.2 W at 1 km in 20 MHz: -9.1 dB after the 5 dB noise figure, below CQI 1's -7.16 dB.
    with pytest.raises(ValueError, match="out of coverage on the uplink"):  # refused when the scenario loads
        world([{"name": "c", "bandwidth_hz": 20e6}], [{"name": "p", "distance_m": 1000.0}])


def test_downlink_is_fixed_when_asked_or_on_fixed_cells() -> None:
    shannon, fixed = CellSpec(name="c"), CellSpec(name="f", model="fixed", rate_bps=1e7)
    assert shannon.link_figures("down").model == "shannon"
    assert (fixed.link_figures("down").model, fixed.link_figures("down").rate_bps) == ("fixed", 100e6)
    given = CellSpec(name="g", downlink_rate_bps=5e7).link_figures("down")
    assert (given.model, given.rate_bps) == ("fixed", 5e7)


class Clock:
    """A minimal event queue to drive a Link: schedule(t, fn, arg), run() until empty."""

    def __init__(self) -> None:
        self.events: list[tuple[float, int, Callable[[float, object], None], object]] = []
        self.n = 0

    def schedule(self, t: float, fn: Callable[[float, object], None], arg: object) -> None:
        self.n += 1
        heapq.heappush(self.events, (t, self.n, fn, arg))

    def run(self) -> None:
        while self.events:
            t, _, fn, arg = heapq.heappop(self.events)
            fn(t, arg)


def run_transfers(figures: Any, gains: list[float], power_w: float, bits: list[float]) -> list[float]:
    """Each device sends (or receives) its `bits` from t=0 over one shared link; returns when each one ended."""
    clock = Clock()
    link = Link(0, figures, clock.schedule)
    done = [math.nan] * len(gains)
    for g in gains:
        link.add_sender(power_w, g, random.Random(0))
    for slot, b in enumerate(bits):
        link.send(0.0, slot, b, lambda now, tr: done.__setitem__(tr.sender, now), None)
    clock.run()
    return done


def processor_sharing_ends(bits: list[float], capacity_bps: float) -> list[float]:
    """Closed form of egalitarian processor sharing, everyone from t=0: sorted by size, the i-th (0-based) ends
    after the previous one plus its extra bits sent at capacity / (n - i)."""
    order = sorted(range(len(bits)), key=lambda i: bits[i])
    ends, t, prev = [0.0] * len(bits), 0.0, 0.0
    for rank, i in enumerate(order):
        t += (bits[i] - prev) * (len(bits) - rank) / capacity_bps
        ends[i], prev = t, bits[i]
    return ends


def test_downlink_shared_by_k_receivers_gets_1_over_k_hand_figure() -> None:
    """500 m from a 20 W base station in 20 MHz: 128.1 + 37.6 log10(0.5) = 116.78 dB, so -73.77 dBm against
    -174 + 73.01 + 9 = -91.99 dBm: SINR 18.22 dB, 64QAM CQI 11 (needs 16.57 dB, CQI 12 19.53 dB): 3.3223
    bit/s/Hz, 66.446 Mbit/s alone, 16.612 Mbit/s each when 4 receive at once."""
    fig = CellSpec(name="c", bandwidth_hz=20e6).link_figures("down")
    g = path_gain(500.0)
    snr = received_snr_per_hz(fig, 20.0, g)
    assert 10 * math.log10(snr / 20e6) == pytest.approx(18.22, abs=5e-3)
    assert link_rate_bps(fig, snr, 1) == pytest.approx(66.446e6, rel=1e-12)
    for k in (1, 2, 4):
        assert link_rate_bps(fig, snr, k) == pytest.approx(66.446e6 / k, rel=1e-12)
    ends = run_transfers(fig, [g] * 4, 20.0, [1e6] * 4)
    assert ends == pytest.approx([4 * 1e6 / 66.446e6] * 4, rel=1e-12)


@pytest.mark.parametrize("direction", ["up", "down"])
def test_shared_cell_matches_processor_sharing_closed_form(direction: str) -> None:
    """At the table's top every device of a cell gets the same efficiency, so the cell is one processor-sharing
    server of capacity B x 5.5547 bit/s: transfer ends follow the closed form."""
    fig = CellSpec(name="c", bandwidth_hz=20e6).link_figures(direction)  # type: ignore[arg-type]
    power = 0.2 if direction == "up" else 20.0
    bits = [8e5, 2e6, 3e6, 8e6, 1.2e7]
    ends = run_transfers(fig, [path_gain(50.0)] * len(bits), power, bits)
    assert ends == pytest.approx(processor_sharing_ends(bits, 20e6 * 5.5547), rel=1e-9)


def test_shared_uplink_with_unequal_devices_matches_an_independent_fluid_solution() -> None:
    """Devices at different distances and below the cap: rates depend on who is on the air (each of k senders
    gets B/k at the efficiency of its SINR in B/k). Solved here phase by phase, apart from the engine's code."""
    fig = CellSpec(name="c", bandwidth_hz=10e6).link_figures("up")
    distances, bits = [150.0, 300.0, 450.0], [4e6, 3e6, 1e6]
    gains = [path_gain(d) for d in distances]
    ends = run_transfers(fig, gains, 0.2, bits)
    n0 = N0_W_PER_HZ * 10**0.5
    left, t, expected = dict(enumerate(bits)), 0.0, [0.0] * len(bits)
    while left:
        k = len(left)
        rate = {i: 10e6 / k * cqi_steps()(0.2 * gains[i] / (n0 * 10e6 / k)) for i in left}
        dt = min(left[i] / rate[i] for i in left)
        t += dt
        for i in list(left):
            left[i] -= rate[i] * dt
            if left[i] <= 1e-6:
                expected[i] = t
                del left[i]
    assert ends == pytest.approx(expected, rel=1e-9)
    assert len(set(expected)) == 3  # three different ends: the phases were exercised
