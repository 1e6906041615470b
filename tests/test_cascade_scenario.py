"""The `cascade` workload in scenarios: a trained memoised cascade's requests become tasks on the event engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgesplit.cascade.workload import cascade_requests
from edgesplit.cli import cascade as cascade_cli
from edgesplit.errors import UserError
from edgesplit.run import run_scenario
from edgesplit.scenario import load_scenario

SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "cascade_mnist.yaml"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cascade")
    args = ["train", "--dataset", "digits", "--out", str(out), "--epochs-small", "10", "--epochs-large", "4"]
    result = CliRunner().invoke(cascade_cli.app, [*args, "--grid", "500", "--threads", "1"])
    assert result.exit_code == 0, result.output
    return out


def overrides(checkpoint: Path, *more: str) -> list[str]:
    return [f"workload.cascade.checkpoint={checkpoint}", "workload.cascade.requests=300", *more]


def test_summary_reports_the_cascade_outcomes(checkpoint: Path) -> None:
    result = run_scenario(load_scenario(SCENARIO, overrides(checkpoint)))
    requests = cascade_requests(checkpoint, 1.0, "none", 300, seed=1)
    c = result.summary["cascade"]
    assert c["requests"] == 300 == c["served"]
    assert c["cache_hit_ratio"] == pytest.approx(sum(r.cache_hit for r in requests) / 300)
    assert c["b_invocation_ratio"] == pytest.approx(sum(r.b_invoked for r in requests) / 300)
    assert c["accuracy"] == pytest.approx(sum(r.correct for r in requests) / 300)
    assert c["cache_hit_ratio"] > 0.3  # every sample shown twice: most repeats hit
    names = result.columns["task_name"]
    assert names.count("A") == 300 and names.count("B") == sum(r.b_invoked for r in requests)
    t = result.summary["tasks"]
    assert t["submitted"] == t["completed"] + t["failed"] + t["dropped"]


def test_model_b_on_the_device_never_offloads(checkpoint: Path) -> None:
    result = run_scenario(load_scenario(SCENARIO, overrides(checkpoint, "workload.cascade.model_b=device")))
    assert set(result.summary["placements"]) == {"local"}
    offloaded = run_scenario(load_scenario(SCENARIO, overrides(checkpoint, "policy.kind=edge")))
    b_places = {
        p for p, n in zip(offloaded.columns["placement"], offloaded.columns["task_name"], strict=True) if n == "B"
    }
    assert b_places == {"edge"}


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="holds no trained cascade"):
        load_scenario(SCENARIO, [f"workload.cascade.checkpoint={tmp_path}"])


def test_cache_and_model_b_metrics_match_the_summary(checkpoint: Path) -> None:
    from edgesplit.engines.factory import prepare
    from edgesplit.metrics import MetricsObserver

    observer = MetricsObserver()
    engine = prepare(load_scenario(SCENARIO, overrides(checkpoint)), observers=[observer])
    c = engine.run().summary["cascade"]
    value = observer.metrics.registry.get_sample_value
    hits = value("edgesplit_cache_hits_total", {"cache": "memo"})
    misses = value("edgesplit_cache_misses_total", {"cache": "memo"})
    b_runs = value("edgesplit_cascade_second_model_invocations_total", {"cascade": "default"})
    assert hits + misses == c["requests"]
    assert hits == pytest.approx(c["cache_hit_ratio"] * c["requests"])
    assert b_runs == pytest.approx(c["b_invocation_ratio"] * c["requests"])
