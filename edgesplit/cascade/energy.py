"""Per-inference energy of the cascade's parts: FLOPs x J/FLOP, and measured time x a profile's power."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from edgesplit.errors import UserError
from edgesplit.model.energy import flop_energy_j, power_energy_j
from edgesplit.model.profiles import Profile, get_profile


def device_profile(name: str) -> Profile:
    """A built-in profile by name, as a UserError when unknown."""
    try:
        return get_profile(name)
    except KeyError as err:
        raise UserError(str(err.args[0]), where="--device") from None


@dataclass(frozen=True)
class UnitCost:
    """The cost of one call of a component (a model at batch 1, or a cache lookup)."""

    flops: float
    seconds: float

    def energy(self, profile: Profile) -> tuple[float, float]:
        """(FLOP-based J, time-based J) for one call: FLOPs x J/FLOP, and one busy core's power x the time."""
        flop_j = flop_energy_j(self.flops, profile.joules_per_flop)
        return flop_j, power_energy_j(profile.core_power_w, self.seconds)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)
