"""`edgesplit split` end to end on sklearn digits: --help, train, evaluate, export, plan, bad arguments."""

from __future__ import annotations

import json

import pytest
from conftest import run_main
from typer.testing import CliRunner

from edgesplit.cli import split as split_cli

runner = CliRunner()


@pytest.mark.parametrize("args", [[], ["train"], ["evaluate"], ["export"], ["plan"]])
def test_help(args):
    result = runner.invoke(split_cli.app, [*args, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
    if args == ["train"]:
        assert "--bottleneck-channels" in result.output and "--split-after" in result.output
    if args == ["plan"]:
        assert "--bandwidth" in result.output and "--device" in result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("split")
    args = ["train", "--dataset", "digits", "--out", str(out), "--bottleneck-channels", "2", "--stages", "8,16"]
    result = runner.invoke(split_cli.app, [*args, "--epochs", "3", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert "saved to" in result.output and "bottleneck c2, 8-bit" in result.output
    return out


def test_train_writes_checkpoint_report_and_models(trained):
    r = json.loads((trained / "split.json").read_text())
    assert r["dataset"] == "digits" and r["settings"]["spec"]["stages"] == [[8], [16]]
    assert r["settings"]["epochs_teacher"] == r["settings"]["epochs_kd"] == 3
    meta = json.loads((trained / "models" / "digits-bottleneck-c2" / "meta.json").read_text())
    assert meta["input_shape"] == [2, 2, 2] and meta["num_classes"] == 10
    assert (trained / "models" / "digits-split-raw" / "tail.onnx").is_file()


def test_evaluate(trained):
    result = runner.invoke(split_cli.app, ["evaluate", "--checkpoint", str(trained), "--json", "--threads", "1"])
    assert result.exit_code == 0, result.output
    res = json.loads(result.output)
    assert res == json.loads((trained / "split.json").read_text())["test"]  # same test split, same numbers
    table = runner.invoke(split_cli.app, ["evaluate", "--checkpoint", str(trained), "--limit", "50"])
    assert table.exit_code == 0 and "8-bit" in table.output and "(50 images)" in table.output


def test_export(trained, tmp_path):
    result = runner.invoke(split_cli.app, ["export", "--checkpoint", str(trained), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digits-bottleneck-c2", "digits-split-raw"]


def test_plan_table_and_json(trained):
    args = ["plan", "--device", "jetson-nano", "--bandwidth", "5Mbps", "--checkpoint", str(trained)]
    result = runner.invoke(split_cli.app, [*args, "--timing", "flops"])
    assert result.exit_code == 0, result.output
    for word in ("stage1.conv1", "offload PNG", "split s1 + bottleneck c2 u8", "fastest", "least energy"):
        assert word in result.output
    doc = json.loads(runner.invoke(split_cli.app, [*args, "--json", "--rtt", "0ms", "--timing", "flops"]).output)
    assert doc["device"] == "jetson-nano" and doc["bandwidth_bps"] == 5e6 and doc["rtt_s"] == 0
    assert doc["fastest"] in [r["name"] for r in doc["rows"]] and doc["layers"][0]["name"] == "stage1.conv1"


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--dataset", "cifar"],
        ["train", "--dataset", "cifar10:/nonexistent/cifar"],
        ["train", "--dataset", "digits", "--epochs", "lots"],
        ["train", "--dataset", "digits", "--split-after", "5"],
        ["train", "--dataset", "digits", "--stages", "8,x"],
        ["train", "--dataset", "digits", "--bottleneck-channels", "0"],
        ["evaluate", "--checkpoint", "/nonexistent/split"],
        ["plan", "--device", "toaster"],
        ["plan", "--bandwidth", "10MHz"],
        ["plan", "--bandwidth", "-3Mbps"],
        ["plan", "--rtt", "fast"],
        ["plan", "--timing", "guess"],
        ["plan", "--checkpoint", "/nonexistent/split"],
    ],
)
def test_bad_arguments_exit_2(monkeypatch, capsys, tmp_path, args):
    if args[0] == "train":
        args = [*args, "--out", str(tmp_path)]
    code, output = run_main(monkeypatch, capsys, "split", *args)
    assert code == 2, output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1 or "Usage" in output  # one line, or Click's usage error
