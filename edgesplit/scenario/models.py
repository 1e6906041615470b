"""The scenario model: fleet, network, workload, policy, engine, stop condition, faults and outputs, cross-checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, FiniteFloat, field_validator, model_validator

from edgesplit.errors import UserError
from edgesplit.scenario.base import Strict
from edgesplit.scenario.faults import Fault, LinkOutage, ServerDown
from edgesplit.scenario.fleet import Fleet
from edgesplit.scenario.network import Network
from edgesplit.scenario.radio import uplink_problem
from edgesplit.scenario.workload import Workload
from edgesplit.units import Duration

BUILTIN_POLICIES = ("local", "edge", "random", "greedy-latency", "greedy-energy", "weighted", "heft", "learned")
PolicyKind = str  # a built-in, "custom", or a kind an installed package registers (entry points edgesplit.policies)


class PolicySpec(Strict):
    """Where ready tasks run. `latency_weight`/`energy_weight` are used by `weighted`, `checkpoint` by `learned`.
    `kind: custom` with `class: "package.module:Class"` or `class: "path/file.py:Class"` (relative to the scenario
    file) runs your own `Policy` subclass, built with `params`; a kind registered under the `edgesplit.policies`
    entry points is built the same way. The class is imported and `params` checked against its constructor when
    the scenario is loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    kind: PolicyKind = "greedy-latency"
    latency_weight: FiniteFloat = Field(1.0, ge=0)
    energy_weight: FiniteFloat = Field(1.0, ge=0)
    checkpoint: Path | None = None
    class_: str | None = Field(None, alias="class")
    params: dict[str, Any] = {}

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        from edgesplit.policies.custom import registered_kinds

        if kind not in (*BUILTIN_POLICIES, "custom") and kind not in registered_kinds():
            known = ", ".join([*BUILTIN_POLICIES, "custom", *registered_kinds()])
            raise ValueError(f"unknown policy kind {kind!r}; choose one of {known}")
        return kind

    @model_validator(mode="after")
    def _class_and_params(self) -> PolicySpec:
        from edgesplit.policies.custom import check_params, load_class

        if self.kind == "custom":
            if not self.class_:
                raise ValueError("policy kind 'custom' needs policy.class ('module:Class' or 'file.py:Class')")
        elif self.class_ is not None:
            raise ValueError("policy.class is for kind 'custom'")
        elif self.params and self.kind in BUILTIN_POLICIES:
            raise ValueError("policy.params are for custom and registered policies")
        ref = self.ref
        if ref is not None:
            try:
                check_params(load_class(ref), self.params)
            except UserError as err:  # as a validation error, so that it names the file and line
                raise ValueError(err.message.removeprefix("policy.class: ")) from None
        return self

    @property
    def ref(self) -> str | None:
        """The `module:Class` this spec builds, for custom and registered kinds."""
        if self.kind == "custom":
            return self.class_
        if self.kind in BUILTIN_POLICIES:  # no need to scan the installed packages' entry points
            return None
        from edgesplit.policies.custom import entry_point_ref

        return entry_point_ref(self.kind)


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
