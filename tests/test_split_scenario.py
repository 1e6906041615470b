"""Split-DNN requests in scenarios: offline predictions in the sim engine, real tensors over gRPC in real time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgesplit.datasets import load_dataset
from edgesplit.errors import UserError
from edgesplit.rpc.testing import make_model_dir
from edgesplit.run import run_scenario
from edgesplit.scenario import load_scenario
from edgesplit.split.workload import dnn_jobs, predict, read_split_model

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "split_mnist.yaml"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random split model for 8x8 digits, with the FLOPs an export writes."""
    root = tmp_path_factory.mktemp("models")
    sub = make_model_dir(root, "tiny", image_shape=(1, 8, 8), bottleneck_channels=4, seed=3)
    (sub / "card.json").write_text(json.dumps({"head_flops": 2.0e5, "tail_flops": 3.0e6}))
    return root


def sets(models: Path, *more: str) -> list[str]:
    return [
        f"workload.dnn.models={models}",
        "workload.dnn.model_id=tiny",
        "workload.dnn.dataset=digits",
        "workload.dnn.requests=80",
        "workload.dnn.rate_per_s=40",
        "fleet.devices.0.count=2",
        "fleet.devices.1.count=2",
        "outputs.plots=false",
        *more,
    ]


def test_sim_summary_carries_offline_accuracy(models: Path) -> None:
    result = run_scenario(load_scenario(SCENARIO, sets(models)))
    d = result.summary["dnn"]
    t = result.summary["tasks"]
    assert t["submitted"] == 160 == t["completed"] + t["failed"] + t["dropped"]
    # The summary's accuracy is the split model's on the same images, through head, 8-bit codec and tail.
    sc = load_scenario(SCENARIO, sets(models))
    picks = [j.meta["image"] for j in dnn_jobs(sc.workload.dnn, sc.seed, 4, [1.0] * 4)]
    data = load_dataset("digits")
    pred = predict(read_split_model(models, "tiny"), data.x_test[picks], "q8")
    assert d["accuracy"] == pytest.approx(np.mean(pred == data.y_test[picks]))
    assert d["predictions_by"] == {"offline": 80}
    names = result.columns["task_name"]
    tails = [i for i, n in enumerate(names) if n == "tail"]
    assert {result.columns["input_bytes"][i] for i in tails} == {4 * 4 * 4 + 5}


def test_realtime_ray_sends_real_tensors_over_grpc(models: Path, ray_session: None) -> None:
    sim = run_scenario(load_scenario(SCENARIO, sets(models, "policy.kind=edge")))
    ray = run_scenario(
        load_scenario(
            SCENARIO,
            sets(models, "policy.kind=edge", "engine.kind=ray", "engine.clock=realtime", "engine.time_scale=4"),
        )
    )
    d = ray.summary["dnn"]
    assert d["predictions_by"] == {"grpc": 80}  # every tail crossed gRPC to an edge-server actor
    assert d["accuracy"] == pytest.approx(sim.summary["dnn"]["accuracy"], abs=0.005)
    t = ray.summary["tasks"]
    assert t["submitted"] == 160 == t["completed"]
    assert ray.columns["finish_s"] == sim.columns["finish_s"]  # the model's times are unchanged by real tensors


def test_missing_model_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no split model 'nope'"):
        run_scenario(load_scenario(SCENARIO, sets(tmp_path, "workload.dnn.model_id=nope")))


def test_realtime_server_crash_stops_its_grpc_server_and_nothing_is_lost(models: Path, ray_session: None) -> None:
    """edge-0 goes down (with its inference server) for a while: lost tails are re-dispatched to edge-1 over
    gRPC; every request is accounted for and the records equal the event engine's."""
    heavy = models / "heavy"  # the same model, its tail charged 40 ms on an edge server: queues build up there
    if not heavy.exists():
        make_model_dir(models, "heavy", image_shape=(1, 8, 8), bottleneck_channels=4, seed=3)
        (heavy / "card.json").write_text(json.dumps({"head_flops": 2.0e5, "tail_flops": 4.0e9}))
    fault = "faults=[{kind: server-down, server: edge-0, at_s: 0.6, downtime_s: 0.6}]"
    base = sets(models, "policy.kind=edge", "workload.dnn.model_id=heavy", fault)
    sim = run_scenario(load_scenario(SCENARIO, base))
    ray = run_scenario(
        load_scenario(SCENARIO, [*base, "engine.kind=ray", "engine.clock=realtime", "engine.time_scale=4"])
    )
    t = ray.summary["tasks"]
    assert t["submitted"] == 160 == t["completed"] + t["failed"] + t["dropped"]
    assert ray.summary["faults"]["redispatched_tasks"] > 0
    assert ray.columns["finish_s"] == sim.columns["finish_s"]
    assert ray.columns["placement"] == sim.columns["placement"]
    served_remote = ray.summary["dnn"]["predictions_by"]
    assert set(served_remote) == {"grpc"}  # the re-dispatched ones too: edge-1 answered them
