"""Builds the engine-side world from a scenario: devices, servers (edge, then cloud), and each cell's uplink and
downlink, with mean inter-cell interference when the cells have positions."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from edgesplit.model.activity import Activity
from edgesplit.model.entities import Device, Node
from edgesplit.model.network import Link, Schedule
from edgesplit.scenario import CellSpec, Scenario


@dataclass
class Hop:
    """The wired part of the way from a cell to a server: latency and rate."""

    latency_s: float
    rate_bps: float

    def seconds(self, nbytes: float) -> float:
        return self.latency_s + nbytes * 8.0 / self.rate_bps


@dataclass
class World:
    devices: list[Device]
    servers: list[Node]  # edge servers first, then the cloud VM if any
    server_kind: list[str]  # "edge" | "cloud"
    hops: list[Hop]  # by server
    uplinks: list[Link]  # by cell
    downlinks: list[Link]  # by cell; a device's slot in it is its uplink slot (`Device.sender`)
    awake: list[Activity]  # by cell: when its base station carries a transfer, either way
    sending: list[Activity]  # by cell: when its base station's downlink is on the air
    positions: list[tuple[float, float]] | None = None  # by device (m), when the cells have positions


def build_world(sc: Scenario, schedule: Schedule) -> World:
    """Instantiate every device, server and link of `sc`; `schedule(t, fn, arg)` is the engine's event queue."""
    cells = sc.network.cells
    uplinks = [Link(i, c.link_figures("up"), schedule) for i, c in enumerate(cells)]
    downlinks = [Link(i, c.link_figures("down"), schedule) for i, c in enumerate(cells)]
    awake = [Activity() for _ in cells]
    sending = [Activity() for _ in cells]
    for i in range(len(cells)):
        uplinks[i].activities = (awake[i],)
        downlinks[i].activities = (awake[i], sending[i])
    devices = _place_devices(sc)
    positions = _positions(sc, devices) if cells[0].position is not None else None
    up_noise = [0.0] * len(cells)
    down_noise = [0.0] * len(devices)
    if positions is not None:
        up_noise, down_noise = _interference(cells, devices, positions, uplinks, downlinks)
    for dev in devices:
        cell = cells[dev.cell]
        gain = cell.gain(dev.distance_m)
        up_rng = random.Random(f"{sc.seed}:radio:{dev.name}")
        dev.sender = uplinks[dev.cell].add_sender(dev.profile.tx_power_w, gain, up_rng, up_noise[dev.cell])
        down_rng = random.Random(f"{sc.seed}:downlink:{dev.name}")
        downlinks[dev.cell].add_sender(cell.tx_power_w, gain, down_rng, down_noise[dev.index])
        for link in (uplinks[dev.cell], downlinks[dev.cell]):
            _check_coverage(link, dev, cell)

    servers: list[Node] = []
    kinds: list[str] = []
    hops: list[Hop] = []
    bh = sc.network.backhaul
    for e in sc.fleet.edge_servers:
        profile = e.resolve()
        for k in range(e.count):
            servers.append(Node(len(servers), e.name if e.count == 1 else f"{e.name}-{k}", e.name, profile))
            kinds.append("edge")
            hops.append(Hop(bh.latency_s, bh.rate_bps))
    if sc.fleet.cloud is not None:
        c = sc.fleet.cloud
        servers.append(Node(len(servers), "cloud", "cloud", c.resolve()))
        kinds.append("cloud")
        # The WAN is the bottleneck on the way to the cloud: its rate, plus both latencies.
        hops.append(Hop(bh.latency_s + c.latency_s, min(bh.rate_bps, c.rate_bps)))
    return World(devices, servers, kinds, hops, uplinks, downlinks, awake, sending, positions)


def _place_devices(sc: Scenario) -> list[Device]:
    """Every device at its distance from its cell's base station (drawn from one placement stream, in order)."""
    cells = {c.name: i for i, c in enumerate(sc.network.cells)}
    placement = random.Random(f"{sc.seed}:placement")
    devices: list[Device] = []
    for g in sc.fleet.devices:
        profile = g.resolve()
        cell = cells[g.cell] if g.cell is not None else 0
        for k in range(g.count):
            lo_hi = g.distance_m if isinstance(g.distance_m, tuple) else (g.distance_m, g.distance_m)
            distance = lo_hi[0] if lo_hi[0] == lo_hi[1] else placement.uniform(*lo_hi)
            name = g.name if g.count == 1 else f"{g.name}-{k}"
            devices.append(Device(len(devices), name, g.name, profile, cell, distance))
    return devices


def _positions(sc: Scenario, devices: list[Device]) -> list[tuple[float, float]]:
    """Each device at its distance from its cell's base station, on a bearing drawn from its own stream
    (uniform over the circle), so that adding a device moves no other one."""
    out = []
    for dev in devices:
        x, y = sc.network.cells[dev.cell].position  # type: ignore[misc]
        bearing = random.Random(f"{sc.seed}:bearing:{dev.name}").uniform(0.0, 2.0 * math.pi)
        out.append((x + dev.distance_m * math.cos(bearing), y + dev.distance_m * math.sin(bearing)))
    return out


def _interference(
    cells: list[CellSpec],
    devices: list[Device],
    positions: list[tuple[float, float]],
    uplinks: list[Link],
    downlinks: list[Link],
) -> tuple[list[float], list[float]]:
    """Mean interference density (W/Hz) at each cell's base station (uplink) and at each device (downlink).

    All Shannon cells share one carrier (reuse 1). A transmitter of another cell spreads its power over that
    cell's band with its resource blocks anywhere in it, and is on the air `activity` of the time, so it adds
    activity x power x path gain / bandwidth at a receiver, the path gain following the receiving cell's
    path-loss law. Uplink: every device of every other cell, at its position, heard at this cell's base station.
    Downlink: every other cell's base station, heard at the device. Fixed-rate links neither cause nor suffer it.
    The figure is fixed for the run (load-weighted mean, not the instantaneous set of senders): cells stay
    independent, as the Ray engine, which hosts them apart, needs."""

    def gain(cell: CellSpec, a: tuple[float, float], b: tuple[float, float]) -> float:
        return cell.gain(math.hypot(a[0] - b[0], a[1] - b[1]))

    sites = [c.position for c in cells]
    up = [0.0] * len(cells)
    for i, victim in enumerate(cells):
        if uplinks[i].figures.model != "shannon":
            continue
        for dev in devices:
            j = dev.cell
            if j != i and uplinks[j].figures.model == "shannon":
                src = cells[j]
                power = src.activity * dev.profile.tx_power_w / src.bandwidth_hz
                up[i] += power * gain(victim, positions[dev.index], sites[i])  # type: ignore[arg-type]
    down = [0.0] * len(devices)
    for dev in devices:
        i = dev.cell
        if downlinks[i].figures.model != "shannon":
            continue
        for j, src in enumerate(cells):
            if j != i and downlinks[j].figures.model == "shannon":
                power = src.activity * src.tx_power_w / src.bandwidth_hz
                down[dev.index] += power * gain(cells[i], positions[dev.index], sites[j])  # type: ignore[arg-type]
    return up, down


def _check_coverage(link: Link, dev: Device, cell: CellSpec) -> None:
    """A device whose SINR is below CQI 1's on either direction could never send or receive: refuse it."""
    slot = dev.sender
    if link.solo_rate_bps[slot] > 0.0:
        return
    f = link.figures
    sinr_db = 10.0 * math.log10(link.snr_per_hz[slot] / f.bandwidth_hz) if link.snr_per_hz[slot] > 0 else -math.inf
    way = "uplink" if f.direction == "up" else "downlink"
    raise ValueError(
        f"device {dev.name!r} at {dev.distance_m:g} m in cell {cell.name!r} is out of {way} coverage: its SINR is"
        f" {sinr_db:.1f} dB and CQI 1 needs {f.cqi.needed_db():.1f} dB"  # type: ignore[union-attr]
    )
