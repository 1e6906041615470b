"""Base-station power (the EARTH model): what a cell's site draws while it sends, only receives, or sleeps."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BaseStationPower:
    """EARTH's linear power model (Auer et al., "How much energy is needed to run a wireless network?", IEEE
    Wireless Commun. 18(5), 2011, eq. 1 and Table II): P_in = N_TRX (P0 + Delta_p P_out) for 0 < P_out <= P_max
    per transceiver, and N_TRX P_sleep at P_out = 0. Units: W."""

    n_trx: int
    p_max_w: float  # RF output power per TRX at full load
    p0_w: float  # power per TRX at the minimum non-zero output
    delta_p: float  # slope of the load dependence
    p_sleep_w: float  # power per TRX asleep (no output)

    def input_power_w(self, p_out_w: float) -> float:
        """Power drawn from the mains while each TRX radiates `p_out_w` (0: asleep)."""
        if p_out_w <= 0.0:
            return self.n_trx * self.p_sleep_w
        return self.n_trx * (self.p0_w + self.delta_p * p_out_w)


# EARTH Table II, read in three stored copies of its parameter sets (SECONDARY; /work/shared/REFERENCE_FIGURES.md
# section 5, docs/validation.md "Base stations").
EARTH_PRESETS: dict[str, BaseStationPower] = {
    "macro": BaseStationPower(n_trx=6, p_max_w=20.0, p0_w=130.0, delta_p=4.7, p_sleep_w=75.0),
    "rrh": BaseStationPower(n_trx=6, p_max_w=20.0, p0_w=84.0, delta_p=2.8, p_sleep_w=56.0),
    "micro": BaseStationPower(n_trx=2, p_max_w=6.3, p0_w=56.0, delta_p=2.6, p_sleep_w=39.0),
    "pico": BaseStationPower(n_trx=2, p_max_w=0.13, p0_w=6.8, delta_p=4.0, p_sleep_w=4.3),
    "femto": BaseStationPower(n_trx=2, p_max_w=0.05, p0_w=4.8, delta_p=8.0, p_sleep_w=2.9),
}


def base_station_energy_j(
    bs: BaseStationPower, p_out_w: float, transmit_s: float, awake_s: float, total_s: float
) -> dict[str, float]:
    """A site's energy over a run of `total_s`: sending (the downlink on the air, each TRX at `p_out_w`) for
    `transmit_s`, awake with no output (only the uplink busy: P0 per TRX, EARTH's minimum non-zero load) for
    `awake_s - transmit_s`, asleep the rest. Returns each state's joules and their total."""
    receive_s = max(awake_s - transmit_s, 0.0)
    sleep_s = max(total_s - awake_s, 0.0)
    parts = {
        "transmit": bs.input_power_w(p_out_w) * transmit_s,
        "receive": bs.n_trx * bs.p0_w * receive_s,
        "sleep": bs.input_power_w(0.0) * sleep_s,
    }
    return {**parts, "total": sum(parts.values())}
