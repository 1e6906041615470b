"""The Python API and custom policies: load and run from files and mappings, a policy written outside the
package on both engines, and the errors a user gets for a wrong class path or bad params."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import edgesplit
from edgesplit.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "scenarios" / "smoke.yaml"

POLICY_SOURCE = '''
from edgesplit import LOCAL, Policy


class BiggestInputsAway(Policy):
    """Tasks whose input is at least `threshold` bytes go to the edge server with the earliest estimated
    finish; the rest stay local."""

    name = "biggest-inputs-away"

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def place(self, task, view):
        if task.input_bytes < self.threshold:
            return LOCAL
        return min(view.edge_servers, key=lambda s: view.estimate(task, s)[0])
'''


def _scenario_with_policy(tmp_path: Path, policy: dict) -> Path:
    """smoke.yaml with `policy` in a folder of its own (beside a policies/ folder holding the class)."""
    (tmp_path / "policies").mkdir(exist_ok=True)
    (tmp_path / "policies" / "mine.py").write_text(POLICY_SOURCE)
    doc = yaml.safe_load(SMOKE.read_text())
    doc["policy"] = policy
    doc["fleet"]["edge_servers"][0]["count"] = 2
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_load_and_run_from_a_file_and_a_mapping() -> None:
    """Overrides as Python values or as --set strings give the same scenario; a mapping runs like a file."""
    a = edgesplit.load_scenario(SMOKE, overrides={"policy.kind": "heft", "fleet.devices.0.count": 2})
    b = edgesplit.load_scenario(SMOKE, overrides=["policy.kind=heft", "fleet.devices.0.count=2"])
    assert a == b and a.policy.kind == "heft" and a.fleet.devices[0].count == 2
    from_dict = edgesplit.load_scenario(yaml.safe_load(SMOKE.read_text()), overrides={"policy.kind": "heft"})
    r1 = edgesplit.run(from_dict, overrides={"fleet.devices.0.count": 2})
    r2 = edgesplit.run(a)
    assert r1.records() == r2.records()
    table = r2.tasks
    assert table.num_rows == r2.summary["tasks"]["submitted"]
    frame = table.to_pandas()
    assert frame["placement"].tolist() == r2.columns["placement"]


def test_result_write_round_trips(tmp_path: Path) -> None:
    result = edgesplit.run(SMOKE, overrides={"outputs.plots": False})
    written = result.write(tmp_path / "out", records="parquet")
    assert {p.name for p in written} == {"tasks.parquet", "summary.json", "scenario.yaml"}
    again = edgesplit.load_scenario(tmp_path / "out" / "scenario.yaml")
    assert again == result.scenario
    import pyarrow.parquet as pq

    assert pq.read_table(tmp_path / "out" / "tasks.parquet").equals(result.tasks)


@pytest.mark.parametrize("where", ["file", "module"])
def test_a_custom_policy_runs_the_same_on_both_engines(
    tmp_path: Path, ray_session: None, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`class: policies/mine.py:...` is relative to the scenario file (or a module on the path); the class's
    decisions are visible in the records (big inputs away, small ones local) and the Ray engine, whose shards
    get the code shipped with them, gives the same records."""
    ref = "policies/mine.py:BiggestInputsAway"
    if where == "module":
        (tmp_path / "shipped_pkg").mkdir()
        (tmp_path / "shipped_pkg" / "__init__.py").write_text(POLICY_SOURCE)
        monkeypatch.syspath_prepend(str(tmp_path))
        ref = "shipped_pkg:BiggestInputsAway"
    path = _scenario_with_policy(tmp_path, {"kind": "custom", "class": ref, "params": {"threshold": 5e5}})
    sim = edgesplit.run(path)
    ray = edgesplit.run(path, overrides=["engine.kind=ray", "engine.shards=2"])
    assert sim.records() == ray.records()
    placed = [r for r in sim.records() if r["placement"] != "none"]
    assert {r["placement"] for r in placed if r["input_bytes"] >= 5e5} <= {"edge-0", "edge-1"}
    assert {r["placement"] for r in placed if r["input_bytes"] < 5e5} == {"local"}
    assert {"edge-0", "edge-1"} <= {r["placement"] for r in placed}


def test_a_custom_policy_from_a_module_and_the_shipped_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "rules.py").write_text(POLICY_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = {"kind": "custom", "class": "mypkg.rules:BiggestInputsAway", "params": {"threshold": 5e5}}
    by_module = edgesplit.run(SMOKE, overrides={"policy": spec})
    file_path = _scenario_with_policy(tmp_path, {**spec, "class": "policies/mine.py:BiggestInputsAway"})
    by_file = edgesplit.run(file_path, overrides={"fleet.edge_servers.0.count": 1})
    assert by_module.records() == by_file.records()
    example = {"kind": "custom", "class": str(ROOT / "examples" / "my_policy.py") + ":ThriftyPolicy"}
    thrifty = edgesplit.run(SMOKE, overrides={"policy": example})
    assert 0.0 < thrifty.summary["offload_ratio"] < 1.0


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"kind": "custom", "class": "no_such_module:X"}, "cannot import module 'no_such_module'"),
        ({"kind": "custom", "class": "policies/mine.py:Nope"}, "has no 'Nope'"),
        ({"kind": "custom", "class": "policies/absent.py:X"}, "no such file"),
        ({"kind": "custom", "class": "edgesplit.scenario:Scenario"}, "is not a subclass of edgesplit.policies.Policy"),
        ({"kind": "custom", "class": "policies/mine.py:BiggestInputsAway"}, "missing a required argument: 'threshold'"),
        ({"kind": "custom", "class": "policies/mine.py:BiggestInputsAway", "params": {"t": 1}}, "do not fit"),
        ({"kind": "custom"}, "needs policy.class"),
        ({"kind": "frobnicate"}, "unknown policy kind 'frobnicate'"),
    ],
)
def test_policy_mistakes_are_one_clear_line(tmp_path: Path, policy: dict, message: str) -> None:
    path = _scenario_with_policy(tmp_path, policy)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        edgesplit.load_scenario(path)
    assert str(err.value).startswith(f"{path}:")  # names the file and line


def test_the_cli_exits_2_with_one_line_for_a_wrong_class_path(tmp_path: Path) -> None:
    path = _scenario_with_policy(tmp_path, {"kind": "custom", "class": "policies/mine.py:Nope"})
    cli = [sys.executable, "-c", "from edgesplit.cli import main; main()", "scenario", "run", str(path)]
    cli += ["--out", str(tmp_path / "o")]
    out = subprocess.run(cli, capture_output=True, text=True)
    assert out.returncode == 2
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "has no 'Nope'" in lines[0], out.stderr
    assert not (tmp_path / "o").exists()


def test_a_policy_registered_by_an_installed_package_is_named_by_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A distribution on the path that declares `[edgesplit.policies] big-inputs = ...` makes `kind: big-inputs`
    a policy kind, built with `params` like a custom class."""
    (tmp_path / "regpkg").mkdir()
    (tmp_path / "regpkg" / "__init__.py").write_text(POLICY_SOURCE)
    info = tmp_path / "regpkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: regpkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[edgesplit.policies]\nbig-inputs = regpkg:BiggestInputsAway\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registered = edgesplit.run(SMOKE, overrides={"policy": {"kind": "big-inputs", "params": {"threshold": 5e5}}})
    custom = {"kind": "custom", "class": "regpkg:BiggestInputsAway", "params": {"threshold": 5e5}}
    assert registered.records() == edgesplit.run(SMOKE, overrides={"policy": custom}).records()
    with pytest.raises(UserError, match="missing a required argument"):
        edgesplit.load_scenario(SMOKE, overrides={"policy.kind": "big-inputs"})
