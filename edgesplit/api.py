"""The Python API: load a scenario (a file or a mapping, with overrides), run it, read and write its results.

    import edgesplit
    sc = edgesplit.load_scenario("scenarios/smoke.yaml", overrides={"policy.kind": "heft", "seed": 3})
    result = edgesplit.run(sc)
    result.summary["latency_s"]["p95"]; result.tasks.to_pandas(); result.write("runs/mine")

The command line (`edgesplit scenario run`) is a thin layer over these; docs/api.md has the details.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from edgesplit.engines.observer import RunObserver
from edgesplit.errors import UserError
from edgesplit.results import RunResult, write_records
from edgesplit.scenario import Scenario, scenario_from_dict
from edgesplit.scenario import load_scenario as _load_file
from edgesplit.scenario.load import Overrides

if TYPE_CHECKING:
    import pyarrow as pa


def load_scenario(source: str | Path | Mapping[str, Any] | Scenario, overrides: Overrides = None) -> Scenario:
    """A validated scenario from a YAML file, a mapping of the same shape, or a scenario with changes.

    `overrides`: {dotted.path: value} (Python values, e.g. {"fleet.devices.0.count": 50}) or the CLI's
    ["dotted.path=value", ...] strings (values read as YAML). Relative paths inside a file's scenario are
    relative to the file; inside a mapping, to the working directory. Raises `edgesplit.errors.UserError` with
    a message naming the field (and for files, the line) of every problem."""
    if isinstance(source, Scenario):
        source = source.model_dump(mode="json", by_alias=True)
    if isinstance(source, Mapping):
        return scenario_from_dict(dict(source), overrides)
    return _load_file(source, overrides)


@dataclass
class Result:
    """A finished run: the scenario as run, its summary (summary.json's dict) and per-task records."""

    scenario: Scenario
    run: RunResult

    @property
    def summary(self) -> dict[str, Any]:
        return self.run.summary

    @property
    def columns(self) -> dict[str, list[Any]]:
        """The per-task records as columns (name -> list, one entry per task, by task uid)."""
        return self.run.columns

    @property
    def tasks(self) -> pa.Table:
        """The per-task records as a pyarrow Table (`.to_pandas()` for a DataFrame)."""
        import pyarrow as pa

        return pa.table(self.run.columns)

    def records(self) -> list[dict[str, Any]]:
        """The per-task records as dictionaries."""
        return self.run.records()

    def write(self, out_dir: str | Path, records: str | None = None, plots: bool | None = None) -> list[Path]:
        """Write tasks.csv or tasks.parquet (`records`, default: the scenario's `outputs.records`),
        summary.json, scenario.yaml and, when `plots` (default: `outputs.plots`), the latency and energy plots
        into `out_dir` (created); returns the paths written."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        fmt = records or self.scenario.outputs.records
        if fmt not in ("csv", "parquet"):
            raise UserError(f"records must be 'csv' or 'parquet', got {fmt!r}")
        written = [write_records(self.run.columns, out, fmt)]
        summary = out / "summary.json"
        summary.write_text(json.dumps(self.run.summary, indent=2, sort_keys=False) + "\n")
        scenario = out / "scenario.yaml"
        scenario.write_text(yaml.safe_dump(self.scenario.model_dump(mode="json", by_alias=True), sort_keys=False))
        written += [summary, scenario]
        if self.scenario.outputs.plots if plots is None else plots:
            from edgesplit.report import plot_run

            written += plot_run(out, self.run.columns["latency_s"], self.run.summary)
        return written


def run_scenario(sc: Scenario, observers: Sequence[RunObserver] = ()) -> RunResult:
    """Run a validated scenario to the end: world, workload, policy, engine; the result's summary has passed
    the task-accounting check."""
    from edgesplit.engines.factory import prepare
    from edgesplit.gcpause import gc_paused

    with gc_paused():
        return prepare(sc, observers).run()


def run(
    scenario: str | Path | Mapping[str, Any] | Scenario,
    overrides: Overrides = None,
    observers: Sequence[RunObserver] = (),
) -> Result:
    """Run a scenario (anything `load_scenario` takes) to the end on the engine it names; `observers` see it
    as it goes (`edgesplit.engines.observer.RunObserver`: progress, metrics). The result has passed the
    task-accounting check (every task completed, failed or dropped with a reason)."""
    sc = scenario if isinstance(scenario, Scenario) and overrides is None else load_scenario(scenario, overrides)
    return Result(sc, run_scenario(sc, observers))
