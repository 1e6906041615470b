"""Energy that says what it is: active and idle apart, per task and per job, in the summary, tables and plot."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import run_main

from edgesplit.report import HEADLINE, headline_rows, plot_energy_breakdown
from edgesplit.results import RunResult
from edgesplit.run import run_scenario
from edgesplit.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "scenarios" / "smoke.yaml"
# A lossy cell: some uploads fail (their radio energy is spent, the task is not completed) and their jobs with them.
LOSSY = ("network.cells.0.loss=0.3", "network.cells.0.max_retries=1")


@pytest.fixture(scope="module")
def lossy() -> RunResult:
    return run_scenario(load_scenario(SMOKE, list(LOSSY)))


def test_active_and_idle_are_the_meters_apart(lossy: RunResult) -> None:
    energy, rows = lossy.summary["energy_j"], lossy.records()
    parts = energy["device_by_component"]
    assert energy["device_active"] == parts["compute"] + parts["radio"]
    assert energy["device_idle"] == parts["idle"]
    assert energy["device_total"] == pytest.approx(energy["device_active"] + energy["device_idle"], rel=1e-15)
    # Compute and radio are all charged to tasks (completed or not), so the records add up to the active meters.
    assert sum(r["device_compute_j"] + r["device_radio_j"] for r in rows) == pytest.approx(
        energy["device_active"], rel=1e-9
    )
    for d in energy["per_device"]:
        assert d["active"] == d["compute"] + d["radio"]
        assert d["total"] == pytest.approx(d["active"] + d["idle"], rel=1e-15)
    for cls, by in energy["device_by_class"].items():
        mine = [d for d in energy["per_device"] if d["class"] == cls]
        assert by["active"] == pytest.approx(sum(d["active"] for d in mine), rel=1e-12)
    assert sum(by["active"] for by in energy["device_by_class"].values()) == pytest.approx(energy["device_active"])


def test_per_task_figures_are_means_over_completed_records(lossy: RunResult) -> None:
    s, rows = lossy.summary, lossy.records()
    done = [r for r in rows if r["outcome"] == "completed"]
    assert 0 < len(done) < len(rows)  # the failed and dropped tasks must be left out
    assert any(r["device_radio_j"] > 0 for r in rows if r["outcome"] == "failed")
    per_task = s["energy_j"]["per_task"]
    assert per_task["count"] == len(done) == s["tasks"]["completed"]
    active = sum(r["device_compute_j"] + r["device_radio_j"] for r in done) / len(done)
    total = sum(r["device_compute_j"] + r["device_radio_j"] + r["device_idle_j"] for r in done) / len(done)
    server = sum(r["server_energy_j"] for r in done) / len(done)
    assert per_task["device_active_mean_j"] == pytest.approx(active, rel=1e-12)
    assert per_task["device_total_mean_j"] == pytest.approx(total, rel=1e-12)
    assert per_task["server_mean_j"] == pytest.approx(server, rel=1e-12)
    # Idle power while no task was in flight is charged to no task: per task x tasks stays below the meters.
    assert per_task["device_total_mean_j"] * len(done) <= s["energy_j"]["device_total"]


def test_per_job_figures_are_means_over_completed_jobs_of_their_tasks_sums(lossy: RunResult) -> None:
    s, rows = lossy.summary, lossy.records()
    jobs: dict[str, list[dict]] = {}
    for r in rows:
        jobs.setdefault(r["job"], []).append(r)
    assert len(jobs) == s["jobs"]["submitted"]  # job names are unique in this workload
    done = [tasks for tasks in jobs.values() if all(r["outcome"] == "completed" for r in tasks)]
    assert 0 < len(done) < len(jobs)
    per_job = s["energy_j"]["per_job"]
    assert per_job["count"] == len(done) == s["jobs"]["completed"]
    for key, of in [
        ("device_active_mean_j", lambda r: r["device_compute_j"] + r["device_radio_j"]),
        ("device_total_mean_j", lambda r: r["device_energy_j"]),
        ("server_mean_j", lambda r: r["server_energy_j"]),
    ]:
        assert per_job[key] == pytest.approx(sum(of(r) for tasks in done for r in tasks) / len(done), rel=1e-12)


def test_no_completed_task_gives_nan_means() -> None:
    s = run_scenario(load_scenario(SMOKE, ["stop.max_time_s=0.001"])).summary
    assert s["tasks"]["completed"] == 0
    for section in ("per_task", "per_job"):
        figures = s["energy_j"][section]
        assert figures["count"] == 0
        assert all(math.isnan(figures[k]) for k in ("device_active_mean_j", "device_total_mean_j", "server_mean_j"))


def test_headline_rows_show_active_idle_per_task_and_per_job(lossy: RunResult) -> None:
    s = lossy.summary
    e = s["energy_j"]
    rows = dict(headline_rows(s))
    assert rows["device energy (J)"] == f"{e['device_total']:,.1f}"
    assert rows["  active: compute + radio (J)"] == f"{e['device_active']:,.1f}"
    assert rows["  idle (J)"] == f"{e['device_idle']:,.1f}"
    t, j = e["per_task"], e["per_job"]
    assert rows["device energy per task (J)"] == (
        f"{t['device_active_mean_j']:,.3f} active / {t['device_total_mean_j']:,.3f} total"
    )
    assert rows["device energy per job (J)"] == (
        f"{j['device_active_mean_j']:,.3f} active / {j['device_total_mean_j']:,.3f} total"
    )
    assert rows["server energy per task (J)"] == f"{t['server_mean_j']:,.3f}"
    assert rows["server energy per job (J)"] == f"{j['server_mean_j']:,.3f}"
    # A summary written before these keys existed still makes a table: "-" where a figure is missing.
    old = json.loads(json.dumps(s))
    for key in ("device_active", "device_idle", "per_task", "per_job"):
        del old["energy_j"][key]
    old_rows = dict(headline_rows(old))
    assert old_rows["device energy per task (J)"] == old_rows["  active: compute + radio (J)"] == "-"
    assert old_rows["device energy (J)"] == rows["device energy (J)"]


def test_run_table_and_report_show_the_new_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    for name, extra in (("a", LOSSY), ("b", ("policy.kind=local",))):
        sets = [arg for value in extra for arg in ("--set", value)]
        code, output = run_main(
            monkeypatch, capsys, "scenario", "run", str(SMOKE), "--out", str(tmp_path / name),
            "--set", "outputs.plots=false", *sets,
        )  # fmt: skip
        assert code == 0, output
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        lines = output.splitlines()
        for label, value in headline_rows(summary):
            if "energy" in label or "active" in label:
                assert any(f"│ {label} " in line and f" {value} │" in line for line in lines), (label, value)
    out = tmp_path / "cmp"
    code, output = run_main(monkeypatch, capsys, "report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out))
    assert code == 0, output
    assert "device energy per task (J)" in output and "active: compute + radio (J)" in output
    table = json.loads((out / "comparison.json").read_text())
    assert [row[0] for row in table["rows"]] == [label for label, _, _ in HEADLINE]
    rows = {row[0]: row[1:] for row in table["rows"]}
    local = json.loads((tmp_path / "b" / "summary.json").read_text())["energy_j"]
    assert rows["  active: compute + radio (J)"][1] == f"{local['device_active']:,.1f}"
    assert rows["device energy per task (J)"][1].startswith(f"{local['per_task']['device_active_mean_j']:,.3f} active")
    assert (out / "energy.png").stat().st_size > 0


def test_energy_plot_takes_old_and_empty_summaries(tmp_path: Path, lossy: RunResult) -> None:
    e = json.loads(json.dumps(lossy.summary["energy_j"]))
    old = {k: v for k, v in e.items() if k not in ("device_active", "device_idle", "per_task", "per_job")}
    empty = {**e, "per_task": {**e["per_task"], "device_active_mean_j": np.nan, "device_total_mean_j": np.nan}}
    for runs in ({"new": e, "old": old}, {"old": old}, {"empty": empty}):
        path = plot_energy_breakdown(runs, tmp_path / "energy.png")
        assert path.stat().st_size > 0
        path.unlink()
