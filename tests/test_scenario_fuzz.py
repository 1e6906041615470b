"""Fuzzing scenario files through the real CLI: every mutated document either runs with its task accounting
intact or is refused with exit code 2 and one line per mistake, never a traceback or a hang."""

from __future__ import annotations

import copy
import json
import math
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import run_main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

BASE: dict[str, Any] = {
    "name": "fuzz",
    "seed": 1,
    "fleet": {
        "devices": [
            {"name": "phone", "profile": "phone-midrange", "count": 2, "distance_m": [50, 200]},
            {"name": "pi", "profile": "rpi4", "count": 1, "distance_m": 80},
        ],
        "edge_servers": [{"name": "edge", "profile": "edge-server", "count": 2}],
    },
    "network": {"cells": [{"name": "c0", "bandwidth_hz": "10 MHz", "latency_s": "5 ms"}]},
    "workload": {
        "source": "synthetic",
        "synthetic": {"kind": "poisson", "jobs": 4, "rate_per_s": 4.0, "iterations": 2},
        "cycles": {"scale": 0.01},
    },
    "policy": {"kind": "greedy-latency"},
    "stop": {"max_time_s": 20},
}
HANG_S = 20  # one example may take this long before it counts as a hang (a tiny run takes milliseconds)

INF, NAN = math.inf, math.nan
UNITS = ["Hz", "MHz", "mHz", "bps", "Mbps", "mbps", "MB/s", "mbit/s", "kB", "mB", "MiB", "ms", "s", "Ms", "min",
         "mW", "MW", "J", "kWh", "m", "km", "Gflop", "cycles", "", "furlongs"]  # fmt: skip
unit_strings = st.builds(
    lambda x, u: f"{x:g} {u}",
    st.one_of(st.floats(-1e3, 1e3), st.sampled_from([0.0, 1e300, 1e-300, 1e400])),
    st.sampled_from(UNITS),
)
odd = st.sampled_from([INF, -INF, NAN, 0, -1, 1e308, -1e308, 1e31, 1e29, 1e-200, 5e-324, 10**400, "", ".inf",
                       "nan", "abc", True, None, [], {}, [1, 2], [3, 1], {"x": 1}, "10 MHz", "1e400 Hz"])  # fmt: skip
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**6), 10**6))
plausible = st.one_of(
    st.floats(0, 100), st.floats(1e-9, 1e12), st.integers(0, 1000),
    st.builds(lambda x, u: f"{x:g} {u}", st.floats(0, 1e3), st.sampled_from(["MHz", "Mbps", "kB", "ms", "s", "mW"])),
)  # fmt: skip
values = st.one_of(plausible, plausible, odd, numbers, unit_strings, st.text(max_size=6))
# Counts stay small: a scenario of 10**9 devices is valid and simply big, which a fuzz run cannot afford.
counts = st.one_of(st.integers(-2, 4), st.sampled_from([2.5, 3.0, INF, NAN, "3", "two", None, True, [], "1 MHz"]))
COUNT_FIELDS = {"count", "jobs", "iterations", "cores", "max_retries", "redispatch_limit", "max_jobs", "requests"}

FIELDS = {
    ("seed",): st.one_of(st.integers(-5, 2**70), odd),
    ("policy", "kind"): st.sampled_from(["local", "edge", "random", "greedy-energy", "weighted", "heft", "learned"]),
    ("policy", "checkpoint"): st.sampled_from(["nope", ".", "s.yaml"]),
    ("workload", "source"): st.sampled_from(["synthetic", "trace", "cascade", "dnn", "psychic"]),
    ("workload", "synthetic", "kind"): st.sampled_from(["poisson", "calibrated", "chain", "other"]),
    ("workload", "arrival", "kind"): st.sampled_from(["poisson", "trace", 3]),
    ("network", "cells", 0, "model"): st.sampled_from(["shannon", "fixed", "magic"]),
}
LEAVES = [
    *[("fleet", "devices", i, k) for i in (0, 1) for k in ("count", "profile", "distance_m", "cpu_hz", "cores",
      "kappa", "busy_power_w", "tx_power_w", "battery_j", "cell", "energy_model", "flops_per_cycle")],
    *[("fleet", "edge_servers", 0, k) for k in ("count", "cpu_hz", "cores", "idle_power_w", "profile")],
    ("fleet", "cloud"), ("fleet", "cloud", "latency_s"), ("fleet", "cloud", "rate_bps"),
    *[("network", "cells", 0, k) for k in ("bandwidth_hz", "rate_bps", "latency_s", "jitter_s", "loss",
      "max_retries", "downlink_rate_bps", "noise_dbm_per_hz", "shared")],
    ("network", "cells", 0, "path_loss", "slope_db"), ("network", "backhaul", "rate_bps"),
    ("network", "backhaul", "latency_s"),
    *[("workload", "synthetic", k) for k in ("jobs", "rate_per_s", "mean_cycles", "iterations", "local_cycles",
      "offload_cycles", "input_bytes", "output_bytes")],
    ("workload", "arrival", "rate_per_s"), ("workload", "arrival", "time_scale"), ("workload", "mapping"),
    ("workload", "cycles", "scale"), ("workload", "cycles", "reference_hz"), ("workload", "data", "max_bytes"),
    ("workload", "data", "cycles_per_bit"), ("workload", "deadline", "factor"),
    ("workload", "deadline", "drop_expired"), ("workload", "trace", "max_jobs"),
    ("policy", "latency_weight"), ("policy", "energy_weight"), ("stop", "max_time_s"), ("stop",), ("name",),
]  # fmt: skip
paths = st.sampled_from([*FIELDS, *LEAVES])
names = st.sampled_from(["edge-0", "edge-1", "edge", "cloud", "c0", "c9", "phone-0", "phone-1", "pi", "x"])
times = st.one_of(st.floats(0, 30), st.floats(0, 30), st.sampled_from(["2 s", "500 ms", "1 min"]), odd, unit_strings)
fault = st.one_of(
    st.fixed_dictionaries(
        {"kind": st.just("server-down"), "server": names, "at_s": times},
        optional={
            "downtime_s": times,
            "on_loss": st.sampled_from(["fail", "redispatch", "x"]),
            "redispatch_limit": counts,
        },
    ),  # fmt: skip
    st.fixed_dictionaries({"kind": st.just("link-outage"), "cell": names, "at_s": times, "duration_s": times}),
    st.fixed_dictionaries(
        {"kind": st.just("device-leave"), "device": names, "at_s": times}, optional={"rejoin_s": times}
    ),
    st.fixed_dictionaries({"kind": st.sampled_from(["meteor", 1, None]), "at_s": times}),
    values,
)
extra_keys = st.sampled_from(["bandwith_hz", "colour", "1", "faults", "counts"])


def _value_for(path: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    if path in FIELDS:
        return st.one_of(FIELDS[path], values)
    return counts if path[-1] in COUNT_FIELDS else values


@st.composite
def mutation(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], Any]:
    """One change: ("set"|"delete"|"extra", path, value)."""
    what = draw(st.sampled_from(["set"] * 6 + ["delete", "extra", "faults", "faults"]))
    if what == "faults":
        return "set", ("faults",), draw(st.lists(fault, max_size=3))
    path = draw(paths)
    if what == "extra":
        return "set", (*path[:-1], draw(extra_keys)), draw(values)
    return what, path, draw(_value_for(path)) if what == "set" else None


def _mutate(doc: dict[str, Any], kind: str, path: tuple[Any, ...], value: Any) -> None:
    node: Any = doc
    for key in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(key, {})
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return  # an earlier mutation replaced a mapping on the way with a scalar: nothing to change here
        if not isinstance(node, dict | list):
            return
    last = path[-1]
    if isinstance(node, list) and not (isinstance(last, int) and last < len(node)):
        return
    if kind == "delete":
        if isinstance(node, dict):
            node.pop(last, None)
    else:
        node[last] = value


def _flag_value(value: Any) -> str:
    """`value` as `--set` reads it: one YAML flow item."""
    return yaml.safe_dump([value], default_flow_style=True, width=10**6).strip()[1:-1]


@contextmanager
def _no_hang(seconds: int) -> Iterator[None]:
    def _alarm(*_: Any) -> None:
        raise TimeoutError(f"the example ran longer than {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty working directory: relative default paths (runs/cascade, runs/split/models) hold nothing."""
    return tmp_path_factory.mktemp("fuzz")


@settings(
    max_examples=500,
    deadline=None,
    derandomize=True,  # the same 500 documents on every run and machine
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    changes=st.lists(mutation(), min_size=1, max_size=3),
    as_flags=st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_mutated_scenarios_run_or_are_refused(
    changes: list[tuple[str, tuple[Any, ...], Any]],
    as_flags: list[bool],
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("EDGESPLIT_CACHE", str(workdir / "cache"))  # no fetched trace: source trace is generated
    doc = copy.deepcopy(BASE)
    flags: list[str] = []
    for (kind, path, value), flag in zip(changes, as_flags, strict=False):
        if flag and kind == "set" and all(isinstance(p, str) or p == 0 for p in path):
            flags += ["--set", ".".join(map(str, path)) + "=" + _flag_value(value)]
        else:
            _mutate(doc, kind, path, value)
    scenario = workdir / "s.yaml"
    scenario.write_text(yaml.safe_dump(doc, sort_keys=False, width=10**6))
    summary = workdir / "out" / "summary.json"
    summary.unlink(missing_ok=True)

    with _no_hang(HANG_S):
        code, output = run_main(
            monkeypatch, capsys, "scenario", "run", str(scenario), *flags, "--set", "outputs.plots=false",
            "--out", str(workdir / "out"), "-q",
        )  # fmt: skip

    assert "Traceback" not in output, output
    if code == 0:
        tasks = json.loads(summary.read_text())["tasks"]
        assert tasks["submitted"] == tasks["completed"] + tasks["failed"] + tasks["dropped"], tasks
    else:
        assert code == 2, output
        lines = output.strip().splitlines()
        assert lines and lines[0].startswith("error: "), output
        places = (str(scenario), "--set ")  # each line names the file (and line) or the flag it is about
        assert all(line.removeprefix("error: ").startswith(places) for line in lines), output
