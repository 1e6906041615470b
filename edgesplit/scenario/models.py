"""The scenario model: fleet, network, workload, policy, engine, stop condition, faults and outputs, cross-checked."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, FiniteFloat, model_validator

from edgesplit.scenario.base import Strict
from edgesplit.scenario.faults import Fault, LinkOutage, ServerDown
from edgesplit.scenario.fleet import Fleet
from edgesplit.scenario.network import Network
from edgesplit.scenario.radio import uplink_problem
from edgesplit.scenario.workload import Workload
from edgesplit.units import Duration

PolicyKind = Literal["local", "edge", "random", "greedy-latency", "greedy-energy", "weighted", "heft", "learned"]


class PolicySpec(Strict):
    """Where ready tasks run; `latency_weight`/`energy_weight` are used by `weighted`."""

    kind: PolicyKind = "greedy-latency"
    latency_weight: FiniteFloat = Field(1.0, ge=0)
    energy_weight: FiniteFloat = Field(1.0, ge=0)
    checkpoint: Path | None = None


class EngineSpec(Strict):
    """Which engine runs the scenario. `sim`: one process, one event heap. `ray`: devices, servers and links
    hosted in Ray actors (see docs/ray.md); the other fields apply to it."""

    kind: Literal["sim", "ray"] = "sim"
    address: str | None = None  # a Ray cluster to join ("auto", "ray://host:10001", "host:6379"); else RAY_ADDRESS
    shards: int | None = Field(None, ge=1)  # device-shard actors; default: one per CPU, at most one per device
    clock: Literal["virtual", "realtime"] = "virtual"
    time_scale: FiniteFloat = Field(1.0, gt=0)  # realtime: virtual seconds per wall second
    edge_resources: dict[str, FiniteFloat] = {}  # custom Ray resources an edge-server actor asks for, e.g. {edge: 1}
    shard_resources: dict[str, FiniteFloat] = {}  # the same for device-shard actors


class StopSpec(Strict):
    max_time_s: Duration | None = Field(None, gt=0)  # a finite time, or null: run until every task has ended


class Outputs(Strict):
    dir: Path | None = None
    records: Literal["csv", "parquet"] = "csv"
    plots: bool = True


class Scenario(Strict):
    """One experiment: fleet, network, workload, policy, engine, stop condition, seed and outputs."""

    name: str = "scenario"
    description: str = ""
    seed: int = Field(0, ge=0)  # numpy's generators (the calibrated workload, the cascade) take no negative seed
    fleet: Fleet
    network: Network
    workload: Workload = Workload()
    policy: PolicySpec = PolicySpec()
    engine: EngineSpec = EngineSpec()
    stop: StopSpec = StopSpec()
    faults: list[Fault] = []
    outputs: Outputs = Outputs()

    @model_validator(mode="after")
    def _names_resolve(self) -> Scenario:
        cells = {c.name for c in self.network.cells}
        for i, g in enumerate(self.fleet.devices):
            if g.cell is not None and g.cell not in cells:
                raise ValueError(f"fleet.devices[{i}].cell {g.cell!r} is not a cell in network.cells ({sorted(cells)})")
        names = [g.name for g in self.fleet.devices] + [e.name for e in self.fleet.edge_servers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"device group and edge server names must be unique; repeated: {dupes}")
        needs_remote = self.policy.kind not in ("local",)
        if needs_remote and not self.fleet.edge_servers and self.fleet.cloud is None:
            raise ValueError(f"policy {self.policy.kind!r} offloads, but the fleet has no edge server and no cloud")
        if self.policy.kind == "learned" and self.policy.checkpoint is None:
            raise ValueError("policy kind 'learned' needs policy.checkpoint")
        self._faults_resolve(cells)
        if self.policy.kind != "local":  # a device that never offloads never uses its radio
            self._uplinks_carry()
        return self

    def _uplinks_carry(self) -> None:
        by_name = {c.name: c for c in self.network.cells}
        for i, g in enumerate(self.fleet.devices):
            cell = by_name[g.cell] if g.cell is not None else self.network.cells[0]
            problem = uplink_problem(i, g, cell)
            if problem:
                raise ValueError(problem)

    def _faults_resolve(self, cells: set[str]) -> None:
        devices = {g.name if g.count == 1 else f"{g.name}-{k}" for g in self.fleet.devices for k in range(g.count)}
        servers = {e.name if e.count == 1 else f"{e.name}-{k}" for e in self.fleet.edge_servers for k in range(e.count)}
        if self.fleet.cloud is not None:
            servers.add("cloud")
        for i, f in enumerate(self.faults):
            name, known, what = (
                (f.server, servers, "server")
                if isinstance(f, ServerDown)
                else (f.cell, cells, "cell")
                if isinstance(f, LinkOutage)
                else (f.device, devices, "device")
            )
            if name not in known:
                shown = sorted(known)[:8]
                raise ValueError(f"faults[{i}]: no {what} named {name!r} (some known: {shown})")
