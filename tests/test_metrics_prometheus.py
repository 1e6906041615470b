"""End to end: a real Prometheus scrapes `edgesplit scenario run --metrics-port`, and every dashboard panel has data.

Grafana cannot run here, so the test does what Grafana does with each panel: it substitutes Grafana's
variables into the panel's PromQL and runs it as a range query over the run (Prometheus's HTTP API):
  $__interval      -> the query step, 1s (= the scrape interval, the datasource's minimum interval)
  $__rate_interval -> max($__interval + scrape interval, 4 x scrape interval) = 4s, Grafana's formula
  $__range         -> the run's duration in seconds
  $device_class    -> .*  (the "All" value of the dashboard's multi-value variable)
A panel has data when at least one of its series has at least one finite value.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import PrometheusServer

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "scenarios" / "smoke.yaml"
DASHBOARDS = ROOT / "deploy" / "grafana" / "dashboards"
FLEET = DASHBOARDS / "edgesplit-fleet.json"
PACE = 12.0  # smoke.yaml simulates ~78 s: ~6.5 s of wall time, six or so scrapes while it runs
ALERTS = {
    "EdgesplitDeadlineMissRateHigh",
    "EdgesplitLowBattery",
    "EdgesplitEdgeServerSaturated",
    "EdgesplitEdgeServerDown",
}


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel of a dashboard, those nested in collapsed rows included."""
    out = []
    for p in dashboard["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def grafana_expr(expr: str, step_s: int, scrape_s: int, range_s: int) -> str:
    """Substitute Grafana's built-in and dashboard variables the way Grafana does (see the module docstring)."""
    interval = max(step_s, scrape_s)
    rate_interval = max(interval + scrape_s, 4 * scrape_s)
    subs = {
        "$__rate_interval": f"{rate_interval}s",
        "$__interval": f"{interval}s",
        "$__range": f"{range_s}s",
        "$device_class": ".*",
    }
    for var, value in subs.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unsubstituted variable in {expr}"
    return expr


def has_finite_value(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(v)) for series in result for _, v in series["values"])


def test_every_fleet_panel_has_data_and_energy_matches_summary(prometheus: PrometheusServer, tmp_path: Path) -> None:
    out = tmp_path / "run"
    port = prometheus.target_port
    cmd = [
        sys.executable,
        "-c",
        "from edgesplit.cli import main; main()",
        *("scenario", "run", str(SMOKE), "--out", str(out), "--quiet", "--set", "outputs.plots=false"),
        *("--metrics-port", str(port), "--pace", str(PACE), "--hold"),
    ]
    start = time.time()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        # The run ends, its final snapshot is scraped, and one more scrape lands while --hold keeps it up.
        prometheus.wait_for(f'edgesplit_run_finished{{instance="127.0.0.1:{port}"}}', 90, ok=lambda v: v == 1.0)
        time.sleep(prometheus.scrape_interval_s + 0.5)
        end = time.time()
        assert proc.poll() is None, proc.communicate()[0]  # still holding
        summary = json.loads((out / "summary.json").read_text())

        # The headline figures equal summary.json's. Every scrape after `edgesplit_run_finished` = 1 serves the
        # final snapshot (published after the run's accounting, held by --hold), so the instant queries below
        # read the summary's own floats: the exposition writes them with repr (17 significant digits) and
        # Prometheus parses them back to the same float64. Only sum()'s order of addition over the series differs
        # from the summary's, a few ulps; hence 1e-12, the in-process test's tolerance, not 1 %.
        instance = f'instance="127.0.0.1:{port}"'
        total = prometheus.value(f"sum(edgesplit_device_class_energy_joules_total{{{instance}}})")
        expected = summary["energy_j"]["device_total"]
        assert total == pytest.approx(expected, rel=1e-12)
        per_device = prometheus.value(f"sum(edgesplit_device_energy_joules_total{{{instance}}})")
        assert per_device == pytest.approx(expected, rel=1e-12)  # 6 devices <= the default top 20: all present
        active = prometheus.value(f"sum(edgesplit_device_class_active_energy_joules_total{{{instance}}})")
        assert active == pytest.approx(summary["energy_j"]["device_active"], rel=1e-12)
        for part in ("device_active", "device_total", "server"):
            per_task = prometheus.value(f'edgesplit_energy_per_completed_task_joules{{{instance},part="{part}"}}')
            assert per_task == pytest.approx(summary["energy_j"]["per_task"][f"{part}_mean_j"], rel=1e-12)
        ended = prometheus.value(f"sum(edgesplit_tasks_total{{{instance}}})")
        assert ended == summary["tasks"]["submitted"]

        # Every PromQL expression of every panel of the fleet dashboard returns data over the run.
        dashboard = json.loads(FLEET.read_text())
        range_s = math.ceil(end - start)
        empty, checked = [], 0
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                expr = grafana_expr(target["expr"], 1, prometheus.scrape_interval_s, range_s)
                checked += 1
                if not has_finite_value(prometheus.query_range(expr, start, end, step_s=1)):
                    empty.append(f"{panel['title']!r} [{target['refId']}]: {expr}")
        assert checked >= 20
        assert not empty, "panels without data:\n" + "\n".join(empty)

        # The dashboard's device-class variable (label_values(...)) finds both classes of the smoke fleet.
        variable = dashboard["templating"]["list"][0]
        metric, label = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["definition"]).groups()
        values = prometheus.api(f"label/{label}/values", **{"match[]": metric, "start": start, "end": end})
        assert set(values) >= {"phone", "pi"}

        # The deploy/ alert rules are loaded and evaluate without errors against the live series.
        rules = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
        assert ALERTS <= {r["name"] for r in rules if r["type"] == "alerting"}
        assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
    assert f"serving metrics on http://127.0.0.1:{port}/metrics" in output
    assert "press Ctrl-C to stop" in output and "stopped serving metrics" in output


COMPONENTS = DASHBOARDS / "edgesplit-components.json"
RPC_ROW = "Split computing RPC"


def test_components_dashboard_queries_are_valid(prometheus: PrometheusServer) -> None:
    # Prometheus parses and evaluates each query (an empty result is fine; a syntax error fails the API call).
    # The cache and cascade panels' series come from `cascade` scenarios (tests/test_cascade_scenario.py checks
    # them against the summary); the RPC panels get data in the test below.
    now = time.time()
    exprs = [t["expr"] for p in panels(json.loads(COMPONENTS.read_text())) for t in p.get("targets", [])]
    assert len(exprs) >= 6
    for expr in exprs:
        prometheus.query_range(grafana_expr(expr, 1, prometheus.scrape_interval_s, 60), now - 60, now)


def row_panels(dashboard: dict[str, Any], title: str) -> list[dict[str, Any]]:
    """The panels of the (expanded) row `title`: those after it up to the next row."""
    out, inside = [], False
    for p in dashboard["panels"]:
        if p["type"] == "row":
            inside = p["title"] == title
            out.extend(p.get("panels", []) if inside else [])  # a collapsed row holds its panels
        elif inside:
            out.append(p)
    return out


def test_components_rpc_panels_against_real_rpc_traffic(prometheus: PrometheusServer, model_dir: Path) -> None:
    """A real edge server on 127.0.0.1 records its RPCs into the exporter Prometheus scrapes; a real client sends
    unary calls (some to a model the server lacks) and a stream for about five scrape intervals. Every RPC panel
    has data, its series are the methods, codes and directions that happened, and Prometheus's totals are the
    client's own tally (the client counts what it sent and got back, the server what it received and sent)."""
    import numpy as np

    from edgesplit.metrics import FleetMetrics, start_exporter
    from edgesplit.rpc.client import EdgeClient
    from edgesplit.rpc.results import Request
    from edgesplit.rpc.server import EdgeServer

    server_metrics, client_metrics = FleetMetrics(process_metrics=False), FleetMetrics(process_metrics=False)
    rng = np.random.default_rng(0)
    shape = (1, 4, 8, 8)  # the tiny model's bottleneck (conftest's model_dir)
    instance = f'instance="127.0.0.1:{prometheus.target_port}"'
    start = time.time()
    with (
        start_exporter(prometheus.target_port, metrics=server_metrics),
        EdgeServer(model_dir, on_rpc=server_metrics.record_rpc) as srv,
        EdgeClient([srv.address], on_rpc=client_metrics.record_rpc) as client,
    ):
        codes = []
        for i in range(100):  # 100 x 45 ms: about 4.5 s, so every 4 s rate() window holds several scrapes
            model = "nope" if i % 5 == 4 else "tiny"
            codes.append(client.infer(model, rng.random(shape, dtype=np.float32), request_id=f"u{i}").code)
            if i == 50:
                items = [Request("tiny", rng.random(shape, dtype=np.float32), request_id=f"s{k}") for k in range(8)]
                codes += [r.code for r in client.infer_stream(items)]
            time.sleep(0.045)
        assert codes.count("OK") == 88 and codes.count("NOT_FOUND") == 20
        # Wait for a scrape that has every RPC, then take the run's range up to now.
        prometheus.wait_for(f"sum(edgesplit_rpc_requests_total{{{instance}}})", 20, ok=lambda v: v == 108)
        end = time.time()

    def series(expr: str) -> dict[tuple[str, ...], list[tuple[float, float]]]:
        result = prometheus.query_range(expr, start, end, step_s=1)
        labels = lambda m: tuple(sorted(m.items()))  # noqa: E731
        return {labels(r["metric"]): [(float(t), float(v)) for t, v in r["values"]] for r in result}

    dashboard = json.loads(COMPONENTS.read_text())
    rpc = {p["title"]: p for p in row_panels(dashboard, RPC_ROW)}
    assert set(rpc) == {"RPC requests by method and code", "RPC bytes", "RPC latency p50 / p95 / p99"}
    range_s = math.ceil(end - start)
    got = {
        (title, t["refId"]): series(grafana_expr(t["expr"], 1, prometheus.scrape_interval_s, range_s))
        for title, p in rpc.items()
        for t in p["targets"]
    }
    empty = [key for key, result in got.items() if not has_finite_value([{"values": v} for v in result.values()])]
    assert not empty, f"RPC panels without data: {empty}"

    # The series are exactly what happened: two codes of Infer, InferStream, and bytes both ways.
    requests = got[("RPC requests by method and code", "A")]
    assert set(requests) == {
        (("code", "OK"), ("method", "Infer")),
        (("code", "NOT_FOUND"), ("method", "Infer")),
        (("code", "OK"), ("method", "InferStream")),
    }
    assert set(got[("RPC bytes", "A")]) == {
        (("direction", d), ("method", m)) for d in ("sent", "received") for m in ("Infer", "InferStream")
    }
    # Quantiles of one histogram at one instant are ordered, and inside the buckets' range.
    latency = {ref: dict(next(iter(got[("RPC latency p50 / p95 / p99", ref)].values()))) for ref in "ABC"}
    both = [t for t in latency["A"] if all(math.isfinite(latency[r].get(t, math.nan)) for r in "ABC")]
    assert both, "no instant with all three latency quantiles"
    for t in both:
        assert 0 < latency["A"][t] <= latency["B"][t] <= latency["C"][t] <= 10.0

    # Prometheus's totals are the client's tally: what the client sent the server received, and back.
    value = client_metrics.registry.get_sample_value
    for (method, code), n in {("Infer", "OK"): 80, ("Infer", "NOT_FOUND"): 20, ("InferStream", "OK"): 8}.items():
        sel = f'{instance},method="{method}",code="{code}"'
        assert (
            prometheus.value(f"edgesplit_rpc_requests_total{{{sel}}}")
            == n
            == value("edgesplit_rpc_requests_total", {"method": method, "code": code})
        )
    for method in ("Infer", "InferStream"):
        for server_side, client_side in (("received", "sent"), ("sent", "received")):
            on_server = prometheus.value(
                f'edgesplit_rpc_bytes_total{{{instance},method="{method}",direction="{server_side}"}}'
            )
            assert on_server == value("edgesplit_rpc_bytes_total", {"method": method, "direction": client_side}) > 0
    assert prometheus.value(f"sum(edgesplit_rpc_latency_seconds_count{{{instance}}})") == 108
