"""Scenario models of the network: wireless cells (Shannon or fixed rate) and the wired backhaul."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, FiniteFloat, model_validator

from edgesplit.scenario.base import Strict
from edgesplit.units import Duration, Frequency, Rate


class PathLoss(Strict):
    """Log-distance path loss in dB: intercept + slope * log10(distance in km) (3GPP TR 36.931 macro cell)."""

    intercept_db: FiniteFloat = 128.1
    slope_db: FiniteFloat = Field(37.6, gt=0)


class CellSpec(Strict):
    """A wireless cell: uplink by Shannon rate over shared bandwidth, or a fixed rate per device."""

    name: str
    model: Literal["shannon", "fixed"] = "shannon"
    bandwidth_hz: Frequency = Field(10e6, gt=0)
    noise_dbm_per_hz: FiniteFloat = -174.0
    path_loss: PathLoss = PathLoss()
    rate_bps: Rate | None = Field(None, gt=0)
    shared: bool = True
    latency_s: Duration = Field(0.005, ge=0)
    jitter_s: Duration = Field(0.0, ge=0)
    loss: FiniteFloat = Field(0.0, ge=0, lt=1)
    max_retries: int = Field(3, ge=0)
    downlink_rate_bps: Rate = Field(100e6, gt=0)

    @model_validator(mode="after")
    def _fixed_needs_rate(self) -> CellSpec:
        if self.model == "fixed" and self.rate_bps is None:
            raise ValueError("a cell with model: fixed needs rate_bps")
        return self


class Backhaul(Strict):
    """The wired link between every cell and every edge server."""

    latency_s: Duration = Field(0.002, ge=0)
    rate_bps: Rate = Field(10e9, gt=0)


class Network(Strict):
    cells: list[CellSpec] = Field(min_length=1)
    backhaul: Backhaul = Backhaul()
