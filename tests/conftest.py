"""Shared fixtures: a real Prometheus server (Debian's `prometheus` package) for the metrics tests."""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALERT_RULES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
SCRAPE_INTERVAL_S = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrometheusServer:
    """A Prometheus process on 127.0.0.1 that scrapes `target_port` every second, with the deploy/ alert rules.

    Tests run their exporter on `target_port` (one at a time: the session shares this server) and look only
    at the time range of their own run, since earlier tests' samples stay in the TSDB.
    """

    def __init__(self, binary: str, workdir: Path) -> None:
        self.port = free_port()
        self.target_port = free_port()
        self.scrape_interval_s = SCRAPE_INTERVAL_S
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "global": {"scrape_interval": f"{SCRAPE_INTERVAL_S}s", "evaluation_interval": f"{SCRAPE_INTERVAL_S}s"},
            "rule_files": [str(p) for p in ALERT_RULES],
            "scrape_configs": [
                {
                    "job_name": "edgesplit",
                    "scrape_timeout": f"{SCRAPE_INTERVAL_S}s",
                    "static_configs": [{"targets": [f"127.0.0.1:{self.target_port}"]}],
                }
            ],
        }
        self.config = workdir / "prometheus.yml"
        self.config.write_text(json.dumps(config))  # JSON is YAML
        self.log = workdir / "prometheus.log"
        cmd = [
            binary,
            f"--config.file={self.config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ]
        self._log_fh = self.log.open("w")
        self.proc = subprocess.Popen(cmd, stdout=self._log_fh, stderr=subprocess.STDOUT)
        self._wait_ready(timeout_s=30)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}:\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready after {timeout_s} s:\n{self.log.read_text()}")

    def api(self, path: str, **params: Any) -> Any:
        """GET /api/v1/<path>; returns `data`, raises AssertionError with Prometheus's error otherwise."""
        query = urllib.parse.urlencode(params, doseq=True)
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as err:
            body = json.load(err)
        assert body.get("status") == "success", f"{path} {params}: {body.get('errorType')}: {body.get('error')}"
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        return self.api("query", **params)["result"]

    def query_range(self, expr: str, start: float, end: float, step_s: float = 1.0) -> list[dict[str, Any]]:
        return self.api("query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=step_s)["result"]

    def value(self, expr: str) -> float | None:
        """The single value of an instant query now, or None when it has no result."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, expr: str, timeout_s: float, ok: Any = lambda v: v is not None and not math.isnan(v)) -> float:
        """Poll `expr` until `ok(value)`; returns that value."""
        deadline = time.monotonic() + timeout_s
        v = None
        while time.monotonic() < deadline:
            v = self.value(expr)
            if ok(v):
                return v  # type: ignore[return-value]
            time.sleep(0.25)
        raise AssertionError(f"{expr} never satisfied the wait in {timeout_s} s (last value {v})")

    def targets(self) -> list[dict[str, Any]]:
        return self.api("targets")["activeTargets"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log_fh.close()


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """A real Prometheus for the session; skips when the `prometheus` binary is missing (CI installs it)."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("the `prometheus` binary is not installed (Debian package `prometheus`; `make system-deps`)")
    server = PrometheusServer(binary, tmp_path_factory.mktemp("prometheus"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray instance for the whole test run (it takes seconds to start)."""
    from edgesplit.engines.ray.session import ensure_ray

    ray = ensure_ray()
    yield
    ray.shutdown()


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run the real `edgesplit` entry point with `argv` (UserError -> exit 2); returns (exit code, output)."""
    import sys

    import edgesplit.cli as root

    monkeypatch.setattr(sys, "argv", ["edgesplit", *argv])
    with pytest.raises(SystemExit) as exc:
        root.main()
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out + out.err


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory holding one tiny random split model, "tiny" (the gRPC tests serve it)."""
    from edgesplit.rpc.testing import make_model_dir

    root = tmp_path_factory.mktemp("models")
    make_model_dir(root, "tiny")
    return root


@pytest.fixture(scope="session")
def tail(model_dir: Path) -> Any:
    """The tail of "tiny", loaded as the server loads it."""
    from edgesplit.rpc.models import load_model_dir

    return load_model_dir(model_dir)["tiny"]
