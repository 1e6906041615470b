"""Engine construction: scenario -> workload, policy and the engine that the scenario asks for."""

from __future__ import annotations

from collections.abc import Sequence

from edgesplit.engines.observer import RunObserver
from edgesplit.engines.sim import SimEngine
from edgesplit.errors import UserError
from edgesplit.gcpause import gc_paused
from edgesplit.model.profiles import Profile
from edgesplit.policies import policy_from_spec
from edgesplit.scenario import Scenario
from edgesplit.workload.build import BuiltWorkload, build_workload


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
    policy = None if external_policy else policy_from_spec(sc.policy, sc.seed)
    engine = SimEngine(sc, workload, policy, observers)
    if sc.engine.kind == "ray":
        if external_policy:
            raise UserError("an externally driven engine (RL environments) runs on engine.kind sim")
        from edgesplit.engines.ray.engine import RayEngine  # ray loads only when a scenario asks for it

        return RayEngine(sc, engine)  # type: ignore[return-value]
    return engine
