"""Scenario models of faults: a server going down, a cell's link going dark, a device leaving.

Every fault time and duration is a finite number (edgesplit.units refuses `.inf`): "for good" is spelled by
leaving `downtime_s` or `rejoin_s` out; an infinite outage window would stall transfers forever."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from edgesplit.scenario.base import Strict
from edgesplit.units import Duration


class ServerDown(Strict):
    """An edge server (or the cloud) goes down at `at_s`; what runs or waits there is lost. Each lost task's
    device notices one return-path latency later and, with `on_loss: redispatch`, asks the policy again (at most
    `redispatch_limit` times per task), else the task fails. Tasks arriving while it is down are lost the same
    way. With `downtime_s` it comes back empty after that long; without, it stays down."""

    kind: Literal["server-down"]
    server: str  # a server name: "edge", "edge-1", "cloud"
    at_s: Duration = Field(ge=0)
    downtime_s: Duration | None = Field(None, gt=0)
    on_loss: Literal["redispatch", "fail"] = "redispatch"
    redispatch_limit: int = Field(2, ge=0)


class LinkOutage(Strict):
    """A cell carries nothing from `at_s` for `duration_s`: uplink transfers stall and resume where they stopped;
    a result that would reach a device in the cell during the outage arrives when it ends."""

    kind: Literal["link-outage"]
    cell: str
    at_s: Duration = Field(ge=0)
    duration_s: Duration = Field(gt=0)


class DeviceLeave(Strict):
    """A device leaves at `at_s`: its unfinished tasks fail (their descendants are dropped) and jobs that arrive
    while it is away are dropped. With `rejoin_s` (an absolute time) it comes back then."""

    kind: Literal["device-leave"]
    device: str  # a device name: "phone-3", or a group's name when the group has one device
    at_s: Duration = Field(ge=0)
    rejoin_s: Duration | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _rejoin_later(self) -> DeviceLeave:
        if self.rejoin_s is not None and self.rejoin_s <= self.at_s:
            raise ValueError(f"rejoin_s ({self.rejoin_s}) must be after at_s ({self.at_s})")
        return self


Fault = Annotated[ServerDown | LinkOutage | DeviceLeave, Field(discriminator="kind")]
