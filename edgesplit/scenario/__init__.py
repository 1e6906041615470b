"""Scenario files: pydantic models of the YAML, loading with `--set` overrides, and errors that name file and line."""

from edgesplit.scenario.faults import DeviceLeave, Fault, LinkOutage, ServerDown
from edgesplit.scenario.fleet import CloudSpec, DeviceGroup, EdgeServerGroup, Fleet, NodeFigures
from edgesplit.scenario.load import apply_override, load_scenario, scenario_from_dict
from edgesplit.scenario.models import EngineSpec, Outputs, PolicyKind, PolicySpec, Scenario, StopSpec
from edgesplit.scenario.network import Backhaul, CellSpec, Network, PathLoss
from edgesplit.scenario.workload import (
    ArrivalModel,
    CascadeSpec,
    CyclesModel,
    DataModel,
    DeadlineModel,
    DnnSpec,
    SyntheticSpec,
    TraceSpec,
    Workload,
)

__all__ = [
    "ArrivalModel",
    "Backhaul",
    "CascadeSpec",
    "CellSpec",
    "CloudSpec",
    "CyclesModel",
    "DataModel",
    "DeadlineModel",
    "DeviceGroup",
    "DeviceLeave",
    "DnnSpec",
    "EdgeServerGroup",
    "EngineSpec",
    "Fault",
    "Fleet",
    "LinkOutage",
    "Network",
    "NodeFigures",
    "Outputs",
    "PathLoss",
    "PolicyKind",
    "PolicySpec",
    "Scenario",
    "ServerDown",
    "StopSpec",
    "SyntheticSpec",
    "TraceSpec",
    "Workload",
    "apply_override",
    "load_scenario",
    "scenario_from_dict",
]
