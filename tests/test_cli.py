"""The command line end to end: `scenario run` writes records, summary and plots; `report` compares runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_main

import edgesplit.engines.factory as factory

ROOT = Path(__file__).resolve().parents[1]
SMOKE = str(ROOT / "scenarios" / "smoke.yaml")


def edgesplit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from edgesplit.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_run_then_report(tmp_path: Path) -> None:
    smoke = str(ROOT / "scenarios" / "smoke.yaml")
    a = edgesplit("scenario", "run", smoke, "--out", "runs/a", cwd=tmp_path)
    assert a.returncode == 0, a.stderr
    assert "accounting" in a.stdout
    b = edgesplit(
        "scenario",
        "run",
        smoke,
        "--set",
        "policy.kind=local",
        "--set",
        "seed=7",
        "--out",
        "runs/b",
        "-q",
        cwd=tmp_path,
    )
    assert b.returncode == 0, b.stderr
    for run in ("a", "b"):
        files = {p.name for p in (tmp_path / "runs" / run).iterdir()}
        assert {"tasks.csv", "summary.json", "scenario.yaml", "latency_cdf.png", "energy.png"} <= files
    summary_b = json.loads((tmp_path / "runs/b/summary.json").read_text())
    assert (summary_b["policy"], summary_b["seed"], summary_b["offload_ratio"]) == ("local", 7, 0.0)

    rep = edgesplit("report", "runs/a", "runs/b", "--out", "runs/cmp", cwd=tmp_path)
    assert rep.returncode == 0, rep.stderr
    assert "greedy-latency" in rep.stdout and "local" in rep.stdout
    assert {"latency_cdf.png", "energy.png", "comparison.json"} <= {p.name for p in (tmp_path / "runs/cmp").iterdir()}

    missing = edgesplit("report", "runs/nope", cwd=tmp_path)
    assert missing.returncode == 2 and "not a run directory" in missing.stderr


def test_every_command_has_help(tmp_path: Path) -> None:
    for args in (
        ["--help"],
        ["scenario", "--help"],
        ["scenario", "run", "--help"],
        ["report", "--help"],
        ["trace", "--help"],
    ):
        proc = edgesplit(*args, cwd=tmp_path)
        assert proc.returncode == 0 and "Usage" in proc.stdout, args


def test_garbage_trace_line_is_a_clear_error(tmp_path: Path) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("M1,1,j_1,1,Terminated,10,20,100,0.5\nR2_1,1,j_1,1,Terminated,20,oops,100,0.5\n")
    proc = edgesplit(
        "scenario", "run", str(ROOT / "scenarios" / "smoke.yaml"),
        "--set", "workload.source=trace", "--set", f"workload.trace.path={trace}", "-q", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert f"{trace}:2" in proc.stderr and "Traceback" not in proc.stderr
    skipped = edgesplit(
        "scenario", "run", str(ROOT / "scenarios" / "smoke.yaml"), "--set", "workload.source=trace",
        "--set", f"workload.trace.path={trace}", "--set", "workload.trace.skip_bad_lines=true", "-q", cwd=tmp_path,
    )  # fmt: skip
    assert skipped.returncode == 0, skipped.stderr
    summary = (tmp_path / "runs" / "smoke" / "summary.json").read_text()
    assert '"skipped_lines": 1' in summary and '"submitted": 1' in summary


def _no_simulation(*_: object, **__: object) -> None:
    raise AssertionError("the run started although the input is refused")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (bytes(range(256)) * 4, "not a UTF-8 text file (byte 0x80 at offset 128)"),
        (b"name: caf\xe9\n", "not a UTF-8 text file (byte 0xe9 at offset 9)"),
        (b"name: x\x00\x01\n", "not a text file (control character U+0000 at character 7)"),
        (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested more than 32 levels deep"),
        (b"a: " + b"{b: " * 200 + b"1" + b"}" * 200 + b"\n", "nested more than 32 levels deep"),
    ],
    ids=["binary", "latin-1", "control-characters", "deep-lists", "deep-mappings"],
)
def test_unreadable_scenario_files_are_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], content: bytes, words: str
) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    monkeypatch.setattr(factory, "prepare", _no_simulation)
    for command in (["validate"], ["run", "--out", str(tmp_path / "out")]):
        code, output = run_main(monkeypatch, capsys, "scenario", command[0], str(path), *command[1:])
        assert code == 2, output
        assert output.strip().splitlines() == [output.strip()], output
        assert output.startswith(f"error: {path}") and words in output, output
    assert not (tmp_path / "out").exists()


def test_an_output_directory_that_cannot_be_made_is_refused_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setattr(factory, "prepare", _no_simulation)
    for out, words in [(blocker / "run", "Not a directory"), (blocker, "a file is in the way")]:
        code, output = run_main(monkeypatch, capsys, "scenario", "run", SMOKE, "--out", str(out))
        assert code == 2, output
        assert output.strip() == f"error: {out}: cannot write the output directory: {words}", output
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]
