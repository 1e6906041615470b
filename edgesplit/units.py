"""Physical quantities in scenario files: plain numbers in SI units, or strings such as "10 MHz" or "100kB"."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import BeforeValidator

_DECIMAL = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_SUB = {"m": 1e-3, "u": 1e-6, "µ": 1e-6, "μ": 1e-6, "n": 1e-9}  # micro sign and Greek mu both mean micro
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}
_ALIASES = {"K", "µ", "μ"}  # other spellings of k and u, left out of hints
_SCALE = {"": 1.0, **_DECIMAL, **_SUB, **_BINARY}
_PREFIX_NAME = {"k": "kilo", "K": "kilo", "M": "mega", "G": "giga", "T": "tera", "m": "milli", "n": "nano"}
_PREFIX_NAME |= {"u": "micro", "µ": "micro", "μ": "micro", "Ki": "kibi", "Mi": "mebi", "Gi": "gibi", "Ti": "tebi"}

# Which prefixes a symbol takes. Counts of bits, bytes, cycles and hertz take no sub-unit prefix: "10 mbps"
# (milli-bit/s) or "20 mHz" is a mistyped M, never meant. Seconds take only sub-unit prefixes ("10 Ms" is a
# mistyped ms), minutes and hours none; a node draws milliwatts to kilowatts, so "200 MW" is a mistyped mW, and
# distances run from millimetres to kilometres ("5 Mm" is a mistyped mm or km).
_COUNTING = ("", *_DECIMAL)
_STORAGE = (*_COUNTING, *_BINARY)
_POWER = ("", "k", "K", *_SUB)
_ANY = ("", *_DECIMAL, *_SUB)
# unit symbol -> (dimension, factor to the SI base of that dimension, the prefixes it takes)
_UNITS: dict[str, tuple[str, float, tuple[str, ...]]] = {
    "Hz": ("frequency", 1.0, _COUNTING),
    "bps": ("rate", 1.0, _STORAGE),
    "bit/s": ("rate", 1.0, _STORAGE),
    "b/s": ("rate", 1.0, _STORAGE),
    "B/s": ("rate", 8.0, _STORAGE),
    "Bps": ("rate", 8.0, _STORAGE),
    "B": ("size", 1.0, _STORAGE),
    "bit": ("size", 1 / 8, _STORAGE),
    "s": ("time", 1.0, ("", *_SUB)),
    "min": ("time", 60.0, ("",)),
    "h": ("time", 3600.0, ("",)),
    "W": ("power", 1.0, _POWER),
    "J": ("energy", 1.0, _ANY),
    "Wh": ("energy", 3600.0, _ANY),
    "m": ("distance", 1.0, ("", "k", "K", *_SUB)),
    "flop": ("work", 1.0, _COUNTING),
    "FLOP": ("work", 1.0, _COUNTING),
    "cycles": ("work", 1.0, _COUNTING),
}
MAX_MAGNITUDE = 1e30
"""The largest quantity read, in SI units: no real figure comes near (1e15 bit/s already stands for "unlimited"),
and beyond it the model's products (f^3 for core power, f^2 x cycles for energy) overflow floats."""
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*$")


def parse_quantity(value: object, dimension: str) -> float:
    """Turn `value` into a float in SI units of `dimension`; numbers pass through unchanged.

    Rates are in bits per second, sizes in bytes ("10 MB/s" is 80e6 bit/s; "1 kbit" is 125 bytes). Infinity,
    NaN and magnitudes above MAX_MAGNITUDE are refused: a scenario spells "never" or "for good" by leaving the
    field out, not with `.inf`.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a {dimension}, got a boolean")
    if isinstance(value, int | float):
        return _checked(_to_float(value), value)
    if not isinstance(value, str):
        raise ValueError(f"expected a number or a {dimension} string, got {type(value).__name__}")
    m = _NUMBER.match(value)
    if not m:
        raise ValueError(f"cannot read {value!r} as a {dimension} (examples: {_EXAMPLES[dimension]})")
    number, unit = float(m.group(1)), m.group(2)
    if unit == "":
        return _checked(number, value)
    scale, factor = _unit_factors(unit, value, dimension, m.group(1))
    return _checked(number * scale * factor, value)


def _to_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond float range, e.g. 1 followed by 400 zeros
        return math.inf


def _checked(x: float, value: object) -> float:
    """`x`, when it is a finite number of at most MAX_MAGNITUDE; `value` is what the user wrote."""
    if not math.isfinite(x):
        raise ValueError(f"must be a finite number, got {value!r}")
    if abs(x) > MAX_MAGNITUDE:
        raise ValueError(f"must be at most {MAX_MAGNITUDE:g} in SI units, got {value!r}")
    return x


def _unit_factors(unit: str, value: str, dimension: str, number: str) -> tuple[float, float]:
    """(prefix scale, symbol factor) of `unit` in `dimension`; a ValueError that says what went wrong and what
    was meant when `unit` is not one."""
    readings = [(p, unit[len(p) :]) for p in _SCALE if unit.startswith(p) and unit[len(p) :] in _UNITS]
    ours = [(p, sym) for p, sym in readings if _UNITS[sym][0] == dimension]
    for prefix, sym in ours:
        if prefix in _UNITS[sym][2]:
            return _SCALE[prefix], _UNITS[sym][1]
    hint = _did_you_mean(unit, dimension, number)
    if ours:
        prefix, sym = ours[0]
        raise ValueError(
            f"{value!r} reads as {_PREFIX_NAME[prefix]}-{sym} ({prefix!r} = {_SCALE[prefix]:g}), which a {dimension}"
            f" never means{hint or f'; {sym!r} takes no {prefix!r} prefix (examples: {_EXAMPLES[dimension]})'}"
        )
    raise ValueError(f"unit {unit!r} in {value!r} is not a {dimension}{hint or f' (examples: {_EXAMPLES[dimension]})'}")


def _did_you_mean(unit: str, dimension: str, number: str) -> str:
    """ "; did you mean '10 Mbps'?" when valid spellings of this dimension differ from `unit` only in case, or
    (for "Mb") by a missing "it"; "" when none do."""
    meant = [
        f"'{number} {p}{sym}'"
        for sym, (dim, _factor, prefixes) in _UNITS.items()
        if dim == dimension
        for p in prefixes
        if p not in _ALIASES and p + sym != unit and (p + sym).lower() in (unit.lower(), unit.lower() + "it")
    ]
    return f"; did you mean {' or '.join(meant)}?" if meant else ""


_EXAMPLES = {
    "frequency": "'2.4 GHz', '10MHz'",
    "rate": "'10 Mbps', '10 MB/s'",
    "size": "'100 kB', '1 MiB'",
    "time": "'10 ms', '2 s', '5 min'",
    "power": "'0.2 W', '200 mW'",
    "energy": "'5 J', '15 Wh'",
    "distance": "'150 m', '0.2 km'",
    "work": "'1e9 cycles', '2 Gflop'",
}


def _quantity(dimension: str) -> BeforeValidator:
    return BeforeValidator(lambda v: parse_quantity(v, dimension) if v is not None else v)


Frequency = Annotated[float, _quantity("frequency")]
Rate = Annotated[float, _quantity("rate")]
Size = Annotated[float, _quantity("size")]
Duration = Annotated[float, _quantity("time")]
Power = Annotated[float, _quantity("power")]
Energy = Annotated[float, _quantity("energy")]
Distance = Annotated[float, _quantity("distance")]
Work = Annotated[float, _quantity("work")]
