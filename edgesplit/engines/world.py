"""Builds the engine-side world from a scenario: devices, servers (edge, then cloud) and cell uplinks."""

from __future__ import annotations

import random
from dataclasses import dataclass

from edgesplit.model.entities import Device, Node
from edgesplit.model.network import LinkFigures, Schedule, Uplink, dbm_to_w, path_gain
from edgesplit.scenario import Scenario


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
    uplinks: list[Uplink]  # by cell


def build_world(sc: Scenario, schedule: Schedule) -> World:
    """Instantiate every device, server and uplink of `sc`; `schedule(t, fn, arg)` is the engine's event queue."""
    cells = {c.name: i for i, c in enumerate(sc.network.cells)}
    uplinks = []
    for i, c in enumerate(sc.network.cells):
        figures = LinkFigures(
            model=c.model,
            bandwidth_hz=c.bandwidth_hz,
            noise_w_per_hz=dbm_to_w(c.noise_dbm_per_hz),
            rate_bps=c.rate_bps,
            shared=c.shared,
            latency_s=c.latency_s,
            jitter_s=c.jitter_s,
            loss=c.loss,
            max_retries=c.max_retries,
            downlink_rate_bps=c.downlink_rate_bps,
        )
        uplinks.append(Uplink(i, figures, schedule))

    placement = random.Random(f"{sc.seed}:placement")
    devices: list[Device] = []
    for g in sc.fleet.devices:
        profile = g.resolve()
        cell = cells[g.cell] if g.cell is not None else 0
        pl = sc.network.cells[cell].path_loss
        for k in range(g.count):
            lo_hi = g.distance_m if isinstance(g.distance_m, tuple) else (g.distance_m, g.distance_m)
            distance = lo_hi[0] if lo_hi[0] == lo_hi[1] else placement.uniform(*lo_hi)
            name = g.name if g.count == 1 else f"{g.name}-{k}"
            dev = Device(len(devices), name, g.name, profile, cell, distance)
            gain = path_gain(distance, pl.intercept_db, pl.slope_db)
            dev.sender = uplinks[cell].add_sender(profile.tx_power_w, gain, random.Random(f"{sc.seed}:radio:{name}"))
            devices.append(dev)

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
    return World(devices, servers, kinds, hops, uplinks)
