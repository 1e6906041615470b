"""`edgesplit cascade` end to end on sklearn digits: --help, train, bench, the workload hook, bad arguments."""

from __future__ import annotations

import json

import pytest
from conftest import run_main
from typer.testing import CliRunner

from edgesplit.cli import cascade as cascade_cli

runner = CliRunner()


@pytest.mark.parametrize("args", [[], ["train"], ["bench"]])
def test_help(args):
    result = runner.invoke(cascade_cli.app, [*args, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
    if args == ["bench"]:
        assert "--duplicates" in result.output and "--perturb" in result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cascade")
    args = ["train", "--dataset", "digits", "--out", str(out), "--epochs-small", "10", "--epochs-large", "4"]
    result = runner.invoke(cascade_cli.app, [*args, "--grid", "500", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "saved to" in result.output
    return out


def test_train_writes_a_checkpoint(trained):
    s = json.loads((trained / "cascade.json").read_text())
    assert s["dataset"] == "digits" and s["threshold_search"]["grid"] == 500
    assert {s["model_a"], s["model_b"]} == {s["pair"]["a"], s["pair"]["b"]}
    assert s["large"] in s["models"] and s["models"][s["large"]]["role"] == "large"
    for name, m in s["models"].items():
        assert (trained / "models" / f"{name}.pt").is_file() and m["flops"] > 0
    assert s["threshold"]["score"] in ("maxp", "margin", "entropy")
    assert 0 < s["threshold"]["lam"] < 1


def test_bench_prints_the_table(trained):
    args = ["bench", "--ckpt", str(trained), "--duplicates", "0", "1", "--perturb", "none,flip", "--limit", "80"]
    result = runner.invoke(cascade_cli.app, args)
    assert result.exit_code == 0, result.output
    for word in ("acc", "B ratio", "hit ratio", "E FLOPs", "E time"):
        assert word in result.output
    rows = json.loads((trained / "bench.json").read_text())["rows"]
    assert [(r["duplicates"], r["perturb"]) for r in rows] == [(0.0, "-"), (1.0, "none"), (1.0, "flip")]
    assert rows[0]["requests"] == 80 and rows[1]["requests"] == 160
    assert rows[1]["hit_ratio"] >= 0.5  # every exact repeat hits the cache
    assert rows[1]["energy_flops_j"] < rows[0]["energy_flops_j"]


def test_workload_hook_records(trained):
    from edgesplit.cascade.workload import cascade_requests

    recs = cascade_requests(trained, duplicate_rate=1.0, perturbation="none", n_requests=60, seed=1)
    assert len(recs) == 60 and [r.request_id for r in recs] == list(range(60))
    assert all(r.cache_hit for r in recs if r.repeat)
    assert all(not (r.cache_hit and r.b_invoked) for r in recs)
    assert all(r.correct == (r.prediction == r.label) for r in recs)
    assert recs[0].input_bytes == 64 and recs[0].flops_a > 0 and recs[0].flops_b > 0
    assert set(recs[0].to_dict()) >= {"sample_id", "cache_hit", "b_invoked", "flops_a", "flops_b", "correct"}
    again = cascade_requests(trained, duplicate_rate=1.0, perturbation="none", n_requests=60, seed=1)
    assert again == recs  # deterministic


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--dataset", "cifar"],
        ["train", "--dataset", "digits", "--grid", "lots"],
        ["bench", "--duplicates", "x"],
        ["bench", "--perturb", "mirror"],
        ["bench", "--device", "toaster"],
        ["bench", "--ckpt", "/nonexistent/cascade"],
    ],
)
def test_bad_arguments_exit_2(monkeypatch, capsys, tmp_path, trained, args):
    if args[0] == "bench" and "--ckpt" not in args:
        args = [*args, "--ckpt", str(trained), "--limit", "10"]
    if args[0] == "train":
        args = [*args, "--out", str(tmp_path)]
    code, output = run_main(monkeypatch, capsys, "cascade", *args)
    assert code == 2, output
    assert "Traceback" not in output
