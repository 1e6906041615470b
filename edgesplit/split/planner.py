"""Split planner: latency and device energy of local inference, full offload (raw or PNG) and every split point."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from edgesplit.errors import UserError
from edgesplit.model.energy import power_energy_j, radio_energy_j
from edgesplit.model.profiles import Profile, get_profile
from edgesplit.split.costs import ModelCosts, Work
from edgesplit.units import parse_quantity

Timing = Literal["measured", "flops"]
TIMINGS = ("measured", "flops")


@dataclass
class Row:
    """An option's figures for one request. Energies are the device's: compute plus radio (idle power excluded)."""

    name: str
    kind: str
    split_after: int | None
    wire_bytes: float
    accuracy: float | None
    device_flops: int
    edge_flops: int
    device_s: float
    network_s: float
    edge_s: float
    total_s: float
    compute_j: float
    radio_j: float  # on the air (Huang et al.: base power x airtime + per-bit/s slope x bits)
    energy_j: float  # compute + radio on the air
    tail_j: float = 0.0  # the radio tail an isolated request adds after its last transfer (not in energy_j)


@dataclass
class Plan:
    """Every option for one device, edge server and link, with the fastest and the least-energy one."""

    device: str
    edge: str
    bandwidth_bps: float
    rtt_s: float
    timing: str
    rows: list[Row]
    fastest: str
    least_energy: str
    notes: dict[str, str] = field(default_factory=dict)

    def row(self, name: str) -> Row:
        """The row of the named option."""
        return next(r for r in self.rows if r.name == name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {**asdict(self), "rows": [asdict(r) for r in self.rows]}


def flop_rate(profile: Profile) -> float:
    """Sustained FLOP/s of one core of the profile (batch-1 inference runs on one core)."""
    return profile.cpu_hz * profile.flops_per_cycle


def work_seconds(work: Work, profile: Profile, host_flop_rate: float | None, timing: Timing) -> float:
    """Seconds of `work` on one core of `profile`.

    "measured": this host's batch-1 time scaled by (host matmul FLOP/s) / (profile FLOP/s), so that overheads
    and inefficient layers (a 1-channel conv) count as they do here. "flops": FLOPs / profile FLOP/s for DNN
    blocks; codecs (no FLOPs) still use their scaled measured time when there is one.
    """
    scaled = None
    if work.host_s is not None and host_flop_rate:
        scaled = work.host_s * host_flop_rate / flop_rate(profile)
    if timing == "measured" and scaled is not None:
        return scaled
    if work.flops:
        return work.flops / flop_rate(profile)
    return scaled or 0.0


def plan(
    costs: ModelCosts,
    device: Profile,
    edge: Profile,
    bandwidth_bps: float,
    rtt_s: float = 0.02,
    timing: Timing = "measured",
    result_bytes: int | None = None,
) -> Plan:
    """Latency and device energy of every option on `device` with `edge` behind a `bandwidth_bps` link.

    Network time = RTT + upload (wire bytes) + download of the result (float32 logits, `result_bytes`), both
    at `bandwidth_bps`; device energy = compute (the profile's model on device time) + the radio's consumed
    energy on the air (Huang et al., MobiSys 2012: `radio_base_w` x airtime + `radio_up_w_per_bps` /
    `radio_down_w_per_bps` x bits). An offloading request also leaves the radio in its tail (`tail_j` =
    `radio_tail_w` x `radio_tail_s`) unless the next request comes sooner; requests in a stream share it, so it
    is reported apart and not in `energy_j`. The device's idle power is drawn whatever it does and is left out.
    """
    if bandwidth_bps <= 0 or not math.isfinite(bandwidth_bps):
        raise UserError(f"must be a positive rate, got {bandwidth_bps} bit/s", where="--bandwidth")
    if rtt_s < 0:
        raise UserError("must be >= 0", where="--rtt")
    if timing == "measured" and not costs.host_flop_rate:
        timing = "flops"
    result_bytes = 4 * costs.spec.num_classes if result_bytes is None else result_bytes
    rows: list[Row] = []
    for opt in costs.options():
        dev_s = sum(work_seconds(costs.work[w], device, costs.host_flop_rate, timing) for w in opt.device)
        edge_s = sum(work_seconds(costs.work[w], edge, costs.host_flop_rate, timing) for w in opt.edge)
        up_s = opt.wire_bytes * 8 / bandwidth_bps
        down_s = result_bytes * 8 / bandwidth_bps if opt.edge else 0.0
        net_s = rtt_s + up_s + down_s if opt.edge else 0.0
        compute_j = device.compute_energy_j(dev_s * device.cpu_hz)
        up_bits = opt.wire_bytes * 8 if opt.edge else 0.0
        down_bits = result_bytes * 8 if opt.edge else 0.0
        radio_j = radio_energy_j(device.radio_base_w, device.radio_up_w_per_bps, up_s, up_bits) + radio_energy_j(
            device.radio_base_w, device.radio_down_w_per_bps, down_s, down_bits
        )
        tail_j = power_energy_j(device.radio_tail_w, device.radio_tail_s) if opt.edge else 0.0
        rows.append(
            Row(
                name=opt.name,
                kind=opt.kind,
                split_after=opt.split_after,
                wire_bytes=opt.wire_bytes,
                accuracy=opt.accuracy,
                device_flops=sum(costs.work[w].flops for w in opt.device),
                edge_flops=sum(costs.work[w].flops for w in opt.edge),
                device_s=dev_s,
                network_s=net_s,
                edge_s=edge_s,
                total_s=dev_s + net_s + edge_s,
                compute_j=compute_j,
                radio_j=radio_j,
                energy_j=compute_j + radio_j,
                tail_j=tail_j,
            )
        )
    notes = {
        "timing": (
            f"measured: batch-1 time on this host x {costs.host_flop_rate:.3g} FLOP/s (host 1-thread matmul) / "
            "profile FLOP/s (cpu_hz x flops_per_cycle, one core)"
            if timing == "measured"
            else "flops: FLOPs / profile FLOP/s (cpu_hz x flops_per_cycle, one core); codecs by scaled measured time"
        ),
        "energy": (
            "device compute (profile energy model) + radio on the air (Huang: base W x airtime + W per bit/s x bits,"
            f" up and down); idle excluded; an isolated offload also leaves a {device.radio_tail_s:g} s radio tail"
            f" of {device.radio_tail_w * device.radio_tail_s:.3g} J (shared by requests less than that apart)"
        ),
        "network": f"RTT + wire bytes and {result_bytes} B of logits at the link rate",
        "source": costs.source,
    }
    return Plan(
        device=device.name,
        edge=edge.name,
        bandwidth_bps=bandwidth_bps,
        rtt_s=rtt_s,
        timing=timing,
        rows=rows,
        fastest=min(rows, key=lambda r: r.total_s).name,
        least_energy=min(rows, key=lambda r: r.energy_j).name,
        notes=notes,
    )


def parse_link(bandwidth: str | float, rtt: str | float) -> tuple[float, float]:
    """(bit/s, seconds) from strings such as "10Mbps" and "20ms" (edgesplit.units); UserError when unreadable."""
    try:
        bw = parse_quantity(bandwidth, "rate")
    except ValueError as err:
        raise UserError(str(err), where="--bandwidth") from None
    try:
        rtt_s = parse_quantity(rtt, "time")
    except ValueError as err:
        raise UserError(str(err), where="--rtt") from None
    if not bw > 0 or not math.isfinite(bw):
        raise UserError(f"must be a positive rate, got {bandwidth!r}", where="--bandwidth")
    if not rtt_s >= 0 or not math.isfinite(rtt_s):
        raise UserError(f"must be >= 0, got {rtt!r}", where="--rtt")
    return bw, rtt_s


def profile(name: str, where: str) -> Profile:
    """A built-in profile by name, as a UserError naming the option when unknown."""
    try:
        return get_profile(name)
    except KeyError as err:
        raise UserError(str(err.args[0]), where=where) from None
