"""Scenario files: every shipped scenario validates; user mistakes give one clear message with file, line, field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edgesplit.errors import UserError
from edgesplit.scenario import apply_override, load_scenario
from edgesplit.units import parse_quantity

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))

GOOD = """\
name: t
fleet:
  devices:
    - {name: phone, profile: phone-midrange, count: 2}
  edge_servers:
    - {name: edge, profile: edge-server}
network:
  cells:
    - name: c0
      bandwidth_hz: 10 MHz
workload:
  source: synthetic
  synthetic: {kind: poisson, jobs: 5}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_shipped_scenarios_validate(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths (e.g. a cascade checkpoint under runs/) must not exist here
    if "source: cascade" in path.read_text():
        # Until `edgesplit cascade train` has written its checkpoint, the scenario says how to make one.
        with pytest.raises(UserError, match="edgesplit cascade train"):
            load_scenario(path)
        (tmp_path / "runs" / "cascade").mkdir(parents=True)
        (tmp_path / "runs" / "cascade" / "cascade.json").write_text("{}")
    assert load_scenario(path).fleet.devices


def test_units_are_read_into_si(tmp_path: Path) -> None:
    sc = load_scenario(write(tmp_path, GOOD))
    assert sc.network.cells[0].bandwidth_hz == 10e6
    assert parse_quantity("10 MB/s", "rate") == 80e6
    assert parse_quantity("100kB", "size") == 100e3
    assert parse_quantity("10 ms", "time") == pytest.approx(0.01)
    with pytest.raises(ValueError, match="not a time"):
        parse_quantity("3 MHz", "time")


@pytest.mark.parametrize(
    ("mutation", "line", "field", "words"),
    [
        (
            ("    - name: c0\n", "    - name: c0\n      bandwith_hz: 5\n"),
            10,
            "network.cells.0.bandwith_hz",
            "unknown key",
        ),
        (("count: 2}", "count: two}"), 4, "fleet.devices.0.count", "integer"),
        (
            ("bandwidth_hz: 10 MHz", "bandwidth_hz: -5 MHz"),
            10,
            "network.cells.0.bandwidth_hz",
            "greater than 0",
        ),
        (
            ("source: synthetic\n", "source: trace\n  trace: {path: /nope/x.csv}\n"),
            13,
            "workload.trace.path",
            "does not exist",
        ),
    ],
)
def test_mistakes_name_file_line_and_field(
    tmp_path: Path, mutation: tuple[str, str], line: int, field: str, words: str
) -> None:
    path = write(tmp_path, GOOD.replace(*mutation))
    with pytest.raises(UserError) as err:
        load_scenario(path)
    message = str(err.value)
    assert f"{path}:{line}: {field}:" in message
    assert words in message
    assert len(message.splitlines()) == 1


def test_set_overrides_any_field_and_errors_name_the_flag(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    sc = load_scenario(
        path, ["policy.kind=heft", "fleet.devices.0.count=7", "seed=9", "network.cells.0.latency_s=2 ms"]
    )
    assert (sc.policy.kind, sc.fleet.devices[0].count, sc.seed) == ("heft", 7, 9)
    assert sc.network.cells[0].latency_s == pytest.approx(0.002)
    with pytest.raises(UserError, match=r"--set policy.kind: policy.kind: Input should be"):
        load_scenario(path, ["policy.kind=psychic"])
    with pytest.raises(UserError, match="not an index"):
        load_scenario(path, ["fleet.devices.5.count=1"])
    with pytest.raises(UserError, match="key.path=value"):
        apply_override({}, "policy.kind")


def test_names_must_resolve(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("count: 2}", "count: 2, cell: nowhere}"))
    with pytest.raises(UserError, match="'nowhere' is not a cell"):
        load_scenario(path)


def test_cli_exits_2_with_one_message_and_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("bandwidth_hz: 10 MHz", "bandwidth_hz: -1"))
    for command in ("validate", "run"):
        proc = subprocess.run(
            [sys.executable, "-c", "from edgesplit.cli import main; main()", "scenario", command, str(path)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout
        assert f"{path}:10: network.cells.0.bandwidth_hz" in proc.stderr
