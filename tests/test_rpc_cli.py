"""`edgesplit serve edge` end to end (help, a clear error, a real server stopped by SIGTERM) and the check that
the generated gRPC code matches protos/edgesplit.proto."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from edgesplit.cli import serve
from edgesplit.rpc import regen
from edgesplit.rpc.client import EdgeClient
from edgesplit.rpc.testing import make_model_dir

ROOT = Path(__file__).resolve().parents[1]
# The root CLI with only the serve sub-app attached (main() registers the others only when none is there yet):
# the real error handling and exit codes, without importing every other command.
ENTRY = "import edgesplit.cli as c; from edgesplit.cli import serve; c.app.add_typer(serve.app, name='serve'); c.main()"


def edgesplit(*args: str, **kw: object) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", ENTRY, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw
    )


def test_help() -> None:
    result = CliRunner().invoke(serve.app, ["edge", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in ("--models", "--port", "--workers", "--max-message-mb", "--batch-max", "--tls-cert", "--token"):
        assert option in result.output


def test_missing_models_dir_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = edgesplit("serve", "edge", "--models", str(tmp_path / "nope"), "--port", "0")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, (out, err)
    assert err.strip() == f"error: {tmp_path / 'nope'}: models directory not found"
    result = CliRunner().invoke(serve.app, ["edge", "--port", "0"])
    assert result.exit_code != 0 and "--models" in str(result.exception)


def test_serve_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    make_model_dir(tmp_path, "tiny")
    proc = edgesplit("serve", "edge", "--models", str(tmp_path), "--port", "0", "--grace", "0.2")
    try:
        line = proc.stdout.readline()  # "serving tiny on 127.0.0.1:PORT"
        assert line.startswith("serving tiny on 127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        address = line.split()[-1]
        with EdgeClient([address]) as client:
            r = client.infer("tiny", np.zeros((1, 4, 8, 8), np.float32), request_id="cli-1")
        assert r.ok and len(r.predictions) == 1
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopping (grace 0.2 s)" in out and out.rstrip().endswith("stopped")


def test_generated_code_is_up_to_date() -> None:
    assert regen.check() == [], "run: python -m edgesplit.rpc.regen"
    grpc_code = (ROOT / "edgesplit/rpc/generated/edgesplit_pb2_grpc.py").read_text()
    assert "from edgesplit.rpc.generated import edgesplit_pb2" in grpc_code
    assert "\nimport edgesplit_pb2" not in grpc_code


def test_regen_check_notices_a_stale_file(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    regen.generate(out)
    assert regen.check(out) == []
    (out / "edgesplit_pb2.py").write_text("# edited\n")
    assert regen.check(out) == ["edgesplit_pb2.py"]
