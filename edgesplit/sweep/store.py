"""Each sweep run's files under OUT/runs/<run-id>/: scenario.yaml, summary.json, records, and run.json last.

run.json (status, error, wall time, a digest of the scenario as run) is written last and atomically, so a run
counts as done only when all its files are there; a rerun skips runs that are done with the same scenario and
runs again those that failed, were cut short or whose scenario changed since.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import yaml

from edgesplit.results import write_records
from edgesplit.scenario import Scenario
from edgesplit.sweep.spec import PlannedRun

RUN_FILE = "run.json"
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's dumper, when built in, is ~10x faster


def scenario_digest(sc: Scenario) -> str:
    """A digest of the whole scenario as run (overrides and seed applied)."""
    return hashlib.sha256(json.dumps(sc.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


def run_dir(out: Path, run_id: str) -> Path:
    return out / "runs" / run_id


def read_meta(directory: Path) -> dict[str, Any] | None:
    """A run's run.json, or None when it is missing or unreadable (a run cut short while writing it)."""
    try:
        meta = json.loads((directory / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def is_done(out: Path, run: PlannedRun, records: str) -> bool:
    """Whether `run` finished before with the same scenario and all its outputs are there."""
    d = run_dir(out, run.id)
    meta = read_meta(d)
    if meta is None or meta.get("status") != "ok" or meta.get("scenario_sha") != scenario_digest(run.scenario):
        return False
    wanted = ["summary.json", "scenario.yaml"] + ([] if records == "none" else [f"tasks.{records}"])
    return all((d / name).is_file() for name in wanted)


def begin(out: Path, run: PlannedRun) -> None:
    """Forget a previous attempt's marker before running again, so that a kill mid-run leaves it not done."""
    (run_dir(out, run.id) / RUN_FILE).unlink(missing_ok=True)


def write_outcome(out: Path, run: PlannedRun, outcome: dict[str, Any], records: str) -> dict[str, Any]:
    """Write a finished run's files (run.json last, atomically); returns its run.json content."""
    d = run_dir(out, run.id)
    d.mkdir(parents=True, exist_ok=True)
    (d / "scenario.yaml").write_text(yaml.dump(run.scenario.model_dump(mode="json"), Dumper=_Dumper, sort_keys=False))
    summary = outcome.get("summary")
    if outcome["status"] == "ok" and summary is not None:
        (d / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if records != "none" and outcome.get("columns") is not None:
            write_records(outcome["columns"], d, records)
    else:
        (d / "summary.json").unlink(missing_ok=True)  # a failed rerun leaves no stale summary behind
    meta = {
        "id": run.id,
        "point": run.point,
        "seed": run.seed,
        "status": outcome["status"],
        "error": outcome.get("error", ""),
        "traceback": outcome.get("traceback", ""),
        "run_wall_s": outcome.get("run_wall_s"),
        "scenario_sha": scenario_digest(run.scenario),
    }
    tmp = d / f".{RUN_FILE}.tmp"
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, d / RUN_FILE)
    return meta


def read_run(out: Path, run: PlannedRun) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(run.json, summary.json) of a run, each None when absent."""
    d = run_dir(out, run.id)
    meta = read_meta(d)
    summary = None
    if meta is not None and meta.get("status") == "ok":
        try:
            summary = json.loads((d / "summary.json").read_text())
        except (OSError, ValueError):
            summary = None
    return meta, summary
