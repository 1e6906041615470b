"""Compute profiles of devices, edge servers and cloud VMs, with the source of each figure."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from edgesplit.model.energy import busy_energy_j, kappa_core_power_w, kappa_energy_j

EnergyModel = Literal["kappa", "power"]


@dataclass(frozen=True, slots=True)
class Profile:
    """What a node can compute and what it costs in energy.

    Compute energy follows `energy_model`:
      - "kappa": dynamic CPU energy kappa * f^2 per cycle (the MEC literature's model);
      - "power": measured (busy - idle) board power, split evenly over the cores, times busy time.
    `idle_power_w` is drawn for the whole run whatever the node does; radio powers apply while a
    device transmits or receives.
    """

    name: str
    kind: Literal["device", "edge", "cloud"]
    cpu_hz: float
    cores: int
    kappa: float
    idle_power_w: float
    busy_power_w: float | None = None
    energy_model: EnergyModel = "kappa"
    flops_per_cycle: float = 2.0
    tx_power_w: float = 0.0
    rx_power_w: float = 0.0
    battery_j: float | None = None

    @property
    def core_power_w(self) -> float:
        """Dynamic power of one busy core."""
        if self.energy_model == "power" and self.busy_power_w is not None:
            return (self.busy_power_w - self.idle_power_w) / self.cores
        return kappa_core_power_w(self.kappa, self.cpu_hz)

    def compute_time_s(self, cycles: float) -> float:
        """Seconds one core needs for `cycles`."""
        return cycles / self.cpu_hz

    def compute_energy_j(self, cycles: float) -> float:
        """Dynamic energy of running `cycles` on one core."""
        if self.energy_model == "power" and self.busy_power_w is not None:
            return busy_energy_j(self.core_power_w, cycles, self.cpu_hz)
        return kappa_energy_j(self.kappa, self.cpu_hz, cycles)

    @property
    def joules_per_flop(self) -> float:
        """Dynamic energy per floating-point operation, for FLOP-counted workloads (DNN layers)."""
        return self.compute_energy_j(1.0) / self.flops_per_cycle

    def with_overrides(self, **fields: object) -> Profile:
        """A copy with some figures replaced (inline figures in a scenario)."""
        return replace(self, **fields)  # type: ignore[arg-type]


# Figures and their sources.
# [MEC]  Mao et al., "A Survey on Mobile Edge Computing", IEEE COMST 2017, and the Com-DDPG paper's settings:
#        kappa 1e-27..1e-28, device CPU 0.5-2.6 GHz, edge CPU 3.2-10 GHz, tx power 0.1-0.5 W.
# [RPI]  Raspberry Pi 4 Model B product brief (4x Cortex-A72 @ 1.5 GHz); power measured by Tom's Hardware
#        ("Raspberry Pi 4 Power Consumption", 2019): 2.7 W idle, 6.4 W under stress-ng on all cores.
# [NANO] NVIDIA Jetson Nano module data sheet DA-09366 (4x Cortex-A57 @ 1.43 GHz, 10 W mode); idle 1.25 W
#        as measured by the jetson-stats community measurements in 10 W mode.
# [A72]  Arm Cortex-A72/A57 NEON: 2 FP64 / 4 FP32 lanes; we use 2 sustained flops per cycle for DNN kernels.
# [PHONE] Battery 4,000 mAh at 3.85 V = 55.4 kJ, typical of 2022 mid-range phones (e.g. Samsung Galaxy A53).
BUILTIN: dict[str, Profile] = {
    "rpi4": Profile(
        name="rpi4",
        kind="device",
        cpu_hz=1.5e9,  # [RPI]
        cores=4,  # [RPI]
        kappa=1e-27,  # [MEC]
        idle_power_w=2.7,  # [RPI]
        busy_power_w=6.4,  # [RPI]
        energy_model="power",
        flops_per_cycle=2.0,  # [A72]
        tx_power_w=0.2,  # [MEC] mid-range of 0.1-0.5 W
        rx_power_w=0.1,
    ),
    "jetson-nano": Profile(
        name="jetson-nano",
        kind="device",
        cpu_hz=1.43e9,  # [NANO]
        cores=4,  # [NANO]
        kappa=1e-27,  # [MEC]
        idle_power_w=1.25,  # [NANO]
        busy_power_w=10.0,  # [NANO] 10 W power mode
        energy_model="power",
        flops_per_cycle=2.0,  # [A72]
        tx_power_w=0.2,  # [MEC]
        rx_power_w=0.1,
    ),
    "phone-midrange": Profile(
        name="phone-midrange",
        kind="device",
        cpu_hz=2.0e9,  # [MEC] within 0.5-2.6 GHz
        cores=2,  # big cores available to the app
        kappa=1e-27,  # [MEC]
        idle_power_w=0.3,
        energy_model="kappa",
        flops_per_cycle=2.0,
        tx_power_w=0.2,  # [MEC]
        rx_power_w=0.1,
        battery_j=55_440.0,  # [PHONE]
    ),
    "edge-server": Profile(
        name="edge-server",
        kind="edge",
        cpu_hz=4.0e9,  # [MEC] within 3.2-10 GHz
        cores=8,
        kappa=1e-28,  # [MEC]
        idle_power_w=60.0,
        energy_model="kappa",
        flops_per_cycle=8.0,  # AVX2 FMA, sustained
    ),
    "cloud-vm": Profile(
        name="cloud-vm",
        kind="cloud",
        cpu_hz=3.0e9,
        cores=32,
        kappa=1e-28,  # [MEC]
        idle_power_w=100.0,
        energy_model="kappa",
        flops_per_cycle=8.0,
    ),
}


def get_profile(name: str) -> Profile:
    """A built-in profile by name; KeyError lists the known names."""
    try:
        return BUILTIN[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(sorted(BUILTIN))}") from None
