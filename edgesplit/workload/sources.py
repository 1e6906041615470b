"""Registry of workload sources: what builds the jobs of each scenario `workload.source` kind.

The workload builder knows sources only by kind. The built-in `trace` and `synthetic` sources register when
`edgesplit.workload.build` is imported; any other package (edgesplit's split and cascade packages, or a third
party) declares its source as an entry point of the `edgesplit.workload_sources` group, loaded on the first
lookup of a kind not registered yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

from edgesplit.errors import UserError

if TYPE_CHECKING:
    from edgesplit.model.profiles import Profile
    from edgesplit.scenario import Scenario
    from edgesplit.workload.dag import Job

ENTRY_POINT_GROUP = "edgesplit.workload_sources"


@dataclass
class SourceJobs:
    """A source's jobs before the builder renumbers them, maps them to devices and sets deadlines."""

    jobs: list[Job]
    source: str  # one line for the summary, e.g. "alibaba-v2018 trace file X"
    real_trace: bool = False
    repair: dict[str, int] = field(default_factory=dict)
    remap: bool = False  # True: the builder maps jobs to devices by `workload.mapping` (else job.device stands)


class WorkloadSource(Protocol):
    """Builds the jobs of a scenario on `devices` (their profiles, index = device)."""

    def __call__(self, sc: Scenario, devices: list[Profile]) -> SourceJobs: ...


_SOURCES: dict[str, WorkloadSource] = {}


def register_source(kind: str, fn: WorkloadSource) -> None:
    """Make `fn` the source of `workload.source: <kind>` (a later registration replaces an earlier one)."""
    _SOURCES[kind] = fn


def available_sources() -> list[str]:
    """Kinds registered so far or declared as entry points, sorted."""
    return sorted(set(_SOURCES) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def get_source(kind: str) -> WorkloadSource:
    """The source registered for `kind`, loading its entry point on first use; a UserError if there is none."""
    if kind not in _SOURCES:
        for ep in entry_points(group=ENTRY_POINT_GROUP, name=kind):
            register_source(kind, ep.load())
            break
    try:
        return _SOURCES[kind]
    except KeyError:
        raise UserError(
            f"no workload source {kind!r}; available: {', '.join(available_sources()) or 'none'}",
            where="workload.source",
        ) from None
