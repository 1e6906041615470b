"""deploy/ for monitoring: promtool checks the config, rules, rule unit tests and the metric names; Grafana files."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from edgesplit.engines.factory import prepare
from edgesplit.metrics import FleetMetrics, MetricsObserver, iter_samples
from edgesplit.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
PROM = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (Debian package `prometheus`; `make system-deps`)"
)


def promtool(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> str:
    r = subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True, text=True, timeout=60, cwd=cwd)  # type: ignore[list-item]
    assert r.returncode == 0, f"promtool {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r.stdout + r.stderr


@needs_promtool
def test_promtool_check_config() -> None:
    out = promtool("check", "config", str(PROM / "prometheus.yml"))
    assert "SUCCESS" in out and "rule files found" in out


@needs_promtool
def test_promtool_check_rules() -> None:
    rules = sorted((PROM / "rules").glob("*.yml"))
    assert rules
    out = promtool("check", "rules", *map(str, rules))
    assert "SUCCESS" in out


@needs_promtool
def test_promtool_test_rules() -> None:
    tests = sorted((PROM / "tests").glob("*.yml"))
    assert tests
    assert "SUCCESS" in promtool("test", "rules", *map(str, tests))
    # Every alert has unit tests that see it fire.
    alerts = {r["alert"] for f in (PROM / "rules").glob("*.yml") for g in yaml.safe_load(f.read_text())["groups"]
              for r in g["rules"] if "alert" in r}  # fmt: skip
    tested = {
        case["alertname"]
        for f in tests
        for t in yaml.safe_load(f.read_text())["tests"]
        for case in t.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert (
        alerts
        == tested
        == {
            "EdgesplitDeadlineMissRateHigh",
            "EdgesplitLowBattery",
            "EdgesplitEdgeServerSaturated",
            "EdgesplitEdgeServerDown",
        }
    )


@needs_promtool
def test_metric_names_follow_prometheus_conventions() -> None:
    # promtool's linter on a real exposition: the fleet after a run plus every component metric.
    metrics = FleetMetrics()
    prepare(load_scenario(ROOT / "scenarios" / "smoke.yaml"), [MetricsObserver(metrics)]).run()
    metrics.record_cache(True)
    metrics.record_cache(False)
    metrics.record_cascade_b()
    metrics.record_rpc("Infer", "OK", 100, 10, 0.01)
    text = metrics.exposition().decode()
    assert text.count("# TYPE edgesplit_") >= 25
    promtool("check", "metrics", stdin=text)
    # What the dashboards' check relies on: FleetMetrics.metric_names() lists exactly the exposed edgesplit names.
    # (prometheus-client adds a `_created` timestamp to each of its own counters and histograms.)
    exposed = {n for n, _, _ in iter_samples(text) if n.startswith("edgesplit_") and not n.endswith("_created")}
    assert exposed == FleetMetrics.metric_names()


def test_grafana_provisioning_points_at_the_dashboards() -> None:
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "edgesplit-prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "edgesplit.yml").read_text())
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    mounts = {v.split(":")[1]: v.split(":")[0] for v in compose["services"]["grafana"]["volumes"]}
    dash_dir = provider["providers"][0]["options"]["path"]
    assert (DEPLOY / mounts[dash_dir]).resolve() == (GRAFANA / "dashboards").resolve()
    assert (DEPLOY / mounts["/etc/grafana/provisioning"]).resolve() == (GRAFANA / "provisioning").resolve()
    prom_mount = compose["services"]["prometheus"]["volumes"][0].split(":")
    assert (DEPLOY / prom_mount[0]).resolve() == PROM.resolve() and prom_mount[1] == "/etc/prometheus"
    uids = set()
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        uids.add(dashboard["uid"])
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                assert target["datasource"]["uid"] == uid, (path.name, panel["title"])
    assert {"edgesplit-fleet", "edgesplit-components"} <= uids
