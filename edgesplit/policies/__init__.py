"""Placement policies: where each ready task runs. `make_policy` builds one from a scenario's policy section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgesplit.errors import UserError
from edgesplit.policies.base import LOCAL, Policy, SystemView
from edgesplit.policies.heft import HeftPolicy
from edgesplit.policies.heuristics import (
    EdgePolicy,
    GreedyEnergyPolicy,
    GreedyLatencyPolicy,
    LocalPolicy,
    RandomPolicy,
    WeightedPolicy,
)

__all__ = ["LOCAL", "Policy", "SystemView", "make_policy", "policy_from_spec", "HEURISTICS"]

HEURISTICS = ("local", "edge", "random", "greedy-latency", "greedy-energy", "weighted", "heft")


def make_policy(
    kind: str,
    seed: int = 0,
    latency_weight: float = 1.0,
    energy_weight: float = 1.0,
    checkpoint: str | Path | None = None,
) -> Policy:
    """A fresh policy of `kind` (one of HEURISTICS, or "learned" with a training output's `checkpoint`)."""
    if kind == "learned":
        if checkpoint is None:
            raise UserError("policy kind 'learned' needs policy.checkpoint")
        from edgesplit.policies.learned import LearnedPolicy

        return LearnedPolicy(checkpoint)
    if kind == "local":
        return LocalPolicy()
    if kind == "edge":
        return EdgePolicy()
    if kind == "random":
        return RandomPolicy(seed)
    if kind == "greedy-latency":
        return GreedyLatencyPolicy()
    if kind == "greedy-energy":
        return GreedyEnergyPolicy()
    if kind == "weighted":
        return WeightedPolicy(latency_weight, energy_weight)
    if kind == "heft":
        return HeftPolicy()
    raise UserError(f"policy {kind!r} is not available; choose one of {', '.join(HEURISTICS)}")


def policy_from_spec(spec: Any, seed: int = 0) -> Policy:
    """A fresh policy from a scenario's `policy:` section (`scenario.PolicySpec`): a built-in kind, a custom
    class or a registered one (`policies/custom.py`)."""
    ref = spec.ref
    if ref is not None:
        from edgesplit.policies.custom import build

        return build(ref, dict(spec.params))
    return make_policy(spec.kind, seed, spec.latency_weight, spec.energy_weight, spec.checkpoint)
