"""`edgesplit trace stats|fetch` end to end, and fetch_trace against a real local HTTP server."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from edgesplit.cli import trace
from edgesplit.workload import fetch
from edgesplit.workload.fetch import cache_dir, fetch_trace
from edgesplit.workload.trace_types import TraceError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "alibaba"
DAGS = DATA / "alibaba_v2018_batch_task_selected_DAGs.csv"
J3 = DATA / "alibaba_v2018_batch_task_j3_example.csv"
needs_data = pytest.mark.skipif(
    not DAGS.is_file(), reason=f"real Alibaba sample rows not found at {DATA} (shared/ beside the repo)"
)


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `edgesplit` entry point (the root CLI turns UserErrors into exit code 2)."""
    cmd = [sys.executable, "-c", "from edgesplit.cli import main; main()", *args]
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=full_env)


# --------------------------------------------------------------------------- stats
# In-process through the sub-app (fast); the real entry point's exit codes through a subprocess.


def invoke(*args: str) -> Result:
    return CliRunner().invoke(trace.app, list(args), env={"COLUMNS": "200"})


def test_help_everywhere() -> None:
    for args, option in (
        (["--help"], "stats"),
        (["stats", "--help"], "--skip-bad-lines"),
        (["fetch", "--help"], "--sha256"),
    ):
        r = invoke(*args)
        assert r.exit_code == 0, r.output
        assert "Usage" in r.output and option in r.output


@needs_data
def test_stats_json_on_the_real_sample() -> None:
    r = invoke("stats", str(DAGS), "--format", "alibaba-v2018", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert (s["jobs"], s["tasks"]) == (1703, 45505)
    assert s["dag_size"]["min"] == 1 and s["dag_size"]["median"] == 11 and s["dag_size"]["max"] == 203
    assert s["repairs"]["truncated_names"] == 283
    assert s["dangling_deps_remaining"] == 0 and s["cycles_remaining"] == 0
    assert s["status"] == {"Terminated": 44901, "Running": 404, "Waiting": 173, "Failed": 27}


@needs_data
def test_stats_table_on_the_j3_example() -> None:
    r = invoke("stats", str(J3))
    assert r.exit_code == 0, r.output
    for text in ("tasks", "14", "dangling deps remaining", "jobs with cycles remaining", "Terminated: 14"):
        assert text in r.stdout


def test_stats_bad_lines_raise_or_are_skipped(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("M1,1,j_1,1,Terminated,1,5,100,0.2\nM2,1,j_1,1,Terminated,1,x,100,0.2\n")
    r = invoke("stats", str(bad))
    assert isinstance(r.exception, TraceError) and r.exception.where == f"{bad}:2"
    r = invoke("stats", str(bad), "--skip-bad-lines", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert (s["tasks"], s["repairs"]["skipped_lines"], s["repairs"]["skipped_line_numbers"]) == (1, 1, [2])
    assert invoke("stats", str(bad), "--format", "alibaba-v1999").exit_code == 2  # the option parser


def test_entry_point_reports_user_mistakes_with_exit_code_2(tmp_path: Path) -> None:
    r = cli("trace", "stats", str(tmp_path / "nope.csv"))
    assert r.returncode == 2 and "no such trace file" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("M1,1,j_1,1,Terminated,1,5,100,0.2\nM2,1,j_1,1,Terminated,1,x,100,0.2\n")
    r = cli("trace", "stats", str(bad))
    assert r.returncode == 2 and f"{bad}:2" in r.stderr and "end_time" in r.stderr


# --------------------------------------------------------------------------- fetch


class _Handler(BaseHTTPRequestHandler):
    """Serves `server.payload` at any path; honours `Range: bytes=N-` unless told not to."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        srv = self.server
        srv.requests.append(self.headers.get("Range"))  # type: ignore[attr-defined]
        if self.path.endswith("/missing"):
            self.send_error(404, "Not Found")
            return
        data: bytes = srv.payload  # type: ignore[attr-defined]
        start = 0
        ranged = self.headers.get("Range")
        if ranged and srv.ranges:  # type: ignore[attr-defined]
            start = int(ranged.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = srv.cut_after  # type: ignore[attr-defined]
        if cut is not None:  # announce everything, send a part, hang up
            srv.cut_after = None  # type: ignore[attr-defined]
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[ThreadingHTTPServer]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.payload = os.urandom(300_000) + b"batch_task rows"  # type: ignore[attr-defined]
    srv.requests = []  # type: ignore[attr-defined]
    srv.ranges = True  # type: ignore[attr-defined]
    srv.cut_after = None  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(srv: ThreadingHTTPServer, name: str = "batch_task.tar.gz") -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/v2018Traces/{name}"


def test_fetch_downloads_and_records_the_checksum(server, tmp_path: Path) -> None:
    path = fetch_trace(_url(server), tmp_path, progress=False)
    assert path == tmp_path / "batch_task.tar.gz"
    assert path.read_bytes() == server.payload
    digest = hashlib.sha256(server.payload).hexdigest()
    assert (tmp_path / "batch_task.tar.gz.sha256").read_text().split() == [digest, "batch_task.tar.gz"]
    assert not (tmp_path / "batch_task.tar.gz.part").exists()
    # Already there and intact: verified, not downloaded again.
    assert fetch_trace(_url(server), tmp_path, progress=False) == path
    assert server.requests == [None]
    # Corrupted on disk: the stored checksum catches it.
    path.write_bytes(b"x" + server.payload[1:])
    with pytest.raises(TraceError, match="sha256 mismatch"):
        fetch_trace(_url(server), tmp_path, progress=False)
    assert fetch_trace(_url(server), tmp_path, force=True, progress=False).read_bytes() == server.payload


def test_an_interrupted_download_resumes_with_a_range_request(server, tmp_path: Path) -> None:
    server.cut_after = 120_000
    with pytest.raises(TraceError, match="run the command again to resume"):
        fetch_trace(_url(server), tmp_path, progress=False)
    part = tmp_path / "batch_task.tar.gz.part"
    assert part.stat().st_size == 120_000 and not (tmp_path / "batch_task.tar.gz").exists()
    digest = hashlib.sha256(server.payload).hexdigest()
    path = fetch_trace(_url(server), tmp_path, sha256=digest, progress=False)
    assert path.read_bytes() == server.payload
    assert server.requests == [None, "bytes=120000-"]
    assert not part.exists()


def test_a_server_without_ranges_restarts_the_download(server, tmp_path: Path) -> None:
    server.ranges = False
    (tmp_path / "batch_task.tar.gz.part").write_bytes(b"stale bytes")
    path = fetch_trace(_url(server), tmp_path, progress=False)
    assert path.read_bytes() == server.payload
    assert server.requests == ["bytes=11-"]


def test_fetch_errors_are_user_errors(server, tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="HTTP 404"):
        fetch_trace(_url(server, "missing"), tmp_path, progress=False)
    with pytest.raises(TraceError, match="download failed"):
        fetch_trace("http://127.0.0.1:9/batch_task.tar.gz", tmp_path, progress=False, timeout_s=5)


def test_the_published_checksum_is_checked_for_a_known_url(server, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(fetch.KNOWN_SHA256, _url(server), "ab" * 32)
    with pytest.raises(TraceError, match="published checksum"):
        fetch_trace(_url(server), tmp_path, progress=False)
    assert not (tmp_path / "batch_task.tar.gz").exists()


def test_cache_dir_default_and_env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("EDGESPLIT_CACHE", raising=False)
    assert cache_dir() == Path.home() / ".cache" / "edgesplit" / "traces"
    monkeypatch.setenv("EDGESPLIT_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path / "traces"
    assert cache_dir(tmp_path / "x") == tmp_path / "x"


def test_cli_fetch_with_progress_then_checksum_mismatch_exits_2(server, tmp_path: Path, monkeypatch) -> None:
    env = {"EDGESPLIT_CACHE": str(tmp_path)}
    monkeypatch.setenv("EDGESPLIT_CACHE", str(tmp_path))
    r = invoke("fetch", "--url", _url(server))
    assert r.exit_code == 0, r.output
    path = tmp_path / "traces" / "batch_task.tar.gz"
    assert r.stdout.strip().splitlines()[-1] == str(path) and path.read_bytes() == server.payload

    r = cli(
        "trace",
        "fetch",
        "--url",
        _url(server, "other.tar.gz"),
        "--sha256",
        "0" * 64,
        "--no-progress",
        env=env,
    )
    assert r.returncode == 2
    assert "sha256 mismatch" in r.stderr and "0" * 64 in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "traces" / "other.tar.gz").exists()  # the bad download is not kept
