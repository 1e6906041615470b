"""Split planner: local on a slow link, offload on a fast one, the energy and time sums by hand, bad inputs."""

from __future__ import annotations

import pytest

from edgesplit.errors import UserError
from edgesplit.model.profiles import get_profile
from edgesplit.split.costs import Work, analytic_costs, measure_costs
from edgesplit.split.models import BottleneckSpec, SplitCNNSpec, count_flops
from edgesplit.split.planner import flop_rate, parse_link, plan, profile

SPEC = SplitCNNSpec(input_shape=(1, 28, 28), stages=((32,), (64,)), hidden=128)
BNS = {k: BottleneckSpec(4) for k in (1, 2)}
RPI, EDGE = get_profile("rpi4"), get_profile("edge-server")


def costs(png: float | None = 300.0):
    return analytic_costs(SPEC, BNS, png_bytes=png, accuracy={"teacher": 0.99, "bottleneck_u8 s1": 0.985})


def test_options_cover_every_split():
    names = [o.name for o in costs().options()]
    assert names == [
        "local",
        "offload raw",
        "offload PNG",
        "split s1 f32",
        "split s1 u8",
        "split s1 + bottleneck c4 u8",
        "split s2 f32",
        "split s2 u8",
        "split s2 + bottleneck c4 u8",
    ]
    assert "offload PNG" not in [o.name for o in costs(png=None).options()]


def test_tiny_bandwidth_means_local():
    p = plan(costs(), RPI, EDGE, bandwidth_bps=1e3, rtt_s=0.02, timing="flops")
    assert p.fastest == "local"
    local = p.row("local")
    assert local.wire_bytes == 0 and local.network_s == 0 and local.edge_s == 0
    assert local.device_s == pytest.approx(count_flops(SPEC) / flop_rate(RPI))
    assert local.accuracy == 0.99


def test_huge_bandwidth_means_offload():
    p = plan(costs(), RPI, EDGE, bandwidth_bps=1e12, rtt_s=0.0, timing="flops")
    assert p.fastest in ("offload raw", "offload PNG") and p.least_energy in ("offload raw", "offload PNG")
    assert p.row("offload raw").device_s == 0
    assert p.row("offload raw").total_s < p.row("local").total_s / 5


def test_sums_by_hand():
    bw, rtt = 10e6, 0.02
    p = plan(costs(), RPI, EDGE, bandwidth_bps=bw, rtt_s=rtt, timing="flops")
    r = p.row("split s1 + bottleneck c4 u8")
    assert r.wire_bytes == 4 * 7 * 7 + 5
    up, down = r.wire_bytes * 8 / bw, 40 * 8 / bw
    assert r.network_s == pytest.approx(rtt + up + down)
    assert r.total_s == pytest.approx(r.device_s + r.network_s + r.edge_s)
    assert r.radio_j == pytest.approx(RPI.tx_power_w * up + RPI.rx_power_w * down)
    assert r.compute_j == pytest.approx(RPI.core_power_w * r.device_s)  # rpi4: measured-power model
    assert r.accuracy == 0.985
    assert p.row("split s1 f32").wire_bytes == 4 * 32 * 14 * 14
    assert p.row("split s1 u8").wire_bytes == 32 * 14 * 14 + 5
    assert p.row("offload PNG").wire_bytes == 300.0


def test_measured_timing_scales_host_time_by_flop_rates():
    c = costs()
    c.host_flop_rate = 50e9
    c.work = {name: Work(w.flops, 1e-4) for name, w in c.work.items()}
    p = plan(c, RPI, EDGE, bandwidth_bps=10e6, rtt_s=0.0, timing="measured")
    assert p.row("local").device_s == pytest.approx(3 * 1e-4 * 50e9 / flop_rate(RPI))  # 2 stages + classifier
    assert p.row("offload raw").edge_s == pytest.approx(3 * 1e-4 * 50e9 / flop_rate(EDGE))


def test_measure_costs_times_every_piece():
    import numpy as np

    spec = SplitCNNSpec(input_shape=(1, 8, 8), stages=((4,), (8,)), hidden=0)
    c = measure_costs(spec, {1: BottleneckSpec(2)}, np.zeros((1, 8, 8), np.uint8), png_bytes=70.0, repeats=2, rounds=1)
    assert c.host_flop_rate > 0
    assert {"stage1", "stage2", "classifier", "encoder s1", "decoder s1", "png_encode", "png_decode"} <= set(c.work)
    assert all(w.host_s is not None and w.host_s > 0 for w in c.work.values())
    p = plan(c, RPI, EDGE, 5e6)
    assert p.timing == "measured" and len(p.rows) == 8


@pytest.mark.parametrize(
    ("bandwidth", "rtt", "where"),
    [("10 MHz", "20ms", "--bandwidth"), ("fast", "20ms", "--bandwidth"), ("0Mbps", "20ms", "--bandwidth"),
     ("10Mbps", "-1ms", "--rtt"), ("10Mbps", "soon", "--rtt")],
)  # fmt: skip
def test_bad_links(bandwidth, rtt, where):
    with pytest.raises(UserError) as err:
        parse_link(bandwidth, rtt)
    assert err.value.where == where


def test_links_and_profiles():
    assert parse_link("10Mbps", "20ms") == (10e6, 0.02)
    assert parse_link("1 MB/s", 0) == (8e6, 0.0)
    with pytest.raises(UserError):
        profile("toaster", "--device")
    with pytest.raises(UserError):
        plan(costs(), RPI, EDGE, bandwidth_bps=0.0)
