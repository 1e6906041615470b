"""Compute profiles of devices, edge servers and cloud VMs, with the source of each figure."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from edgesplit.model.energy import (
    busy_energy_j,
    em_core_power_w,
    kappa_core_power_w,
    kappa_energy_j,
    kappa_for_core_power,
)

EnergyModel = Literal["kappa", "power"]


@dataclass(frozen=True, slots=True)
class Profile:
    """What a node can compute and what it costs in energy.

    Compute energy follows `energy_model`:
      - "kappa": dynamic CPU energy kappa * f^2 per cycle (the MEC literature's model), so one busy core
        draws kappa * f^3;
      - "power": one busy core draws `per_core_power_w` above idle, times busy time. The figure is per core,
        so a scenario that overrides `cores` keeps it. Without it the kappa model applies.
    `busy_power_w` is the whole-board power with every core busy, the measurement `per_core_power_w` was
    derived from where there is one; no formula reads it. `idle_power_w` is drawn for the whole run.

    Radio: `tx_power_w` is the RADIATED transmit power and only sets the uplink SNR. The power the radio
    CONSUMES follows Huang et al. (MobiSys 2012): `radio_base_w` + `radio_up_w_per_bps` x uplink bit/s +
    `radio_down_w_per_bps` x downlink bit/s while connected and transferring; after its last activity the
    radio stays in its tail, drawing `radio_tail_w`, for `radio_tail_s` (a radio stalled by an outage draws
    `radio_tail_w` too). `rx_power_w` is kept for compatibility only: the engine uses the consumed model.
    Servers and VMs are wired: their radio figures are 0.
    """

    name: str
    kind: Literal["device", "edge", "cloud"]
    cpu_hz: float
    cores: int
    kappa: float
    idle_power_w: float
    busy_power_w: float | None = None
    per_core_power_w: float | None = None
    energy_model: EnergyModel = "kappa"
    flops_per_cycle: float = 2.0
    tx_power_w: float = 0.0
    rx_power_w: float = 0.0
    radio_base_w: float = 0.0
    radio_up_w_per_bps: float = 0.0
    radio_down_w_per_bps: float = 0.0
    radio_tail_w: float = 0.0
    radio_tail_s: float = 0.0
    battery_j: float | None = None

    @property
    def core_power_w(self) -> float:
        """Dynamic power of one busy core (above idle), whichever the energy model."""
        if self.energy_model == "power" and self.per_core_power_w is not None:
            return self.per_core_power_w
        return kappa_core_power_w(self.kappa, self.cpu_hz)

    def compute_time_s(self, cycles: float) -> float:
        """Seconds one core needs for `cycles`."""
        return cycles / self.cpu_hz

    def compute_energy_j(self, cycles: float) -> float:
        """Dynamic energy of running `cycles` on one core."""
        if self.energy_model == "power" and self.per_core_power_w is not None:
            return busy_energy_j(self.per_core_power_w, cycles, self.cpu_hz)
        return kappa_energy_j(self.kappa, self.cpu_hz, cycles)

    @property
    def joules_per_flop(self) -> float:
        """Dynamic energy per floating-point operation, for FLOP-counted workloads (DNN layers)."""
        return self.compute_energy_j(1.0) / self.flops_per_cycle

    def with_overrides(self, **fields: object) -> Profile:
        """A copy with some figures replaced (inline figures in a scenario)."""
        return replace(self, **fields)  # type: ignore[arg-type]


# Figures and their sources; every figure below carries a tag and a status (CONFIRMED, SECONDARY, DERIVED,
# UNCONFIRMED as in /work/shared/REFERENCE_FIGURES.md). docs/profiles.md tabulates them and
# tests/validation/test_profiles.py checks them.
# [JX]     joular/joularjx src/main/java/org/noureddine/joularjx/cpu/RaspberryPi.java @8052d543, case
#          RPI_4B_12_64 (Pi 4B rev 1.2, 64-bit OS): whole-board power fitted to measurements, 3.04 W at 0 % CPU,
#          6.44 W at 100 %. SECONDARY (fit). Per core (6.44 - 3.04) / 4 = 0.85 W: DERIVED, a board-level delta
#          (DRAM, uncore and regulator losses included).
# [PI4]    Pi 4B rev 1.1/1.2, the boards [JX] fits: 4x Cortex-A72 at 1.5 GHz (REFERENCE_FIGURES section 1).
#          SECONDARY. Current boards run 1.8 GHz (product brief quoted in zephyrproject-rtos/zephyr
#          boards/raspberrypi/rpi_4b/doc/index.rst @349e0d2a).
# [PI5]    Raspberry Pi 5 product brief as quoted in zephyrproject-rtos/zephyr boards/raspberrypi/rpi_5/doc/index.rst
#          @8ea45380: "Broadcom BCM2712 2.4GHz quad-core 64-bit Arm Cortex-A76". SECONDARY.
# [ULABS]  https://u-labs.de/portal/so-verbraucht-der-raspberry-pi-5-ausgeschaltet-bis-zu-180x-weniger-strom: Pi 5
#          about 3 W idle at the USB-C input (Pi OS 12). SECONDARY (blog measurement). No full-load measurement
#          of the Pi 5 was found (UNCONFIRMED), so its busy board power is left unset.
# [NANO]   NVIDIA L4T "Supported Modes and Power Efficiency" (copy at https://xiaopingtou.net/article-89752.html):
#          MaxN (the 10 W mode): 4 cores online, CPU max 1479 MHz. SECONDARY (vendor doc copy). The 10 W is a
#          power budget, not a measurement: no figure here uses it.
# [WAGGLE] waggle-sensor/jetson-exporter tegrastats_test.go @742d9cfe: Jetson Nano (JetPack 4.6.1), CPU 3-6 %
#          at 1224 MHz, GPU 0 %: POM_5V_IN 1750/1628 mW (now/average), POM_5V_CPU 366/406 mW. SECONDARY (one
#          tegrastats sample of the on-module INA3221, in a test fixture).
# [AIBLOX] Frederik-AiBlox/ai-blox.github.io pages/module-x/hardware/stress-test.md @afec31e4: Jetson Nano, 10 W
#          mode, `stress -c 4` and CUDA matrixMul, CPU 4x 100 % at 1479 MHz: POM_5V_CPU 3134 mW average.
#          SECONDARY. (Its POM_5V_IN reads below the CPU rail, so the IN and GPU labels look swapped there; only
#          the CPU rail is used.) Per core (3134 - 406) / 4 = 682 mW: DERIVED, CPU rail at 5 V (regulator loss
#          included), two boards, the loaded one with its GPU busy as well.
# [RK-EM]  Linux energy model of the Cortex-A76 and A55 (RK3588): dynamic-power-coefficient 416 (cpu_b*) and 228
#          (cpu_l*) uW/MHz/V^2 in mmind/linux-rockchip arch/arm64/boot/dts/rockchip/rk3588s.dtsi @d2e01981
#          (SECONDARY: the DT binding allows relative values); OPPs in torvalds/linux
#          arch/arm64/boot/dts/rockchip/rk3588-opp.dtsi @276856db: A76 2208 MHz at 0.9875 V and 2400 MHz at
#          1.0 V, A55 1800 MHz at 0.95 V. P = C V^2 f: A76 0.896 W at 2.208 GHz and 0.998 W at 2.4 GHz, A55
#          0.370 W at 1.8 GHz. DERIVED; dynamic power only (leakage, L3 and DRAM excluded). RK3588 is not a
#          phone SoC, but the cores are the same.
# [ANAND]  AnandTech, "Snapdragon 855 performance preview", https://www.anandtech.com/show/13786/ page 2: the 855
#          QRD idles at 950-1050 mW, about 500 mW above retail devices, so a retail phone idles at about 0.5 W.
#          DERIVED (from the text; the per-core power charts were not read).
# [PC3]    3GPP TS 38.101-3 Rel-17 Table 6.2B.1.1-1, verbatim copy at
#          https://itecspec.com/spec/3gpp-38-101-3-6-2b-1-ue-maximum-output-power-for-dc/: UE power class 3 is
#          23 dBm and "the default power class". CONFIRMED (spec text copy; TS 38.101-1 Table 6.2.1-1 itself not
#          read). 23 dBm = 199.5 mW, used as 0.2 W: a maximum RADIATED power, for the SNR only.
# [ARO]    Huang et al., "A Close Examination of Performance and Power Characteristics of 4G LTE Networks",
#          MobiSys 2012: P = alpha_u t_u + alpha_d t_d + beta while connected (t in Mbps), with the parameters of
#          AT&T ARO (same group), attdevsupport/ARO ARODataAnalyzer/src/lte.conf @86c3078f: LTE_ALPHA_UP
#          438.39 mW/Mbps, LTE_ALPHA_DOWN 51.97 mW/Mbps, LTE_BETA 1.2 W, P_TAIL 1.06 W, and a tail of
#          INACTIVITY_TIMER 0.1 s + T_SHORT_DRX 0.02 s + T_LONG_DRX 10 s = 10.12 s (DERIVED). SECONDARY; the
#          paper's own beta (1288.04 mW) and tail (11.576 s) are UNCONFIRMED. Left out: the DRX pings (1.68 W for
#          2 ms every 20/40 ms, about +0.03 W on the tail) and the 0.26 s promotion at 1.21 W. Measured on 2012
#          handsets: for a board with a USB LTE modem it is UNCONFIRMED (no such modem's measurement was read).
# [MEC]    Mao et al., "A Survey on Mobile Edge Computing", IEEE COMST 2017, and the Com-DDPG paper's settings:
#          kappa 1e-27..1e-28, edge CPU 3.2-10 GHz. Simulation settings, not measurements, and not read here:
#          UNCONFIRMED. kappa 1e-28 gives 6.4 W per core at 4 GHz, 2.7 W at 3 GHz: the order of a server core.
# [SPEC]   SPECpower_ssj2008 (https://www.spec.org/power/docs/SPECpower_ssj2008-Result_File_Fields.html) defines
#          what to take from a server: its active-idle and 100 % rows. CONFIRMED (method only); no result file
#          was read, so the server figures are UNCONFIRMED until one is.
# [MODEL]  A modelling choice with no source read (core counts given to an app, sustained flops per cycle, the
#          battery size, the legacy rx power): UNCONFIRMED.

_LTE_RADIO = {
    "tx_power_w": 0.2,  # [PC3] CONFIRMED: 23 dBm (199.5 mW), radiated
    "rx_power_w": 0.1,  # [MODEL] UNCONFIRMED: legacy figure, superseded by the consumed model below
    "radio_base_w": 1.2,  # [ARO] SECONDARY: LTE_BETA
    "radio_up_w_per_bps": 4.3839e-7,  # [ARO] SECONDARY: LTE_ALPHA_UP 438.39 mW/Mbps
    "radio_down_w_per_bps": 5.197e-8,  # [ARO] SECONDARY: LTE_ALPHA_DOWN 51.97 mW/Mbps
    "radio_tail_w": 1.06,  # [ARO] SECONDARY: P_TAIL
    "radio_tail_s": 10.12,  # [ARO] DERIVED: 0.1 + 0.02 + 10 s
}
_PHONE_IDLE_W = 0.5  # [ANAND] DERIVED: 1.0 W QRD idle - 0.5 W
_PHONE_BATTERY_J = 4.0 * 3600 * 3.85  # [MODEL] UNCONFIRMED: an assumed 4,000 mAh cell at 3.85 V = 55.44 kJ
_A76_C, _A55_C = 416.0, 228.0  # [RK-EM] SECONDARY: uW/MHz/V^2
_A76_CORE_W = em_core_power_w(_A76_C, 0.9875, 2.208e9)  # [RK-EM] DERIVED: 0.896 W at 2.208 GHz
_A76_FAST_CORE_W = em_core_power_w(_A76_C, 1.0, 2.4e9)  # [RK-EM] DERIVED: 0.998 W at 2.4 GHz
_A55_CORE_W = em_core_power_w(_A55_C, 0.95, 1.8e9)  # [RK-EM] DERIVED: 0.370 W at 1.8 GHz

BUILTIN: dict[str, Profile] = {
    "rpi4": Profile(
        name="rpi4",
        kind="device",
        cpu_hz=1.5e9,  # [PI4] SECONDARY
        cores=4,  # [PI4] SECONDARY
        kappa=kappa_for_core_power(0.85, 1.5e9),  # [JX] DERIVED: fitted to the per-core power
        idle_power_w=3.04,  # [JX] SECONDARY
        busy_power_w=6.44,  # [JX] SECONDARY
        per_core_power_w=0.85,  # [JX] DERIVED: (6.44 - 3.04) / 4
        energy_model="power",  # [JX] measured board power
        flops_per_cycle=2.0,  # [MODEL] UNCONFIRMED: sustained NEON flops per cycle in DNN kernels
        **_LTE_RADIO,  # [ARO] UNCONFIRMED for a board: a USB LTE modem taken to behave as a handset's
    ),
    "rpi5": Profile(
        name="rpi5",
        kind="device",
        cpu_hz=2.4e9,  # [PI5] SECONDARY
        cores=4,  # [PI5] SECONDARY
        kappa=kappa_for_core_power(_A76_FAST_CORE_W, 2.4e9),  # [RK-EM] DERIVED
        idle_power_w=3.0,  # [ULABS] SECONDARY
        per_core_power_w=_A76_FAST_CORE_W,  # [RK-EM] DERIVED: core only; BCM2712 is 16 nm, RK3588 8 nm
        energy_model="power",  # [RK-EM] per-core power
        flops_per_cycle=2.0,  # [MODEL] UNCONFIRMED
        **_LTE_RADIO,  # [ARO] UNCONFIRMED for a board (USB LTE modem)
    ),
    "jetson-nano": Profile(
        name="jetson-nano",
        kind="device",
        cpu_hz=1.479e9,  # [NANO] SECONDARY: MaxN CPU maximum
        cores=4,  # [NANO] SECONDARY
        kappa=kappa_for_core_power(0.682, 1.479e9),  # [AIBLOX] DERIVED: fitted to the per-core power
        idle_power_w=1.628,  # [WAGGLE] SECONDARY: POM_5V_IN average, near idle
        per_core_power_w=0.682,  # [AIBLOX] [WAGGLE] DERIVED: (3.134 - 0.406) / 4 on the CPU rail
        energy_model="power",  # [AIBLOX] measured CPU-rail power
        flops_per_cycle=2.0,  # [MODEL] UNCONFIRMED
        **_LTE_RADIO,  # [ARO] UNCONFIRMED for a board (USB LTE modem)
    ),
    "phone-midrange": Profile(
        name="phone-midrange",
        kind="device",
        cpu_hz=2.208e9,  # [RK-EM] SECONDARY: a Cortex-A76 OPP
        cores=2,  # [MODEL] UNCONFIRMED: big cores given to the app
        kappa=kappa_for_core_power(_A76_CORE_W, 2.208e9),  # [RK-EM] DERIVED: kappa f^3 = 0.896 W
        idle_power_w=_PHONE_IDLE_W,  # [ANAND] DERIVED
        energy_model="kappa",  # [RK-EM] kappa fitted to the core power
        flops_per_cycle=2.0,  # [MODEL] UNCONFIRMED
        **_LTE_RADIO,  # [PC3] [ARO] as tagged in _LTE_RADIO
        battery_j=_PHONE_BATTERY_J,  # [MODEL] UNCONFIRMED
    ),
    "phone-little": Profile(
        name="phone-little",
        kind="device",
        cpu_hz=1.8e9,  # [RK-EM] SECONDARY: a Cortex-A55 OPP
        cores=4,  # [MODEL] UNCONFIRMED: a low-end phone's little cores given to the app
        kappa=kappa_for_core_power(_A55_CORE_W, 1.8e9),  # [RK-EM] DERIVED: kappa f^3 = 0.370 W
        idle_power_w=_PHONE_IDLE_W,  # [ANAND] DERIVED
        energy_model="kappa",  # [RK-EM] kappa fitted to the core power
        flops_per_cycle=2.0,  # [MODEL] UNCONFIRMED
        **_LTE_RADIO,  # [PC3] [ARO] as tagged in _LTE_RADIO
        battery_j=_PHONE_BATTERY_J,  # [MODEL] UNCONFIRMED
    ),
    "edge-server": Profile(
        name="edge-server",
        kind="edge",
        cpu_hz=4.0e9,  # [MEC] UNCONFIRMED: within 3.2-10 GHz
        cores=8,  # [MODEL] UNCONFIRMED
        kappa=1e-28,  # [MEC] UNCONFIRMED: 6.4 W per busy core at 4 GHz
        idle_power_w=60.0,  # [SPEC] UNCONFIRMED: no active-idle row read
        energy_model="kappa",  # [MEC] literature kappa
        flops_per_cycle=8.0,  # [MODEL] UNCONFIRMED: AVX2 FMA, sustained
    ),
    "cloud-vm": Profile(
        name="cloud-vm",
        kind="cloud",
        cpu_hz=3.0e9,  # [MODEL] UNCONFIRMED
        cores=32,  # [MODEL] UNCONFIRMED
        kappa=1e-28,  # [MEC] UNCONFIRMED: 2.7 W per busy core at 3 GHz
        idle_power_w=100.0,  # [SPEC] UNCONFIRMED: no active-idle row read
        energy_model="kappa",  # [MEC] literature kappa
        flops_per_cycle=8.0,  # [MODEL] UNCONFIRMED
    ),
}


def get_profile(name: str) -> Profile:
    """A built-in profile by name; KeyError lists the known names."""
    try:
        return BUILTIN[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(sorted(BUILTIN))}") from None
