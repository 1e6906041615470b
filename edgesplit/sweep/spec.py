"""Sweep specifications: `--grid path=v1,v2` axes, sweep files (experiments/*.yaml), and the runs they plan.

Every grid point's scenario is validated here with `load_scenario`, before any run starts, so that a typo in a
path or a value is one clear error (exit code 2) instead of a sweep of failed runs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgesplit.errors import UserError
from edgesplit.scenario import Scenario, load_scenario

DEFAULT_METRICS = (
    "latency_s.mean",
    "latency_s.p95",
    "deadline_miss_rate",
    "offload_ratio",
    "energy_j.device_total",
)
RECORDS = ("none", "csv", "parquet")
SWEEP_KEYS = ("scenario", "grid", "seeds", "set", "metrics", "out", "records")


@dataclass(frozen=True)
class Axis:
    """One grid axis: a scenario field path and the values it takes, as override texts (read as YAML)."""

    path: str
    values: tuple[str, ...]


@dataclass
class SweepSpec:
    """What to sweep: a base scenario, grid axes, seeds, fixed overrides, the metrics to tabulate and plot."""

    scenario: Path
    axes: list[Axis] = field(default_factory=list)
    seeds: list[int] | int = 1  # a count (seeds from the scenario's own seed up) or explicit seeds
    overrides: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    out: Path | None = None
    records: str = "none"


@dataclass
class PlannedRun:
    """One run of a sweep: a grid point (axis path -> value text), a seed, and its validated scenario."""

    id: str
    point: dict[str, str]
    seed: int
    scenario: Scenario

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.point.items()) or "(base scenario)"


@dataclass
class Plan:
    """The runs of a sweep, in grid order (seeds innermost), and each axis value's resolved number, if any."""

    spec: SweepSpec
    runs: list[PlannedRun]
    seeds: list[int]
    numeric: dict[str, dict[str, float]]  # axis path -> value text -> the field's value, where all are numbers


def split_values(text: str) -> list[str]:
    """Split `a,b,c` on the commas outside brackets, braces and quotes, so `[1, 2],[3]` is two values."""
    out, cur, depth, quote = [], [], 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth < 0:
                raise UserError(f"--grid {text!r}: unbalanced {ch!r}")
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if depth or quote:
        raise UserError(f"--grid {text!r}: unclosed {'quote' if quote else 'bracket'}")
    out.append("".join(cur).strip())
    return out


def _check_path(path: str, source: str) -> str:
    keys = path.strip().split(".")
    if not path.strip() or any(not k or k != k.strip() or " " in k for k in keys):
        raise UserError(f"{source}: {path!r} is not a field path like policy.kind or network.cells.0.bandwidth_hz")
    if keys == ["seed"]:
        raise UserError(f"{source}: the seed is not a grid axis; give the number of seeds with --seeds")
    return path.strip()


def _axis(path: str, values: list[str], source: str) -> Axis:
    path = _check_path(path, source)
    if not values or any(v == "" for v in values):
        raise UserError(f"{source}: every value must be non-empty (got {', '.join(map(repr, values)) or 'none'})")
    if len(set(values)) != len(values):
        raise UserError(f"{source}: a value is repeated ({', '.join(values)})")
    return Axis(path, tuple(values))


def parse_grid(text: str) -> Axis:
    """`policy.kind=local,edge,heft` -> Axis; values are split on top-level commas and read as YAML later."""
    if "=" not in text:
        raise UserError(f"--grid expects path=value1,value2,..., got {text!r}")
    path, _, values = text.partition("=")
    return _axis(path, split_values(values), f"--grid {text!r}")


def value_text(value: Any) -> str:
    """A sweep file's YAML value as an override text that reads back as the same value."""
    if isinstance(value, str):
        try:
            if yaml.safe_load(value) == value:
                return value
        except yaml.YAMLError:
            pass
    return json.dumps(value)  # JSON is YAML: numbers, quoted strings, lists and mappings read back as written


def _seeds(value: Any, source: str) -> list[int] | int:
    if isinstance(value, bool) or not isinstance(value, int | list):
        raise UserError(f"{source}: seeds must be a count (an integer >= 1) or a list of seeds, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise UserError(f"{source}: seeds must be 1 or more, got {value}")
        return value
    if not value or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in value):
        raise UserError(f"{source}: a list of seeds must hold integers >= 0, got {value!r}")
    if len(set(value)) != len(value):
        raise UserError(f"{source}: a seed is repeated in {value!r}")
    return list(value)


def read_sweep_file(path: Path) -> SweepSpec | None:
    """The spec in a sweep file (a YAML mapping with a `scenario:` key), or None when `path` is not one."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None  # not a readable YAML mapping: load_scenario reports what is wrong with it
    if not isinstance(data, dict) or "scenario" not in data:
        return None
    src = str(path)
    unknown = sorted(set(data) - set(SWEEP_KEYS))
    if unknown:
        raise UserError(f"unknown key {unknown[0]!r} in a sweep file (known: {', '.join(SWEEP_KEYS)})", src)
    grid = data.get("grid") or {}
    if not isinstance(grid, dict):
        raise UserError("grid: must map field paths to lists of values", src)
    axes = []
    for key, values in grid.items():
        if not isinstance(values, list):
            raise UserError(f"grid: {key}: must be a list of values, got {values!r}", src)
        axes.append(_axis(str(key), [value_text(v) for v in values], f"{src}: grid: {key}"))
    fixed = data.get("set") or {}
    if not isinstance(fixed, dict):
        raise UserError("set: must map field paths to values", src)
    metrics = data.get("metrics", list(DEFAULT_METRICS))
    if not isinstance(metrics, list) or not all(isinstance(m, str) and m for m in metrics):
        raise UserError(f"metrics: must be a list of summary paths such as latency_s.p95, got {metrics!r}", src)
    out = data.get("out")
    return SweepSpec(
        scenario=path.parent / str(data["scenario"]),  # relative to the sweep file, wherever it is run from
        axes=axes,
        seeds=_seeds(data.get("seeds", 1), f"{src}: seeds"),
        overrides=[f"{_check_path(str(k), f'{src}: set')}={value_text(v)}" for k, v in fixed.items()],
        metrics=list(metrics),
        out=Path(out) if out else None,
        records=str(data.get("records", "none")),
    )


def build_spec(
    target: Path,
    grid: list[str] | None = None,
    overrides: list[str] | None = None,
    seeds: int | None = None,
    metrics: list[str] | None = None,
    records: str | None = None,
) -> SweepSpec:
    """A spec from a scenario or sweep file plus command-line options: `grid` axes replace the file's axes of
    the same path or are added, `overrides` come after the file's `set:`, `seeds` and `metrics` replace."""
    spec = read_sweep_file(target) or SweepSpec(scenario=target)
    for text in grid or []:
        axis = parse_grid(text)
        spec.axes = [a for a in spec.axes if a.path != axis.path] + [axis]
    for text in overrides or []:
        if "=" not in text:
            raise UserError(f"--set expects key.path=value, got {text!r}")
        spec.overrides.append(text)
    if seeds is not None:
        spec.seeds = _seeds(seeds, "--seeds")
    if metrics:
        spec.metrics = list(metrics)
    if records is not None:
        spec.records = records
    if spec.records not in RECORDS:
        raise UserError(f"records must be one of {', '.join(RECORDS)}, got {spec.records!r}")
    return spec


def point_id(point: dict[str, str]) -> str:
    """A readable, stable name for a grid point: its values' letters and digits plus a hash of path=value pairs
    (so `5 MHz` and `5MHz`, or the same values on other axes, never share a name)."""
    if not point:
        return "base"
    digest = hashlib.sha1(json.dumps(sorted(point.items())).encode()).hexdigest()[:6]
    slug = "_".join(re.sub(r"[^A-Za-z0-9.+-]+", "", v)[:24] or "v" for v in point.values())[:80]
    return f"{slug}-{digest}"


def _resolved(data: Any, path: str) -> Any:
    for key in path.split("."):
        if isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        elif isinstance(data, dict):
            data = data.get(key)
        else:
            return None
    return data


def plan(spec: SweepSpec) -> Plan:
    """Validate every grid point's scenario (UserError naming the point otherwise) and list the runs."""
    base = load_scenario(spec.scenario, spec.overrides)
    seeds = list(range(base.seed, base.seed + spec.seeds)) if isinstance(spec.seeds, int) else list(spec.seeds)
    runs: list[PlannedRun] = []
    resolved: dict[str, dict[str, Any]] = {a.path: {} for a in spec.axes}
    for values in itertools.product(*(a.values for a in spec.axes)):
        point = dict(zip((a.path for a in spec.axes), values, strict=True))
        sets = [f"{k}={v}" for k, v in point.items()]
        try:
            sc = load_scenario(spec.scenario, spec.overrides + sets)
        except UserError as err:
            raise UserError(f"grid point {', '.join(sets)}: {err}") from None
        dump = sc.model_dump(mode="json")
        for k, v in point.items():
            resolved[k][v] = _resolved(dump, k)
        pid = point_id(point)
        # The seed is the only field that differs between a point's runs; copying skips re-reading the file.
        runs += [PlannedRun(f"{pid}-s{s}", point, s, sc.model_copy(update={"seed": s})) for s in seeds]
    numeric = {
        path: {k: float(v) for k, v in values.items()}
        for path, values in resolved.items()
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values.values())
    }
    return Plan(spec, runs, seeds, numeric)
