"""Built-in profiles against their sources: cited values, measured per-core power, overrides, the docs table.

CITED restates every figure from its source's own numbers (tags as in edgesplit/model/profiles.py, statuses as
in /work/shared/REFERENCE_FIGURES.md), independently of the code's arithmetic; docs/profiles.md must list the same.
"""

from __future__ import annotations

import math
import re
from dataclasses import fields
from pathlib import Path

import pytest

from edgesplit.model.profiles import BUILTIN, Profile
from edgesplit.scenario.fleet import DeviceGroup, EdgeServerGroup

DOCS = Path(__file__).resolve().parents[2] / "docs" / "profiles.md"
FIGURES = [f.name for f in fields(Profile) if f.name not in ("name", "kind")]
STATUSES = {"CONFIRMED", "SECONDARY", "DERIVED", "UNCONFIRMED", "n/a"}

# Linux energy model of the RK3588 cores [RK-EM]: P = C (uW/MHz/V^2) x V^2 x f (MHz).
A76_2208 = 416e-6 * 0.9875**2 * 2208
A76_2400 = 416e-6 * 1.0**2 * 2400
A55_1800 = 228e-6 * 0.95**2 * 1800
NANO_CORE_W = (3.134 - 0.406) / 4  # [AIBLOX] POM_5V_CPU busy - [WAGGLE] near idle, 4 cores
PI4_CORE_W = (6.44 - 3.04) / 4  # [JX] RPI_4B_12_64 at 100 % and 0 % CPU

Row = tuple[object, str, str]  # (value, source tag, status)

_LTE_ARO: dict[str, Row] = {
    "radio_base_w": (1.2, "[ARO]", "SECONDARY"),  # LTE_BETA
    "radio_up_w_per_bps": (438.39e-3 / 1e6, "[ARO]", "SECONDARY"),  # LTE_ALPHA_UP, mW/Mbps
    "radio_down_w_per_bps": (51.97e-3 / 1e6, "[ARO]", "SECONDARY"),  # LTE_ALPHA_DOWN, mW/Mbps
    "radio_tail_w": (1.06, "[ARO]", "SECONDARY"),  # P_TAIL
    "radio_tail_s": (0.1 + 0.02 + 10, "[ARO]", "DERIVED"),  # INACTIVITY_TIMER + T_SHORT_DRX + T_LONG_DRX
}
_UE: dict[str, Row] = {
    "tx_power_w": (0.2, "[PC3]", "CONFIRMED"),  # 23 dBm, rounded
    "rx_power_w": (0.1, "[MODEL]", "UNCONFIRMED"),
}
PHONE_RADIO = _UE | _LTE_ARO
# A board's LTE modem (USB) is taken to behave as a 2012 handset's: no measurement of one was read.
BOARD_RADIO = _UE | {k: (v, src, "UNCONFIRMED") for k, (v, src, _) in _LTE_ARO.items()}
WIRED: dict[str, Row] = {k: (0.0, "wired", "n/a") for k in ("tx_power_w", "rx_power_w", *_LTE_ARO)}
UNSET: Row = (None, "-", "n/a")
PHONE_BATTERY: Row = (4.0 * 3600 * 3.85, "[MODEL]", "UNCONFIRMED")  # an assumed 4,000 mAh at 3.85 V

CITED: dict[str, dict[str, Row]] = {
    "rpi4": {
        "cpu_hz": (1.5e9, "[PI4]", "SECONDARY"),
        "cores": (4, "[PI4]", "SECONDARY"),
        "kappa": (PI4_CORE_W / 1.5e9**3, "[JX]", "DERIVED"),
        "idle_power_w": (3.04, "[JX]", "SECONDARY"),
        "busy_power_w": (6.44, "[JX]", "SECONDARY"),
        "per_core_power_w": (PI4_CORE_W, "[JX]", "DERIVED"),
        "energy_model": ("power", "[JX]", "n/a"),
        "flops_per_cycle": (2.0, "[MODEL]", "UNCONFIRMED"),
        "battery_j": UNSET,
        **BOARD_RADIO,
    },
    "rpi5": {
        "cpu_hz": (2.4e9, "[PI5]", "SECONDARY"),
        "cores": (4, "[PI5]", "SECONDARY"),
        "kappa": (A76_2400 / 2.4e9**3, "[RK-EM]", "DERIVED"),
        "idle_power_w": (3.0, "[ULABS]", "SECONDARY"),
        "busy_power_w": UNSET,  # no full-load measurement of the Pi 5 was found
        "per_core_power_w": (A76_2400, "[RK-EM]", "DERIVED"),
        "energy_model": ("power", "[RK-EM]", "n/a"),
        "flops_per_cycle": (2.0, "[MODEL]", "UNCONFIRMED"),
        "battery_j": UNSET,
        **BOARD_RADIO,
    },
    "jetson-nano": {
        "cpu_hz": (1479e6, "[NANO]", "SECONDARY"),
        "cores": (4, "[NANO]", "SECONDARY"),
        "kappa": (NANO_CORE_W / 1.479e9**3, "[AIBLOX]", "DERIVED"),
        "idle_power_w": (1.628, "[WAGGLE]", "SECONDARY"),
        "busy_power_w": UNSET,  # 10 W is the MaxN budget, not a measurement
        "per_core_power_w": (NANO_CORE_W, "[AIBLOX]", "DERIVED"),
        "energy_model": ("power", "[AIBLOX]", "n/a"),
        "flops_per_cycle": (2.0, "[MODEL]", "UNCONFIRMED"),
        "battery_j": UNSET,
        **BOARD_RADIO,
    },
    "phone-midrange": {
        "cpu_hz": (2208e6, "[RK-EM]", "SECONDARY"),
        "cores": (2, "[MODEL]", "UNCONFIRMED"),
        "kappa": (A76_2208 / 2.208e9**3, "[RK-EM]", "DERIVED"),
        "idle_power_w": (1.0 - 0.5, "[ANAND]", "DERIVED"),
        "busy_power_w": UNSET,
        "per_core_power_w": UNSET,
        "energy_model": ("kappa", "[RK-EM]", "n/a"),
        "flops_per_cycle": (2.0, "[MODEL]", "UNCONFIRMED"),
        "battery_j": PHONE_BATTERY,
        **PHONE_RADIO,
    },
    "phone-little": {
        "cpu_hz": (1800e6, "[RK-EM]", "SECONDARY"),
        "cores": (4, "[MODEL]", "UNCONFIRMED"),
        "kappa": (A55_1800 / 1.8e9**3, "[RK-EM]", "DERIVED"),
        "idle_power_w": (1.0 - 0.5, "[ANAND]", "DERIVED"),
        "busy_power_w": UNSET,
        "per_core_power_w": UNSET,
        "energy_model": ("kappa", "[RK-EM]", "n/a"),
        "flops_per_cycle": (2.0, "[MODEL]", "UNCONFIRMED"),
        "battery_j": PHONE_BATTERY,
        **PHONE_RADIO,
    },
    "edge-server": {
        "cpu_hz": (4.0e9, "[MEC]", "UNCONFIRMED"),
        "cores": (8, "[MODEL]", "UNCONFIRMED"),
        "kappa": (1e-28, "[MEC]", "UNCONFIRMED"),
        "idle_power_w": (60.0, "[SPEC]", "UNCONFIRMED"),
        "busy_power_w": UNSET,
        "per_core_power_w": UNSET,
        "energy_model": ("kappa", "[MEC]", "n/a"),
        "flops_per_cycle": (8.0, "[MODEL]", "UNCONFIRMED"),
        "battery_j": UNSET,
        **WIRED,
    },
    "cloud-vm": {
        "cpu_hz": (3.0e9, "[MODEL]", "UNCONFIRMED"),
        "cores": (32, "[MODEL]", "UNCONFIRMED"),
        "kappa": (1e-28, "[MEC]", "UNCONFIRMED"),
        "idle_power_w": (100.0, "[SPEC]", "UNCONFIRMED"),
        "busy_power_w": UNSET,
        "per_core_power_w": UNSET,
        "energy_model": ("kappa", "[MEC]", "n/a"),
        "flops_per_cycle": (8.0, "[MODEL]", "UNCONFIRMED"),
        "battery_j": UNSET,
        **WIRED,
    },
}

# Dynamic power of one busy core as measured (derived) for its class of core [RK-EM], lowest to highest OPP
# listed in REFERENCE_FIGURES section 1: A76 0.23 W at 1.2 GHz to 1.00 W at 2.4 GHz, A55 0.105 W at 1.008 GHz
# to 0.37 W at 1.8 GHz.
CORE_CLASS_W = {"Cortex-A76": (0.23, 1.00), "Cortex-A55": (0.105, 0.37)}
PHONE_CORES = {"phone-midrange": "Cortex-A76", "phone-little": "Cortex-A55"}

ROWS = [(p, f, *CITED[p][f]) for p in CITED for f in CITED[p]]


def same(actual: object, expected: object, rel: float) -> bool:
    if expected is None or isinstance(expected, str):
        return actual == expected
    return isinstance(actual, int | float) and math.isclose(actual, expected, rel_tol=rel)  # type: ignore[arg-type]


def test_every_figure_of_every_profile_is_cited() -> None:
    assert set(CITED) == set(BUILTIN)
    for name, cited in CITED.items():
        assert sorted(cited) == sorted(FIGURES), name


@pytest.mark.parametrize(("profile", "figure", "value", "source", "status"), ROWS)
def test_figure_equals_its_cited_value(profile: str, figure: str, value: object, source: str, status: str) -> None:
    assert status in STATUSES
    assert same(getattr(BUILTIN[profile], figure), value, rel=1e-9), f"{profile}.{figure} vs {source}"
    if status == "n/a":  # only unset figures, wired radios and the choice of model go without a status
        assert value in (None, 0.0) or figure == "energy_model"


@pytest.mark.parametrize("name", sorted(p for p in BUILTIN if p.startswith("phone-")))
def test_phone_core_power_within_the_range_measured_for_its_class(name: str) -> None:
    lo, hi = CORE_CLASS_W[PHONE_CORES[name]]
    assert lo * 0.99 <= BUILTIN[name].core_power_w <= hi * 1.01


def test_core_powers_are_of_the_right_order() -> None:
    # Device cores draw about a watt or less (the old kappa 1e-27 at 2 GHz gave 8 W); a server core at 3-4 GHz
    # draws several watts (UNCONFIRMED band: no SPECpower result was read).
    for p in BUILTIN.values():
        if p.kind == "device":
            assert 0.1 <= p.core_power_w <= 1.5, p.name
        else:
            assert 2.0 <= p.core_power_w <= 15.0, p.name


@pytest.mark.parametrize("name", sorted(p for p, prof in BUILTIN.items() if prof.energy_model == "power"))
def test_cores_override_keeps_per_core_power(name: str) -> None:
    p = BUILTIN[name]
    one = DeviceGroup.model_validate({"name": "d", "profile": name, "cores": 1}).resolve()
    assert one.cores == 1
    assert one.core_power_w == p.core_power_w == p.per_core_power_w
    assert one.compute_energy_j(1e9) == p.compute_energy_j(1e9)
    # kappa is fitted to the same core power, so switching the model keeps the figure too.
    assert p.with_overrides(energy_model="kappa").core_power_w == pytest.approx(p.core_power_w, rel=1e-12)


def test_tx_power_is_the_power_class_3_maximum() -> None:
    for p in BUILTIN.values():
        if p.kind == "device":
            assert 10 * math.log10(p.tx_power_w / 1e-3) == pytest.approx(23.0, abs=0.05), p.name


def test_scenario_overrides_the_new_figures() -> None:
    d = DeviceGroup.model_validate(
        {
            "name": "d",
            "profile": "phone-little",
            "per_core_power_w": "300 mW",
            "energy_model": "power",
            "radio_base_w": "1.3 W",
            "radio_up_w_per_bps": 5e-7,
            "radio_down_w_per_bps": 6e-8,
            "radio_tail_w": "900 mW",
            "radio_tail_s": "5 s",
        }
    ).resolve()
    assert (d.per_core_power_w, d.core_power_w, d.radio_base_w, d.radio_tail_w, d.radio_tail_s) == (
        pytest.approx(0.3),
        pytest.approx(0.3),
        1.3,
        pytest.approx(0.9),
        5.0,
    )
    assert (d.radio_up_w_per_bps, d.radio_down_w_per_bps) == (5e-7, 6e-8)
    edge = EdgeServerGroup.model_validate({"name": "e", "per_core_power_w": 5, "energy_model": "power"}).resolve()
    assert edge.core_power_w == 5.0
    with pytest.raises(ValueError):
        DeviceGroup.model_validate({"name": "d", "radio_tail_s": -1})


def docs_rows() -> dict[tuple[str, str], tuple[str, str, str]]:
    """(profile, figure) -> (value, source, status) from the table in docs/profiles.md."""
    rows: dict[tuple[str, str], tuple[str, str, str]] = {}
    in_table = False
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells == ["profile", "figure", "value", "source", "status"]:
            in_table = True
            continue
        if not in_table or not line.startswith("|") or re.fullmatch(r"[-:| ]+", line):
            in_table = in_table and line.startswith("|")
            continue
        profile, figure, value, source, status = cells
        key = (profile.strip("`"), figure.strip("`"))
        assert key not in rows, f"{key} listed twice"
        rows[key] = (value.strip("`"), source, status)
    return rows


def test_docs_table_lists_every_figure_of_every_profile() -> None:
    rows = docs_rows()
    assert set(rows) == {(p, f) for p in BUILTIN for f in FIGURES}
    for (profile, figure), (text, source, status) in rows.items():
        actual = getattr(BUILTIN[profile], figure)
        if actual is None:
            assert text == "-", (profile, figure)
        elif isinstance(actual, str):
            assert text == actual, (profile, figure)
        else:
            assert same(actual, float(text), rel=1e-5), (profile, figure, text)
        _, tag, cited_status = CITED[profile][figure]
        assert status == cited_status, (profile, figure)
        assert tag in source, (profile, figure, source)
