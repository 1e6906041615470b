"""A real two-node Ray cluster on this machine: edge-server actors land on the node offering `edge: 1`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port

from edgesplit.run import run_scenario
from edgesplit.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).with_name("ray")
SCENARIO = ROOT / "scenarios" / "smoke.yaml"
SETS = ["workload.synthetic.jobs=15", "fleet.edge_servers.0.count=2"]

DRIVER = """
import json, sys
from edgesplit.engines.factory import prepare
from edgesplit.scenario import load_scenario
sc = load_scenario(sys.argv[1], sys.argv[3:])
engine = prepare(sc)
result = engine.run()
import ray
edge_nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("edge")]
print(json.dumps({"summary": result.summary, "placement": engine.placement, "edge_nodes": edge_nodes}))
"""


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # --block keeps `ray start` in the foreground; its own process group lets the test stop exactly this node.
    return subprocess.Popen(
        [str(RAY), "start", "--block", *args],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def two_node_cluster() -> Iterator[str]:
    if not RAY.is_file():
        pytest.skip(f"no `ray` command beside {sys.executable}")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # short: Ray's unix socket paths must stay < 108 chars
    port = free_port()
    address = f"127.0.0.1:{port}"
    head = _start(
        [
            "--head",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            f"--ray-client-server-port={free_port()}",
            "--include-dashboard=false",
            "--num-cpus=1",
            f"--object-store-memory={128 << 20}",
            f"--temp-dir={temp}",
        ],
        env,
    )
    nodes = [head]
    try:
        _wait_for_nodes(address, 1, env)
        nodes.append(
            _start(
                [
                    f"--address={address}",
                    "--node-ip-address=127.0.0.1",
                    "--num-cpus=1",
                    '--resources={"edge": 1}',
                    f"--object-store-memory={128 << 20}",
                ],
                env,
            )
        )
        _wait_for_nodes(address, 2, env)
        yield address
    finally:
        for proc in reversed(nodes):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in nodes:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_nodes(address: str, count: int, env: dict[str, str], timeout_s: float = 90.0) -> None:
    """Poll `ray status` until `count` nodes are up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run([str(RAY), "status", f"--address={address}"], env=env, capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.count("node_") >= count:
            return
        time.sleep(1.0)
    raise TimeoutError(f"Ray cluster at {address} did not reach {count} nodes in {timeout_s:.0f} s")


def test_two_node_cluster_places_edges_by_resource(two_node_cluster: str) -> None:
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    sets = [*SETS, "engine.kind=ray", f"engine.address={two_node_cluster}", "engine.edge_resources={edge: 0.5}"]
    out = subprocess.run(
        [sys.executable, "-c", DRIVER, str(SCENARIO), "--", *sets],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    (edge_node,) = got["edge_nodes"]
    assert got["placement"]["servers"] == [edge_node, edge_node]

    sim = run_scenario(load_scenario(SCENARIO, SETS)).summary
    ray = got["summary"]
    for key in ("engine", "wall_s", "events"):
        sim.pop(key), ray.pop(key)
    assert json.loads(json.dumps(sim)) == ray
