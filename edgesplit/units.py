"""Physical quantities in scenario files: plain numbers in SI units, or strings such as "10 MHz" or "100kB"."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator

_PREFIX = {
    "": 1.0,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "m": 1e-3,
    "u": 1e-6,
    "µ": 1e-6,
    "n": 1e-9,
}
_BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}
# unit symbol -> (dimension, factor to the SI base of that dimension)
_UNITS: dict[str, tuple[str, float]] = {
    "Hz": ("frequency", 1.0),
    "bps": ("rate", 1.0),
    "bit/s": ("rate", 1.0),
    "b/s": ("rate", 1.0),
    "B/s": ("rate", 8.0),
    "Bps": ("rate", 8.0),
    "B": ("size", 1.0),
    "bit": ("size", 1 / 8),
    "s": ("time", 1.0),
    "min": ("time", 60.0),
    "h": ("time", 3600.0),
    "W": ("power", 1.0),
    "J": ("energy", 1.0),
    "Wh": ("energy", 3600.0),
    "m": ("distance", 1.0),
    "flop": ("work", 1.0),
    "FLOP": ("work", 1.0),
    "cycles": ("work", 1.0),
}
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*$")


def parse_quantity(value: object, dimension: str) -> float:
    """Turn `value` into a float in SI units of `dimension`; numbers pass through unchanged.

    Rates are in bits per second, sizes in bytes ("10 MB/s" is 80e6 bit/s; "1 kbit" is 125 bytes).
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a {dimension}, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a number or a {dimension} string, got {type(value).__name__}")
    m = _NUMBER.match(value)
    if not m:
        raise ValueError(f"cannot read {value!r} as a {dimension} (examples: {_EXAMPLES[dimension]})")
    number, unit = float(m.group(1)), m.group(2)
    if unit == "":
        return number
    for prefix_table in (_BINARY, _PREFIX):
        for prefix, scale in prefix_table.items():
            if unit.startswith(prefix) and unit[len(prefix) :] in _UNITS:
                dim, factor = _UNITS[unit[len(prefix) :]]
                if dim == dimension:
                    return number * scale * factor
    if unit in _UNITS and _UNITS[unit][0] == dimension:
        return number * _UNITS[unit][1]
    raise ValueError(f"unit {unit!r} in {value!r} is not a {dimension} (examples: {_EXAMPLES[dimension]})")


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
