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
    assert p.fastest in ("offload raw", "offload PNG")
    # Airtime vanishes but the radio's per-bit energy does not (Huang: 0.44 uJ per bit up): the fewest bits for
    # the least head compute win, the stage-1 bottleneck (201 B) over PNG (300 B) and raw, and over local.
    assert p.least_energy == "split s1 + bottleneck c4 u8"
    assert p.row("offload PNG").radio_j == pytest.approx(438.39e-9 * 300 * 8 + 51.97e-9 * 40 * 8, rel=1e-3)
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
    # Huang et al.'s consumed radio power, by hand: base power over both airtimes + each direction's W per bit/s
    # times its bits (rpi4: 1.2 W, 438.39 and 51.97 mW per Mbit/s); the tail is reported apart.
    up_bits, down_bits = r.wire_bytes * 8, 40 * 8
    assert r.radio_j == pytest.approx(1.2 * (up + down) + 438.39e-9 * up_bits + 51.97e-9 * down_bits)
    assert r.tail_j == pytest.approx(1.06 * 10.12) and p.row("local").tail_j == 0.0
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


def test_measure_costs_times_every_piece_and_the_plan_is_made_of_those_times():
    import math

    import numpy as np

    spec = SplitCNNSpec(input_shape=(1, 8, 8), stages=((4,), (8,)), hidden=0)
    c = measure_costs(spec, {1: BottleneckSpec(2)}, np.zeros((1, 8, 8), np.uint8), png_bytes=70.0, repeats=2, rounds=1)
    # FLOPs by hand, 2 x multiply-accumulates: 3 x 3 convs 1 -> 4 at 8 x 8 and 4 -> 8 at 4 x 4; a 32 -> 10 linear;
    # the encoder a stride-2 conv 4 -> 2 to 2 x 2; the decoder 2 -> 32 at 2 x 2, then 32 -> 4 at 4 x 4.
    assert {name: w.flops for name, w in c.work.items()} == {
        "stage1": 2 * 8 * 8 * 4 * 1 * 9,
        "stage2": 2 * 4 * 4 * 8 * 4 * 9,
        "classifier": 2 * 32 * 10,
        "encoder s1": 2 * 2 * 2 * 2 * 4 * 9,
        "decoder s1": 2 * 2 * 2 * 32 * 2 * 9 + 2 * 4 * 4 * 4 * 32 * 9,
        "quantize s1": 0,
        "quantize s2": 0,
        "quantize bottleneck s1": 0,
        "png_encode": 0,
        "png_decode": 0,
    }
    host = {name: w.host_s for name, w in c.work.items()}
    assert all(s is not None and math.isfinite(s) and s > 0 for s in host.values()), host  # codecs included
    assert math.isfinite(c.host_flop_rate) and c.host_flop_rate > 0
    # The measured plan is those host seconds, each scaled by (host FLOP/s) / (profile FLOP/s), summed by hand over
    # the pieces each side runs.
    p = plan(c, RPI, EDGE, bandwidth_bps=5e6, rtt_s=0.0)
    assert p.timing == "measured" and len(p.rows) == 8
    on_rpi, on_edge = c.host_flop_rate / flop_rate(RPI), c.host_flop_rate / flop_rate(EDGE)
    assert p.row("local").device_s == pytest.approx((host["stage1"] + host["stage2"] + host["classifier"]) * on_rpi)
    assert p.row("offload PNG").device_s == pytest.approx(host["png_encode"] * on_rpi)
    assert p.row("offload PNG").edge_s == pytest.approx(
        (host["png_decode"] + host["stage1"] + host["stage2"] + host["classifier"]) * on_edge
    )
    bn = p.row("split s1 + bottleneck c2 u8")
    assert bn.device_s == pytest.approx((host["stage1"] + host["encoder s1"] + host["quantize bottleneck s1"]) * on_rpi)
    assert bn.edge_s == pytest.approx((host["decoder s1"] + host["stage2"] + host["classifier"]) * on_edge)
    assert p.row("split s2 u8").device_s == pytest.approx(
        (host["stage1"] + host["stage2"] + host["quantize s2"]) * on_rpi
    )


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
