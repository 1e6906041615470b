"""edgesplit.metrics without Prometheus: values against summary.json, the device cap, merging, exporter, CLI."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgesplit.cli import scenario as scenario_cli
from edgesplit.engines.factory import prepare
from edgesplit.errors import UserError
from edgesplit.metrics import (
    FLEET_METRICS,
    LATENCY_BUCKETS_S,
    FleetMetrics,
    FleetSnapshot,
    MetricsObserver,
    iter_samples,
    merge_snapshots,
    metrics_of,
    start_exporter,
)
from edgesplit.metrics.observer import _queued
from edgesplit.results import RunResult
from edgesplit.run import run_scenario
from edgesplit.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "scenarios" / "smoke.yaml"
STAR = ROOT / "scenarios" / "star_offload.yaml"
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))


def observed_run(path: Path, *overrides: str, top_devices: int = 20) -> tuple[RunResult, FleetMetrics]:
    metrics = FleetMetrics(top_devices=top_devices, process_metrics=False)
    engine = prepare(load_scenario(path, list(overrides)), [MetricsObserver(metrics)])
    assert metrics_of(engine) is metrics
    return engine.run(), metrics


def samples(metrics: FleetMetrics) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Parse the registry's real exposition text: name -> [(labels, value)]."""
    out: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for name, labels, value in iter_samples(metrics.exposition().decode()):
        out[name].append((labels, value))
    return out


def total(series: list[tuple[dict[str, str], float]], **match: str) -> float:
    return sum(v for labels, v in series if all(labels.get(k) == want for k, want in match.items()))


def test_final_values_match_the_summary() -> None:
    result, metrics = observed_run(SMOKE)
    s, got = result.summary, samples(metrics)
    energy = s["energy_j"]
    assert total(got["edgesplit_device_class_energy_joules_total"]) == pytest.approx(energy["device_total"], rel=1e-12)
    for cls, parts in energy["device_by_class"].items():
        for component in ("compute", "radio", "idle"):
            mine = total(got["edgesplit_device_class_energy_joules_total"], device_class=cls, component=component)
            assert mine == pytest.approx(parts[component], rel=1e-12)
    # Six devices, below the cap of 20: every device has its own series, and they add up to the same total.
    per_device = got["edgesplit_device_energy_joules_total"]
    assert {labels["device"] for labels, _ in per_device} == {d["device"] for d in energy["per_device"]}
    for d in energy["per_device"]:
        assert total(per_device, device=d["device"]) == pytest.approx(d["total"], rel=1e-12)
        if "battery_left_j" in d:
            assert total(got["edgesplit_device_battery_joules"], device=d["device"]) == pytest.approx(
                d["battery_left_j"]
            )
    assert total(got["edgesplit_server_energy_joules_total"]) == pytest.approx(energy["server_total"], rel=1e-12)

    tasks = s["tasks"]
    for outcome in ("completed", "failed", "dropped"):
        assert total(got["edgesplit_tasks_total"], outcome=outcome, policy=s["policy"]) == tasks[outcome]
    assert total(got["edgesplit_task_latency_seconds_count"]) == tasks["completed"]
    latency_sum = total(got["edgesplit_task_latency_seconds_sum"])
    assert latency_sum == pytest.approx(s["latency_s"]["mean"] * tasks["completed"], rel=1e-9)
    inf_buckets = [(labels, v) for labels, v in got["edgesplit_task_latency_seconds_bucket"] if labels["le"] == "+Inf"]
    assert total(inf_buckets) == tasks["completed"]
    misses = total(got["edgesplit_task_deadline_misses_total"])
    assert misses == round(s["task_deadline_miss_rate"] * tasks["completed"])
    for target, n in s["placements"].items():
        assert total(got["edgesplit_offload_decisions_total"], target=target) == n
    assert got["edgesplit_sim_time_seconds"][0][1] == s["sim_time_s"]
    assert got["edgesplit_sim_events_total"][0][1] == s["events"]
    assert got["edgesplit_run_finished"][0][1] == 1.0
    assert got["edgesplit_run_info"][0][0] == {"scenario": "smoke", "policy": s["policy"], "engine": "sim", "seed": "1"}
    uplink = total(got["edgesplit_link_bytes_total"], direction="uplink")
    assert uplink > 0 and total(got["edgesplit_link_bytes_total"], direction="downlink") > 0


def test_observing_a_run_does_not_change_it() -> None:
    sc = load_scenario(SMOKE)
    plain = run_scenario(sc)
    observed, _ = observed_run(SMOKE)
    for r in (plain, observed):
        r.summary.pop("wall_s")
    assert observed.summary == plain.summary
    assert json.dumps(observed.columns, default=str) == json.dumps(plain.columns, default=str)


def test_per_device_series_are_capped_to_the_top_energy_devices() -> None:
    # 100 devices, 2 kept: those with the most energy; the class aggregates still cover all 100.
    result, metrics = observed_run(STAR, top_devices=2)
    got = samples(metrics)
    per_device = result.summary["energy_j"]["per_device"]
    top2 = {d["device"] for d in sorted(per_device, key=lambda d: d["total"], reverse=True)[:2]}
    for name in ("edgesplit_device_energy_joules_total", "edgesplit_device_queue_length"):
        assert {labels["device"] for labels, _ in got[name]} == top2
    assert total(got["edgesplit_device_class_devices"]) == 100
    assert total(got["edgesplit_device_class_energy_joules_total"]) == pytest.approx(
        result.summary["energy_j"]["device_total"], rel=1e-12
    )
    _, none = observed_run(STAR, "fleet.devices.0.count=3", "workload.synthetic.iterations=2", top_devices=0)
    assert "edgesplit_device_energy_joules_total" not in samples(none)


def test_tasks_dropped_at_the_stop_time_are_counted() -> None:
    # Stopping early drops tasks that were never released (no on_task_end for them): the final recount has them.
    result, metrics = observed_run(SMOKE, "stop.max_time_s=5")
    tasks = result.summary["tasks"]
    assert tasks["dropped"] > 0
    got = samples(metrics)
    assert total(got["edgesplit_tasks_total"]) == tasks["submitted"]
    assert total(got["edgesplit_tasks_total"], outcome="dropped") == tasks["dropped"]


def test_counters_only_grow_and_queues_are_counted_during_a_run() -> None:
    seen: list[FleetSnapshot] = []

    class Keep(MetricsObserver):
        def on_progress(self, engine) -> None:  # type: ignore[no-untyped-def]
            super().on_progress(engine)
            seen.append(self.metrics.snapshot)
            for node in (*engine.devices, *engine.servers):  # the non-popping count = Node.queue_length
                assert _queued(node, engine.now) == sum(1 for s in node.starts if s > engine.now)

        def on_end(self, engine, result) -> None:  # type: ignore[no-untyped-def]
            super().on_end(engine, result)
            seen.append(self.metrics.snapshot)

    sc = load_scenario(STAR, ["fleet.devices.0.count=20"])
    engine = prepare(sc, [Keep(FleetMetrics(process_metrics=False))])
    engine.progress_every = 500
    engine.run()
    assert len(seen) > 10
    counters = [m.name for m in FLEET_METRICS if m.kind == "counter"]
    for before, after in zip(seen, seen[1:], strict=False):
        for name in counters:
            for labels, v in before.values[name].items():
                assert after.values[name].get(labels, v) >= v, (name, labels)
        for labels, (counts, _) in before.latency.items():
            assert all(b >= a for a, b in zip(counts, after.latency[labels][0], strict=True))
    assert seen[-1].values["edgesplit_run_finished"][()] == 1.0
    assert seen[0].values["edgesplit_run_finished"][()] == 0.0


def test_merge_snapshots_makes_one_fleet() -> None:
    nb = len(LATENCY_BUCKETS_S) + 1
    a = FleetSnapshot(
        values={
            "edgesplit_device_energy_joules_total": {("a0", "phone", "compute"): 5.0, ("a1", "phone", "compute"): 1.0},
            "edgesplit_device_class_energy_joules_total": {("phone", "compute"): 6.0},
            "edgesplit_device_class_battery_min_ratio": {("phone",): 0.5},
            "edgesplit_sim_time_seconds": {(): 10.0},
            "edgesplit_run_finished": {(): 1.0},
        },
        latency={("p", "local", "phone"): ([1] + [0] * (nb - 1), 0.001)},
        info={"scenario": "s"},
    )
    b = FleetSnapshot(
        values={
            "edgesplit_device_energy_joules_total": {("b0", "pi", "compute"): 3.0},
            "edgesplit_device_class_energy_joules_total": {("phone", "compute"): 2.0, ("pi", "compute"): 3.0},
            "edgesplit_device_class_battery_min_ratio": {("phone",): 0.25},
            "edgesplit_sim_time_seconds": {(): 12.0},
            "edgesplit_run_finished": {(): 0.0},
        },
        latency={("p", "local", "phone"): ([0, 2] + [0] * (nb - 2), 0.004)},
    )
    m = merge_snapshots([a, b], top_devices=2)
    assert m.values["edgesplit_device_class_energy_joules_total"] == {("phone", "compute"): 8.0, ("pi", "compute"): 3.0}
    assert set(m.values["edgesplit_device_energy_joules_total"]) == {
        ("a0", "phone", "compute"),
        ("b0", "pi", "compute"),
    }
    assert m.values["edgesplit_device_class_battery_min_ratio"] == {("phone",): 0.25}
    assert m.values["edgesplit_sim_time_seconds"] == {(): 12.0}
    assert m.values["edgesplit_run_finished"] == {(): 0.0}  # not finished until every shard is
    counts, latency_sum = m.latency[("p", "local", "phone")]
    assert counts[:2] == [1, 2] and latency_sum == pytest.approx(0.005)
    assert m.info == {"scenario": "s"}


def test_energy_per_completed_task_matches_the_records() -> None:
    # A lossy cell: failed uploads spent radio energy but their tasks did not complete, so they count for nothing.
    result, metrics = observed_run(SMOKE, "network.cells.0.loss=0.3", "network.cells.0.max_retries=1")
    s, got, rows = result.summary, samples(metrics), result.records()
    energy = s["energy_j"]
    done = [r for r in rows if r["outcome"] == "completed"]
    assert 0 < len(done) < len(rows)
    for cls, by in energy["device_by_class"].items():
        active = total(got["edgesplit_device_class_active_energy_joules_total"], device_class=cls)
        assert active == pytest.approx(by["compute"] + by["radio"], rel=1e-12)
        mine = [r for r in done if r["device_class"] == cls]
        hand = {
            "device_active": sum(r["device_compute_j"] + r["device_radio_j"] for r in mine),
            "device_idle": sum(r["device_idle_j"] for r in mine),
            "server": sum(r["server_energy_j"] for r in mine),
        }
        for part, joules in hand.items():
            series = got["edgesplit_completed_task_energy_joules_total"]
            assert total(series, device_class=cls, part=part, policy=s["policy"]) == pytest.approx(joules, rel=1e-9)
    per_task = got["edgesplit_energy_per_completed_task_joules"]
    assert {labels["part"] for labels, _ in per_task} == {"device_active", "device_total", "server"}
    for part in ("device_active", "device_total", "server"):
        want = energy["per_task"][f"{part}_mean_j"]
        assert total(per_task, part=part, policy=s["policy"]) == pytest.approx(want, rel=1e-9)
    hand_active = sum(r["device_compute_j"] + r["device_radio_j"] for r in done) / len(done)
    assert total(per_task, part="device_active") == pytest.approx(hand_active, rel=1e-9)


def test_merge_recomputes_the_energy_per_completed_task() -> None:
    # Shard a: 2 completed tasks, 4 J active, 2 J idle; shard b: 6 tasks, 6 J active, 0 J idle, 12 J server.
    def shard(n: int, active: float, idle: float, server: float, per_task: float) -> FleetSnapshot:
        return FleetSnapshot(
            values={
                "edgesplit_tasks_total": {("p", "phone", "completed"): n, ("p", "phone", "failed"): 1},
                "edgesplit_completed_task_energy_joules_total": {
                    ("p", "phone", "device_active"): active,
                    ("p", "phone", "device_idle"): idle,
                    ("p", "phone", "server"): server,
                },
                "edgesplit_energy_per_completed_task_joules": {("p", "device_active"): per_task},
            }
        )

    m = merge_snapshots([shard(2, 4.0, 2.0, 0.0, 2.0), shard(6, 6.0, 0.0, 12.0, 1.0)])
    assert m.values["edgesplit_energy_per_completed_task_joules"] == {
        ("p", "device_active"): 10.0 / 8,
        ("p", "device_total"): 12.0 / 8,
        ("p", "server"): 12.0 / 8,
    }


def test_component_metrics_api() -> None:
    metrics = FleetMetrics(process_metrics=False)
    metrics.record_cache(True, n=3)
    metrics.record_cache(False)
    metrics.record_cascade_b(2)
    metrics.record_rpc("Infer", "OK", sent_bytes=1000, received_bytes=40, seconds=0.02)
    got = samples(metrics)
    assert total(got["edgesplit_cache_hits_total"], cache="memo") == 3
    assert total(got["edgesplit_cache_misses_total"], cache="memo") == 1
    assert total(got["edgesplit_cascade_second_model_invocations_total"]) == 2
    assert total(got["edgesplit_rpc_requests_total"], method="Infer", code="OK") == 1
    assert total(got["edgesplit_rpc_bytes_total"], direction="sent") == 1000
    assert total(got["edgesplit_rpc_bytes_total"], direction="received") == 40
    assert total(got["edgesplit_rpc_latency_seconds_count"], method="Infer") == 1
    with pytest.raises(ValueError):
        FleetMetrics(top_devices=-1)


def test_dashboards_use_only_exported_metrics() -> None:
    known = FleetMetrics.metric_names()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        exprs += [v["definition"] for v in dashboard.get("templating", {}).get("list", [])]
        assert exprs, path
        used = {name for e in exprs for name in re.findall(r"\b(edgesplit_\w+)", e)}
        assert used and used <= known, f"{path.name}: unknown metrics {used - known}"


def test_exporter_serves_the_registry_and_closes() -> None:
    result, metrics = observed_run(SMOKE)
    with start_exporter(0, metrics=metrics) as exporter:
        assert exporter.url == f"http://127.0.0.1:{exporter.port}/metrics"
        with urllib.request.urlopen(exporter.url, timeout=5) as resp:
            text = resp.read().decode()
        assert "edgesplit_device_class_energy_joules_total" in text
        assert "process_cpu_seconds_total" not in text  # process metrics off for this registry
        with pytest.raises(OSError):
            start_exporter(exporter.port)  # the port is taken
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", exporter.port), timeout=1):
        pass  # closed


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", "from edgesplit.cli import main; main()", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})


def test_cli_rejects_bad_live_options(tmp_path: Path) -> None:
    base = ("run", str(SMOKE), "--out", str(tmp_path), "-q")
    cases = [
        (("--pace", "-2"), "--pace must be a positive number"),
        (("--pace", "0"), "--pace must be a positive number"),
        (("--hold",), "--hold keeps the metrics exporter up after the run: give --metrics-port"),
        (("--metrics-port", "70000"), "--metrics-port must be between 0 and 65535"),
        (("--metrics-port", "0", "--metrics-top-devices", "-1"), "--metrics-top-devices must be 0 or more"),
    ]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        cases.append((("--metrics-port", port), f"cannot serve metrics on 127.0.0.1:{port}"))
        for extra, message in cases:  # in-process: the command raises the UserError the root CLI prints
            r = CliRunner().invoke(scenario_cli.app, [*base, *extra])
            assert isinstance(r.exception, UserError), (extra, r.output, r.exception)
            assert message in str(r.exception)
        # The real entry point: one message, exit code 2, no traceback.
        r = cli("scenario", *base, "--metrics-port", port)
        assert r.returncode == 2, (r.stdout, r.stderr)
        assert f"cannot serve metrics on 127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "summary.json").exists()


def test_cli_runs_with_an_exporter_and_pace(tmp_path: Path) -> None:
    # Port 0 picks a free port; without --hold the command ends after the run and closes the exporter.
    r = cli("scenario", "run", str(SMOKE), "--out", str(tmp_path), "-q", "--set", "outputs.plots=false",
            "--metrics-port", "0", "--pace", "1000")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert re.search(r"serving metrics on http://127\.0\.0\.1:\d+/metrics", r.stdout)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["wall_s"] >= summary["sim_time_s"] / 1000 * 0.9  # the pace held the run back
