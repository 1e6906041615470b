"""`edgesplit sweep`: a grid x seeds on Ray tasks, resumable, failed runs recorded, bad input refused up front."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_main

from edgesplit.errors import UserError
from edgesplit.run import run_scenario
from edgesplit.scenario import load_scenario
from edgesplit.sweep.runner import run_sweep
from edgesplit.sweep.spec import build_spec, parse_grid, plan, split_values, value_text
from edgesplit.sweep.stats import mean_ci, t_quantile

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "scenarios" / "smoke.yaml")
GRID = ("--grid", "policy.kind=local,edge,heft", "--grid", "network.cells.0.bandwidth_hz=5 MHz,20 MHz")
# Student t 0.975 quantiles from printed tables (e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2).
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 9: 2.262, 29: 2.045, 100: 1.984}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def marks(out: Path) -> dict[str, int]:
    """run id -> run.json's modification time (ns): a run that ran again has a new one."""
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*/run.json")}


def test_grid_values_split_outside_brackets_and_read_back() -> None:
    axis = parse_grid("network.cells.0.bandwidth_hz=5 MHz, 10 MHz,20 MHz")
    assert axis.path == "network.cells.0.bandwidth_hz" and axis.values == ("5 MHz", "10 MHz", "20 MHz")
    assert split_values("[1, 2],{a: 1, b: 2},'x,y'") == ["[1, 2]", "{a: 1, b: 2}", "'x,y'"]
    # A sweep file's values become override texts that load_scenario reads back as the same values.
    assert [value_text(v) for v in ("5 MHz", "true", 3, 2.5, None, [1, 2], {"edge": 1})] == [
        "5 MHz", '"true"', "3", "2.5", "null", "[1, 2]", '{"edge": 1}',
    ]  # fmt: skip
    for bad in ("policy.kind", "=a,b", "policy.kind=a,,b", "policy.kind=a,a", "x=[1,2", "seed=1,2", "a..b=1"):
        with pytest.raises(UserError):
            parse_grid(bad)


def test_t_quantiles_and_interval_by_hand() -> None:
    for df, t in T_TABLE.items():
        assert t_quantile(0.975, df) == pytest.approx(t, abs=6e-4), df
    assert t_quantile(0.975, 10**7) == pytest.approx(1.959964, abs=1e-6)  # the normal limit
    ci = mean_ci([1.0, 2.0, 4.0, math.nan])  # NaN (no completed task) is left out
    s = math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)
    assert (ci.n, ci.mean, ci.std) == (3, pytest.approx(7 / 3), pytest.approx(s))
    assert ci.half == pytest.approx(4.302653 * s / math.sqrt(3), rel=1e-6)
    assert math.isnan(mean_ci([5.0]).half) and mean_ci([]).n == 0


def test_t_quantiles_match_scipy() -> None:
    st = pytest.importorskip("scipy.stats")  # in the venv through scikit-learn; the sweep itself does not need it
    for p in (0.9, 0.975, 0.995):
        for df in (1, 2, 3, 5, 10, 30, 100, 1000):
            assert t_quantile(p, df) == pytest.approx(float(st.t.ppf(p, df)), rel=1e-12), (p, df)


def test_sweep_writes_every_run_reruns_nothing_and_finishes_the_rest(
    ray_session: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    out = tmp_path / "sweep"
    argv = ("sweep", SMOKE, *GRID, "--seeds", "3", "--workers", "2", "--out", str(out))
    code, output = run_main(monkeypatch, capsys, *argv)
    assert code == 0, output
    assert "18 runs: 18 ran, 0 skipped" in output
    rows = read_csv(out / "runs.csv")
    assert len(rows) == 18 and len({r["run_id"] for r in rows}) == 18
    assert {(r["policy.kind"], r["network.cells.0.bandwidth_hz"], r["seed"]) for r in rows} == {
        (p, b, s) for p in ("local", "edge", "heft") for b in ("5 MHz", "20 MHz") for s in ("1", "2", "3")
    }
    assert {r["status"] for r in rows} == {"ok"} and all(float(r["run_wall_s"]) > 0 for r in rows)
    for r in rows:  # every row's figures are its own run's summary, flattened
        summary = json.loads((out / "runs" / r["run_id"] / "summary.json").read_text())
        assert float(r["latency_s.mean"]) == summary["latency_s"]["mean"]
        assert float(r["energy_j.device_by_component.radio"]) == summary["energy_j"]["device_by_component"]["radio"]
        assert int(r["tasks.submitted"]) == summary["tasks"]["submitted"]
    # A run through Ray is the same run as in-process.
    heft = next(
        r
        for r in rows
        if r["policy.kind"] == "heft" and r["seed"] == "2" and r["network.cells.0.bandwidth_hz"] == "5 MHz"
    )
    direct = run_scenario(load_scenario(SMOKE, ["policy.kind=heft", "network.cells.0.bandwidth_hz=5 MHz", "seed=2"]))
    swept = json.loads((out / "runs" / heft["run_id"] / "summary.json").read_text())
    assert {k: v for k, v in swept.items() if k != "wall_s"} == {
        k: v for k, v in json.loads(json.dumps(direct.summary)).items() if k != "wall_s"
    }
    # aggregate.csv: mean, sample std and the Student-t interval over the point's three seeds.
    import pyarrow.parquet as pq

    assert pq.read_table(out / "runs.parquet").num_rows == 18
    agg = read_csv(out / "aggregate.csv")
    line = next(
        a
        for a in agg
        if (a["policy.kind"], a["network.cells.0.bandwidth_hz"], a["metric"]) == ("heft", "5 MHz", "latency_s.mean")
    )
    values = [
        float(r["latency_s.mean"])
        for r in rows
        if (r["policy.kind"], r["network.cells.0.bandwidth_hz"]) == ("heft", "5 MHz")
    ]
    mean = sum(values) / 3
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)
    assert (line["n"], line["failed"]) == ("3", "0")
    assert float(line["mean"]) == pytest.approx(mean, rel=1e-12)
    assert float(line["std"]) == pytest.approx(std, rel=1e-12)
    assert float(line["ci95_half"]) == pytest.approx(4.302653 * std / math.sqrt(3), rel=1e-6)
    assert float(line["ci95_low"]) == pytest.approx(mean - float(line["ci95_half"]), rel=1e-12)
    table = (out / "summary.md").read_text().splitlines()
    assert len(table) == 2 + 6 and "| heft | 5 MHz | 3/3 |" in table[-2]
    assert {p.name for p in (out / "plots").iterdir()} >= {"latency_s.mean.png", "energy_j.device_total.png"}

    before = marks(out)
    code, output = run_main(monkeypatch, capsys, *argv, "--no-plots")
    assert code == 0 and "18 runs: 0 ran, 18 skipped" in output, output
    assert marks(out) == before

    # Cut short: five runs never written, one without its run.json, one with half a run.json, one whose
    # scenario changed since (its digest differs). Exactly these eight run again.
    ids = sorted(before)
    for run_id in ids[:5]:
        for f in (out / "runs" / run_id).iterdir():
            f.unlink()
        (out / "runs" / run_id).rmdir()
    (out / "runs" / ids[5] / "run.json").unlink()
    half = out / "runs" / ids[6] / "run.json"
    half.write_text(half.read_text()[: len(half.read_text()) // 2])
    meta = json.loads((out / "runs" / ids[7] / "run.json").read_text())
    (out / "runs" / ids[7] / "run.json").write_text(json.dumps({**meta, "scenario_sha": "0" * 16}))
    kept = {k: v for k, v in before.items() if k in ids[8:]}
    code, output = run_main(monkeypatch, capsys, *argv, "--no-plots")
    assert code == 0 and "18 runs: 8 ran, 10 skipped" in output, output
    after = marks(out)
    assert {k: after[k] for k in kept} == kept and set(after) == set(before)
    assert [r["latency_s.mean"] for r in read_csv(out / "runs.csv")] == [r["latency_s.mean"] for r in rows]


def test_a_failed_run_is_recorded_and_run_again(
    ray_session: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,trace\n")  # exists (so the scenario validates) but its first line breaks the run
    out = tmp_path / "sweep"
    argv = (
        "sweep", SMOKE, "--set", "workload.source=trace", "--set", "workload.trace.max_jobs=20",
        "--grid", f"workload.trace.path=null,{bad}", "--seeds", "2", "--out", str(out), "--no-plots",
    )  # fmt: skip
    code, output = run_main(monkeypatch, capsys, *argv)
    assert code == 1, output
    assert "4 runs: 4 ran (2 failed), 0 skipped" in output and "malformed line" in output
    rows = read_csv(out / "runs.csv")
    ok = [r for r in rows if r["status"] == "ok"]
    failed = [r for r in rows if r["status"] == "failed"]
    assert [r["workload.trace.path"] for r in ok] == ["null", "null"] and float(ok[0]["tasks.submitted"]) > 0
    assert len(failed) == 2 and all("TraceError" in r["error"] and r["latency_s.mean"] == "" for r in failed)
    assert "Traceback" in json.loads((out / "runs" / failed[0]["run_id"] / "run.json").read_text())["traceback"]
    agg = [a for a in read_csv(out / "aggregate.csv") if a["metric"] == "latency_s.mean"]
    assert [(a["failed"], a["n"]) for a in agg] == [("0", "2"), ("2", "0")]
    code, output = run_main(monkeypatch, capsys, *argv)
    assert code == 1 and "4 runs: 2 ran (2 failed), 2 skipped" in output, output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--grid", "policy.kindd=local,edge"), "policy.kindd: unknown key"),
        (("--grid", "policy.kind"), "--grid expects path=value1,value2"),
        (("--grid", "policy.kind=local,nope"), "grid point policy.kind=nope"),
        (("--grid", "network.cells.3.bandwidth_hz=5 MHz"), "is not an index"),
        (("--grid", "policy.kind=local,,edge"), "must be non-empty"),
        (("--seeds", "0"), "seeds must be 1 or more"),
        (("--workers", "0"), "--workers must be 1 or more"),
        (("--records", "xml"), "records must be one of"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_any_run(
    args: tuple[str, ...],
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COLUMNS", "300")
    out = tmp_path / "out"
    code, output = run_main(monkeypatch, capsys, "sweep", SMOKE, *args, "--out", str(out))
    assert code == 2 and says in output, output
    assert len([line for line in output.splitlines() if line.strip()]) == 1 and output.startswith("error:")
    assert not out.exists()
    code, output = run_main(monkeypatch, capsys, "sweep", str(tmp_path / "missing.yaml"), "--out", str(out))
    assert code == 2 and "does not exist" in output and not out.exists()


def test_sweep_file_with_fixed_overrides_and_metrics(
    ray_session: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    (tmp_path / "smoke.yaml").write_text(Path(SMOKE).read_text())
    (tmp_path / "exp").mkdir()
    sweep_file = tmp_path / "exp" / "two.yaml"
    sweep_file.write_text(
        "scenario: ../smoke.yaml\n"  # relative to the sweep file
        "grid: {policy.kind: [local, edge]}\n"
        "seeds: [3, 5]\n"
        "set: {workload.synthetic.jobs: 12}\n"
        "metrics: [latency_s.mean, jobs.submitted, no.such.metric]\n"
        f"out: {tmp_path / 'out'}\n"
    )
    code, output = run_main(monkeypatch, capsys, "sweep", str(sweep_file), "--no-plots")
    assert code == 0, output
    assert "no run has a numeric summary figure 'no.such.metric'" in output
    rows = read_csv(tmp_path / "out" / "runs.csv")
    assert [(r["policy.kind"], r["seed"], r["jobs.submitted"]) for r in rows] == [
        ("local", "3", "12"), ("local", "5", "12"), ("edge", "3", "12"), ("edge", "5", "12"),
    ]  # fmt: skip
    assert (tmp_path / "out" / "summary.md").read_text().splitlines()[0] == (
        "| policy.kind | runs ok | latency_s.mean | jobs.submitted |"
    )
    # The shipped experiment validates (every grid point) and plans grid x seeds runs.
    for path in sorted((ROOT / "experiments").glob("*.yaml")):
        spec = build_spec(path)
        assert len(plan(spec).runs) == math.prod(len(a.values) for a in spec.axes) * spec.seeds


def test_a_killed_sweep_finishes_only_the_rest(ray_session: None, tmp_path: Path) -> None:
    import ray

    # The killed sweep is a second driver on this session's Ray (--address, as on a cluster): SIGKILL ends it
    # between two runs' files or in the middle of writing one; its Ray tasks die with it.
    out = tmp_path / "sweep"
    address = ray.get_runtime_context().gcs_address
    argv = ["sweep", SMOKE, "--grid", "policy.kind=local,edge,heft", "--seeds", "4", "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from edgesplit.cli import main; main()", *argv, "--workers", "1", "-q", "--no-plots",
         "--address", address],
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(marks(out) if (out / "runs").is_dir() else {}) < 3 and proc.poll() is None:
            assert time.monotonic() < deadline, "the sweep wrote no run in time"
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
    done = marks(out)
    assert 3 <= len(done) < 12
    spec = build_spec(Path(SMOKE), ["policy.kind=local,edge,heft"], seeds=4)
    stats = run_sweep(plan(spec), out, workers=2)
    assert (stats.ran, stats.skipped, stats.failed) == (12 - len(done), len(done), 0)
    after = marks(out)
    assert len(after) == 12 and {k: after[k] for k in done} == done
