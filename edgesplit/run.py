"""Runs a validated scenario end to end: world, workload, policy, engine, accounted result."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from edgesplit.engines.sim import RunObserver, SimEngine
from edgesplit.errors import UserError
from edgesplit.model.profiles import Profile
from edgesplit.policies import make_policy
from edgesplit.results import RunResult
from edgesplit.scenario import Scenario
from edgesplit.workload.build import BuiltWorkload, build_workload


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: building and running a big workload allocates millions of small
    objects and no cycles, and the collector's full passes would otherwise dominate the run time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def device_profiles(sc: Scenario) -> list[Profile]:
    """The profile of every device in fleet order (what the workload builder needs to map jobs)."""
    return [g.resolve() for g in sc.fleet.devices for _ in range(g.count)]


def prepare(sc: Scenario, observers: Sequence[RunObserver] = (), external_policy: bool = False) -> SimEngine:
    """Build the engine for `sc` without running it. With `external_policy` the engine has no policy: the caller
    places every released task with `engine.advance()` / `engine.decide(target)` (how RL environments drive it)."""
    if sc.faults and external_policy:
        raise UserError("faults need a policy to re-dispatch lost tasks; an externally driven engine has none")
    with gc_paused():
        workload: BuiltWorkload = build_workload(sc, device_profiles(sc))
    p = sc.policy
    policy = None if external_policy else make_policy(p.kind, sc.seed, p.latency_weight, p.energy_weight, p.checkpoint)
    engine = SimEngine(sc, workload, policy, observers)
    if sc.engine.kind == "ray":
        if external_policy:
            raise UserError("an externally driven engine (RL environments) runs on engine.kind sim")
        from edgesplit.engines.ray.engine import RayEngine

        return RayEngine(sc, engine)  # type: ignore[return-value]
    return engine


def run_scenario(sc: Scenario, observers: Sequence[RunObserver] = ()) -> RunResult:
    """Run `sc` to the end; the result's summary has passed the task-accounting check."""
    with gc_paused():
        return prepare(sc, observers).run()
