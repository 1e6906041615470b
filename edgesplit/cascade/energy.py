"""Per-inference energy of the cascade's parts: FLOPs x J/FLOP, and measured time x a profile's power."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from edgesplit.errors import UserError
from edgesplit.model.profiles import Profile, get_profile


def device_profile(name: str) -> Profile:
    """A built-in profile by name, as a UserError when unknown."""
    try:
        return get_profile(name)
    except KeyError as err:
        raise UserError(str(err.args[0]), where="--device") from None


def flop_energy_j(flops: float, profile: Profile) -> float:
    """Dynamic energy of `flops` on the profile (FLOPs x joules per FLOP)."""
    return flops * profile.joules_per_flop


def time_energy_j(seconds: float, profile: Profile) -> float:
    """Dynamic energy of one busy core for `seconds` (measured time x the profile's per-core power)."""
    return seconds * profile.core_power_w


def upload_energy_j(nbytes: int, profile: Profile, uplink_bps: float) -> float:
    """Radio energy of sending `nbytes` at `uplink_bps` with the profile's transmit power."""
    return profile.tx_power_w * nbytes * 8 / uplink_bps


def measure_seconds(
    fns: dict[str, Callable[[], object]], repeats: int = 50, rounds: int = 10, warmup: int = 20
) -> dict[str, float]:
    """Wall time of one call of each function: the median over `rounds` of per-round medians.

    The functions take turns within every round, so that a host whose speed drifts (other processes,
    shared cores) slows them alike and their ratios stay fair.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    per_round: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - t0)
            per_round[name].append(statistics.median(samples))
    return {name: statistics.median(m) for name, m in per_round.items()}


@dataclass(frozen=True)
class UnitCost:
    """The cost of one call of a component (a model at batch 1, or a cache lookup)."""

    flops: float
    seconds: float

    def energy(self, profile: Profile) -> tuple[float, float]:
        """(FLOP-based J, time-based J) for one call."""
        return flop_energy_j(self.flops, profile), time_energy_j(self.seconds, profile)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)
