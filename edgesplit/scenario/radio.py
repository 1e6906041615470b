"""Refuses radio figures under which a device could never send or receive: out of coverage (no CQI step reached),
a rate of 0, or one that overflows (interference from positioned cells is refused later, by the world build).

Extreme but finite figures (a device a million km out, a noise floor of +1e15 dBm/Hz, a tx power of 0 W, as on
the edge-server profile) make the rate underflow to exactly 0 bit/s or overflow, and the engine's transfer
arithmetic (bits / rate) with them; better a clear refusal naming the device group than a ZeroDivisionError."""

from __future__ import annotations

import math

from edgesplit.scenario.fleet import DeviceGroup
from edgesplit.scenario.network import CellSpec


def uplink_problem(index: int, group: DeviceGroup, cell: CellSpec) -> str | None:
    """Why devices of `group` (fleet.devices[index]) could not send in `cell`, or None when they can.

    The rate falls with distance, so the two ends of the group's distance range bound every placement; with more
    senders sharing the cell the rate per sender is lower but never rounds to 0 where the solo rate does not."""
    if cell.model != "shannon":
        return None
    tx_power_w = group.resolve().tx_power_w
    lo, hi = group.distance_m if isinstance(group.distance_m, tuple) else (group.distance_m, group.distance_m)
    where = f"fleet.devices[{index}] ({group.name!r}) in cell {cell.name!r}"
    for distance in (hi, lo):
        try:
            rates = cell.solo_rates_bps(tx_power_w, distance)  # exactly what the engine's links give it
        except (OverflowError, ZeroDivisionError, ValueError):
            rates = (math.nan, math.nan)
        if not all(math.isfinite(r) for r in rates):
            return (
                f"{where} at {distance:g} m: the radio rate is not a finite number (the figures overflow);"
                " check tx_power_w, distance_m and the cell's bandwidth, noise and path loss"
            )
        for direction, rate in zip(("uplink", "downlink"), rates, strict=True):
            if rate <= 0.0:
                return (
                    f"{where} at {distance:g} m is out of coverage on the {direction} (tx power {tx_power_w:g} W):"
                    " it could never get a transfer through; check tx_power_w, bs_tx_power_w, distance_m and the"
                    " cell's bandwidth, noise figure and path loss"
                )
    return None
