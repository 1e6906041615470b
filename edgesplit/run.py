"""Runs a validated scenario end to end: world, workload, policy, engine, accounted result."""

from __future__ import annotations

from collections.abc import Sequence

from edgesplit.engines.factory import prepare
from edgesplit.engines.observer import RunObserver
from edgesplit.gcpause import gc_paused
from edgesplit.results import RunResult
from edgesplit.scenario import Scenario


def run_scenario(sc: Scenario, observers: Sequence[RunObserver] = ()) -> RunResult:
    """Run `sc` to the end; the result's summary has passed the task-accounting check."""
    with gc_paused():
        return prepare(sc, observers).run()
