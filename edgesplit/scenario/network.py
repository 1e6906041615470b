"""Scenario models of the network: wireless cells (bounded Shannon or fixed rate) and the wired backhaul."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, FiniteFloat, model_validator

from edgesplit.model.base_station import EARTH_PRESETS, BaseStationPower, base_station_energy_j
from edgesplit.model.network import LinkFigures, dbm_to_w, link_rate_bps, path_gain, received_snr_per_hz
from edgesplit.model.radio import (
    ATTENUATION,
    BS_NOISE_FIGURE_DB,
    DEFAULT_MCS_TABLE,
    MIN_DISTANCE_M,
    UE_NOISE_FIGURE_DB,
    cqi_steps,
)
from edgesplit.scenario.base import Strict
from edgesplit.units import Distance, Duration, Frequency, Power, Rate

FIXED_DOWNLINK_BPS = 100e6
"""The downlink of a fixed-rate cell that names no downlink_rate_bps (the figure every cell had before)."""


class PathLoss(Strict):
    """Log-distance path loss in dB: intercept + slope * log10(distance in km) (3GPP TR 36.931 macro cell)."""

    intercept_db: FiniteFloat = 128.1
    slope_db: FiniteFloat = Field(37.6, gt=0)


class BaseStationSpec(Strict):
    """A cell's site in the EARTH power model (model/base_station.py): a `type` from EARTH Table II, any of its
    figures overridden (per transceiver: `p_max_w` RF output at full load, `p0_w` at the least load, `delta_p`
    the load slope, `p_sleep_w` asleep)."""

    type: Literal["macro", "rrh", "micro", "pico", "femto"] = "macro"
    n_trx: int | None = Field(None, ge=1)
    p_max_w: Power | None = Field(None, gt=0)
    p0_w: Power | None = Field(None, ge=0)
    delta_p: FiniteFloat | None = Field(None, ge=0)
    p_sleep_w: Power | None = Field(None, ge=0)

    def power(self) -> BaseStationPower:
        preset = EARTH_PRESETS[self.type]
        return BaseStationPower(
            n_trx=self.n_trx if self.n_trx is not None else preset.n_trx,
            p_max_w=self.p_max_w if self.p_max_w is not None else preset.p_max_w,
            p0_w=self.p0_w if self.p0_w is not None else preset.p0_w,
            delta_p=self.delta_p if self.delta_p is not None else preset.delta_p,
            p_sleep_w=self.p_sleep_w if self.p_sleep_w is not None else preset.p_sleep_w,
        )


class CellSpec(Strict):
    """A wireless cell, both directions alike: bounded Shannon over shared bandwidth, or a fixed rate per device.

    Shannon cells turn SINR into rate through the CQI table `mcs_table` (attenuated Shannon with `attenuation`,
    docs/validation.md "Radio"), with the receiver's noise figure (`bs_noise_figure_db` on the uplink,
    `ue_noise_figure_db` on the downlink) and path loss frozen below `min_distance_m`. The downlink is the
    base station sending at `bs_tx_power_w` (default: its `base_station`'s full-load output per transceiver)
    over the same bandwidth, shared (or not) like the uplink; `downlink_rate_bps` makes it a fixed rate
    instead. The site's power follows EARTH (`base_station`): sending, awake while only receiving, asleep.
    With `x_m`, `y_m` on every cell, the Shannon cells hear each other (mean interference, each transmitter on
    the air `activity` of the time)."""

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
    downlink_rate_bps: Rate | None = Field(None, gt=0)
    bs_noise_figure_db: FiniteFloat = Field(BS_NOISE_FIGURE_DB, ge=0)
    ue_noise_figure_db: FiniteFloat = Field(UE_NOISE_FIGURE_DB, ge=0)
    mcs_table: Literal["64qam", "256qam"] = DEFAULT_MCS_TABLE
    attenuation: FiniteFloat = Field(ATTENUATION, gt=0, le=1)
    min_distance_m: Distance = Field(MIN_DISTANCE_M, gt=0)
    bs_tx_power_w: Power | None = Field(None, gt=0)
    base_station: BaseStationSpec = BaseStationSpec()
    x_m: Distance | None = None
    y_m: Distance | None = None
    activity: FiniteFloat = Field(1.0, ge=0, le=1)

    @model_validator(mode="after")
    def _fixed_needs_rate(self) -> CellSpec:
        if self.model == "fixed" and self.rate_bps is None:
            raise ValueError("a cell with model: fixed needs rate_bps")
        if (self.x_m is None) != (self.y_m is None):
            raise ValueError("a cell's position needs both x_m and y_m")
        bs = self.base_station.power()
        if self.bs_tx_power_w is not None and self.bs_tx_power_w > bs.p_max_w:
            raise ValueError(
                f"bs_tx_power_w {self.bs_tx_power_w:g} W is above what a {self.base_station.type} base station"
                f" sends per transceiver (p_max_w {bs.p_max_w:g} W); lower it or set base_station.p_max_w"
            )
        return self

    def site_energy_j(self, sending_s: float, awake_s: float, total_s: float) -> dict[str, float]:
        """This cell's base-station energy over `total_s` in the EARTH model: `transmit` while its downlink was
        on the air for `sending_s`, `receive` for the rest of `awake_s`, `sleep` otherwise, and their `total`."""
        return base_station_energy_j(self.base_station.power(), self.tx_power_w, sending_s, awake_s, total_s)

    @property
    def tx_power_w(self) -> float:
        """What the base station radiates on the downlink: `bs_tx_power_w`, else its full-load output."""
        return self.bs_tx_power_w if self.bs_tx_power_w is not None else self.base_station.power().p_max_w

    def link_figures(self, direction: Literal["up", "down"]) -> LinkFigures:
        """The engine's figures of one direction of this cell. The downlink is fixed-rate when the cell is or
        when `downlink_rate_bps` is given; both directions share latency, jitter, loss and retries."""
        up = direction == "up"
        fixed_down = self.downlink_rate_bps or (FIXED_DOWNLINK_BPS if self.model == "fixed" else None)
        model = self.model if up else ("fixed" if fixed_down is not None else "shannon")
        return LinkFigures(
            model=model,
            bandwidth_hz=self.bandwidth_hz,
            noise_w_per_hz=dbm_to_w(self.noise_dbm_per_hz),
            rate_bps=self.rate_bps if up else fixed_down,
            shared=self.shared,
            latency_s=self.latency_s,
            jitter_s=self.jitter_s,
            loss=self.loss,
            max_retries=self.max_retries,
            direction=direction,
            noise_figure_db=self.bs_noise_figure_db if up else self.ue_noise_figure_db,
            cqi=cqi_steps(self.mcs_table, self.attenuation) if model == "shannon" else None,
        )

    def gain(self, distance_m: float) -> float:
        """Linear path gain over `distance_m` under this cell's path-loss law and minimum distance."""
        return path_gain(distance_m, self.path_loss.intercept_db, self.path_loss.slope_db, self.min_distance_m)

    def solo_rates_bps(self, tx_power_w: float, distance_m: float) -> tuple[float, float]:
        """(uplink, downlink) rate of a device alone in this cell, `distance_m` out, sending at `tx_power_w`, with
        no interference: what the engine's links give it; 0 where it is out of coverage."""
        gain = self.gain(distance_m)
        up, down = self.link_figures("up"), self.link_figures("down")
        return (
            link_rate_bps(up, received_snr_per_hz(up, tx_power_w, gain)),
            link_rate_bps(down, received_snr_per_hz(down, self.tx_power_w, gain)),
        )

    @property
    def position(self) -> tuple[float, float] | None:
        return None if self.x_m is None or self.y_m is None else (self.x_m, self.y_m)


class Backhaul(Strict):
    """The wired link between every cell and every edge server."""

    latency_s: Duration = Field(0.002, ge=0)
    rate_bps: Rate = Field(10e9, gt=0)


class Network(Strict):
    cells: list[CellSpec] = Field(min_length=1)
    backhaul: Backhaul = Backhaul()

    @model_validator(mode="after")
    def _positions_all_or_none(self) -> Network:
        placed = [c.name for c in self.cells if c.position is not None]
        if placed and len(placed) != len(self.cells):
            raise ValueError(f"give x_m and y_m on every cell or on none (only {placed} have them)")
        return self
