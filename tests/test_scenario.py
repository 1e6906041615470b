"""Scenario files: every shipped scenario validates; user mistakes give one clear message with file, line, field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_main

import edgesplit.engines.factory as factory
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
    unknown = r"--set policy.kind: policy.kind: unknown policy kind 'psychic'; choose one of local, edge"
    with pytest.raises(UserError, match=unknown):
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


def test_sub_unit_prefixes_on_counts_are_refused_with_a_hint() -> None:
    for text, dimension, meant in [
        ("10 mbps", "rate", "10 Mbps"),
        ("20 mHz", "frequency", "20 MHz"),
        ("5 mB", "size", "5 MB"),
        ("3 mbit/s", "rate", "3 Mbit/s"),
        ("2 mcycles", "work", "2 Mcycles"),
        ("10 Ms", "time", "10 ms"),
        ("200 MW", "power", "200 mW"),
    ]:
        with pytest.raises(ValueError, match=f"did you mean '{meant}'"):
            parse_quantity(text, dimension)
    with pytest.raises(ValueError, match="takes no 'm' prefix"):
        parse_quantity("2 mmin", "time")
    assert parse_quantity("20 us", "time") == pytest.approx(20e-6)
    assert parse_quantity("200 mW", "power") == pytest.approx(0.2)
    assert parse_quantity("1 MiB/s", "rate") == 8 * 2**20


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), "1e400 Hz", 10**400, 1e31])
def test_quantities_are_finite_and_bounded(value: object) -> None:
    with pytest.raises(ValueError, match="finite number|at most 1e"):
        parse_quantity(value, "frequency")


def _no_simulation(*_: object, **__: object) -> None:
    raise AssertionError("the run started although the input is refused")


FAULTS = "faults:\n  - {kind: link-outage, cell: c0, at_s: 1 s, duration_s: 3 s}\n"


@pytest.mark.parametrize(
    ("mutation", "line", "field", "words"),
    [
        (("bandwidth_hz: 10 MHz", "bandwidth_hz: .inf"), 10, "network.cells.0.bandwidth_hz", "finite number"),
        (("bandwidth_hz: 10 MHz", "bandwidth_hz: 20 mHz"), 10, "network.cells.0.bandwidth_hz", "'20 MHz'"),
        (("      bandwidth_hz", "      rate_bps: 10 mbps\n      bandwidth_hz"), 10, "network.cells.0.rate_bps",
         "did you mean '10 Mbps'"),
        (("count: 2}", "count: 2, cpu_hz: .inf}"), 4, "fleet.devices.0.cpu_hz", "finite number"),
        (("count: 2}", "count: 2, distance_m: .inf}"), 4, "fleet.devices.0.distance_m", "finite number"),
        (("count: 2}", "count: 2, distance_m: [1, .nan]}"), 4, "fleet.devices.0.distance_m", "finite number"),
        (("duration_s: 3 s", "duration_s: .inf"), 15, "faults.0.link-outage.duration_s", "finite number"),
        (("duration_s: 3 s", "duration_s: 1e308"), 15, "faults.0.link-outage.duration_s", "at most"),
        (("{kind: link-outage, cell: c0, at_s: 1 s, duration_s: 3 s}",
          "{kind: server-down, server: edge, at_s: 1 s, downtime_s: .inf}"), 15,
         "faults.0.server-down.downtime_s", "finite number"),
        (("{kind: link-outage, cell: c0, at_s: 1 s, duration_s: 3 s}",
          "{kind: device-leave, device: phone-0, at_s: .nan}"), 15, "faults.0.device-leave.at_s", "finite number"),
        (("source: synthetic", "source: synthetic\n  arrival: {rate_per_s: .inf}"), 13,
         "workload.arrival.rate_per_s", "finite number"),
        (("name: t\n", "name: t\nstop: {max_time_s: .inf}\n"), 2, "stop.max_time_s", "finite number"),
    ],
)  # fmt: skip
def test_non_finite_and_mistyped_numbers_are_refused_before_the_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mutation: tuple[str, str],
    line: int,
    field: str,
    words: str,
) -> None:
    text = (GOOD + FAULTS).replace(*mutation)
    assert text != GOOD + FAULTS
    path = write(tmp_path, text)
    monkeypatch.setattr(factory, "prepare", _no_simulation)
    code, output = run_main(monkeypatch, capsys, "scenario", "run", str(path), "--out", str(tmp_path / "out"))
    assert code == 2, output
    assert output.strip().splitlines() == [output.strip()], output
    assert f"{path}:{line}: {field}:" in output and words in output, output
    assert not (tmp_path / "out").exists()


def test_a_device_that_could_never_send_is_refused(tmp_path: Path) -> None:
    # The edge-server profile has no radio (tx power 0 W): offloading from it would divide by a zero rate.
    path = write(tmp_path, GOOD.replace("profile: phone-midrange", "profile: edge-server"))
    with pytest.raises(UserError, match=r"fleet.devices\[0\] \('phone'\) in cell 'c0' .* out of coverage"):
        load_scenario(path)
    assert load_scenario(path, ["policy.kind=local"]).fleet.devices[0].profile == "edge-server"
    far = write(tmp_path, GOOD.replace("count: 2}", "count: 2, distance_m: 1e12}"))
    with pytest.raises(UserError, match="out of coverage"):
        load_scenario(far)


def test_a_device_out_of_coverage_is_refused_before_the_run() -> None:
    """5 km from a 10 MHz cell the bounded uplink reaches no CQI step: one clear line, not a build-time traceback."""
    smoke = Path(__file__).resolve().parents[1] / "scenarios" / "smoke.yaml"
    with pytest.raises(UserError, match="out of coverage on the uplink"):
        load_scenario(smoke, ["fleet.devices.0.distance_m=5000"])
    load_scenario(smoke, ["fleet.devices.0.distance_m=200"])  # in coverage: accepted
