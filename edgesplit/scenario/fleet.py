"""Scenario models of the fleet: device groups, edge servers and the cloud, each a profile plus inline figures."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, FiniteFloat, field_validator

from edgesplit.model.profiles import BUILTIN, Profile, get_profile
from edgesplit.scenario.base import Strict
from edgesplit.units import Duration, Energy, Frequency, Power, Rate, parse_quantity


class NodeFigures(Strict):
    """A built-in profile plus any figures the scenario overrides inline."""

    profile: str
    cpu_hz: Frequency | None = Field(None, gt=0)
    cores: int | None = Field(None, gt=0)
    kappa: FiniteFloat | None = Field(None, ge=0)
    idle_power_w: Power | None = Field(None, ge=0)
    busy_power_w: Power | None = Field(None, ge=0)
    per_core_power_w: Power | None = Field(None, ge=0)
    energy_model: Literal["kappa", "power"] | None = None
    flops_per_cycle: FiniteFloat | None = Field(None, gt=0)

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, v: str) -> str:
        if v not in BUILTIN:
            raise ValueError(f"unknown profile {v!r}; known: {', '.join(sorted(BUILTIN))}")
        return v

    def resolve(self) -> Profile:
        """The built-in profile with this entry's inline figures applied."""
        figures = {k: v for k, v in self.model_dump().items() if k in _PROFILE_FIELDS and v is not None}
        return get_profile(self.profile).with_overrides(**figures)


_PROFILE_FIELDS = set(Profile.__dataclass_fields__) - {"name", "kind"}


def _distance_or_range(v: Any) -> Any:
    """A distance or a [min, max] range read in one step, so that a mistake in it is one error, not one per form."""
    if isinstance(v, list | tuple):
        if len(v) != 2:
            raise ValueError(f"a distance range is [min, max], got {len(v)} values")
        return tuple(parse_quantity(x, "distance") for x in v)
    return parse_quantity(v, "distance")


class DeviceGroup(NodeFigures):
    """`count` devices of one profile, at `distance_m` from their cell's base station."""

    name: str
    profile: str = "phone-midrange"
    count: int = Field(1, gt=0)
    cell: str | None = None
    distance_m: Annotated[float | tuple[float, float], BeforeValidator(_distance_or_range)] = 100.0
    tx_power_w: Power | None = Field(None, gt=0)
    rx_power_w: Power | None = Field(None, ge=0)
    radio_base_w: Power | None = Field(None, ge=0)
    radio_up_w_per_bps: FiniteFloat | None = Field(None, ge=0)
    radio_down_w_per_bps: FiniteFloat | None = Field(None, ge=0)
    radio_tail_w: Power | None = Field(None, ge=0)
    radio_tail_s: Duration | None = Field(None, ge=0)
    battery_j: Energy | None = Field(None, gt=0)

    @field_validator("distance_m")
    @classmethod
    def _positive_distance(cls, v: float | tuple[float, float]) -> float | tuple[float, float]:
        values = v if isinstance(v, tuple) else (v,)
        if any(x <= 0 for x in values) or (isinstance(v, tuple) and v[0] > v[1]):
            raise ValueError("distance must be > 0 (or a range [min, max] with 0 < min <= max)")
        return v


class EdgeServerGroup(NodeFigures):
    """`count` edge servers reached from every cell over the backhaul."""

    name: str
    profile: str = "edge-server"
    count: int = Field(1, gt=0)


class CloudSpec(NodeFigures):
    """An optional cloud VM behind a wide-area link."""

    profile: str = "cloud-vm"
    latency_s: Duration = Field(0.04, ge=0)
    rate_bps: Rate = Field(1e9, gt=0)


class Fleet(Strict):
    devices: list[DeviceGroup] = Field(min_length=1)
    edge_servers: list[EdgeServerGroup] = Field(default_factory=list)
    cloud: CloudSpec | None = None
