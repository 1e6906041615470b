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
SMOKE_STR = str(SMOKE)
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
    # comparison.json holds the numbers (one column per run: single runs stay apart), not formatted text.
    table = json.loads((out / "comparison.json").read_text())
    assert [m["label"] for m in table["metrics"]] == [label for label, _, _ in HEADLINE]
    assert table["header"] == ["metric", "a", "b"] and [c["n"] for c in table["columns"]] == [1, 1]
    local = json.loads((tmp_path / "b" / "summary.json").read_text())["energy_j"]
    values = table["columns"][1]["values"]
    assert values["energy_j.device_active"] == local["device_active"]
    assert values["energy_j.per_task.device_active_mean_j"] == local["per_task"]["device_active_mean_j"]
    assert (out / "energy.png").stat().st_size > 0


def test_energy_plot_takes_old_and_empty_summaries(tmp_path: Path, lossy: RunResult) -> None:
    e = json.loads(json.dumps(lossy.summary["energy_j"]))
    old = {k: v for k, v in e.items() if k not in ("device_active", "device_idle", "per_task", "per_job")}
    empty = {**e, "per_task": {**e["per_task"], "device_active_mean_j": np.nan, "device_total_mean_j": np.nan}}
    for runs in ({"new": e, "old": old}, {"old": old}, {"empty": empty}):
        path = plot_energy_breakdown(runs, tmp_path / "energy.png")
        assert path.stat().st_size > 0
        path.unlink()


def test_report_shows_seeds_of_one_configuration_as_mean_and_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    runs = {f"local-s{i}": ("policy.kind=local", f"seed={i}") for i in (1, 2, 3)}
    runs |= {"edge": ("policy.kind=edge",), "again-s1": ("policy.kind=local", "seed=1")}  # again-s1 = local-s1
    for name, sets in runs.items():
        extra = [arg for value in sets for arg in ("--set", value)]
        code, output = run_main(
            monkeypatch, capsys, "scenario", "run", SMOKE_STR, "--out", str(tmp_path / name), "-q",
            "--set", "outputs.plots=false", *extra,
        )  # fmt: skip
        assert code == 0, output
    summaries = {n: json.loads((tmp_path / n / "summary.json").read_text()) for n in runs}
    dirs = [str(tmp_path / n) for n in ("local-s1", "edge", "local-s2", "local-s3")]
    out = tmp_path / "cmp"
    code, output = run_main(monkeypatch, capsys, "report", *dirs, "--out", str(out))
    assert code == 0, output
    table = json.loads((out / "comparison.json").read_text())
    assert table["header"] == ["metric", "local (n=3)", "edge"]
    group, edge = table["columns"]
    assert (group["n"], group["seeds"]) == (3, [1, 2, 3])
    lat = [summaries[f"local-s{i}"]["latency_s"]["mean"] for i in (1, 2, 3)]
    mean = sum(lat) / 3
    half = 4.302653 * math.sqrt(sum((v - mean) ** 2 for v in lat) / 2) / math.sqrt(3)
    assert group["values"]["latency_s.mean"] == pytest.approx(mean, rel=1e-12)
    assert group["ci95"]["latency_s.mean"] == pytest.approx([mean - half, mean + half], rel=1e-6)
    assert group["values"]["policy"] == "local" and isinstance(group["std"]["energy_j.device_total"], float)
    assert edge["values"]["latency_s.mean"] == summaries["edge"]["latency_s"]["mean"] and "ci95" not in edge
    line = next(row for row in output.splitlines() if "latency mean (s)" in row)
    assert f"{mean:.3f} ± {half:.3f}" in line and f"{summaries['edge']['latency_s']['mean']:.3f}" in line
    assert "mean ± 95% confidence interval over seeds" in output

    # Same configuration and same seed twice is no sample over seeds: both stay columns, in their order.
    code, output = run_main(monkeypatch, capsys, "report", dirs[0], str(tmp_path / "again-s1"), "--out", str(out))
    assert code == 0, output
    assert json.loads((out / "comparison.json").read_text())["header"] == ["metric", "local-s1", "again-s1"]
