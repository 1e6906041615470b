"""Throughput, latency and CPU cost of float32 tensors through the gRPC data plane, against raw loopback TCP.

Both servers run in their own processes on 127.0.0.1; this process is the client of both.

* gRPC: `EdgeServer(echo=True)` serving only the "_echo" model, with its defaults (so it tunes the allocator).
  The server parses the request, checks and wraps the tensor (dtype, shape, byte length; no copy) and answers
  with one float per sample (its element count), which the client checks, so what is measured is the tensor's
  way up plus a small answer. The client is `EdgeClient`: `infer` (unary, one request at a time) and
  `infer_stream` (one bidirectional stream, up to `--window` requests in flight). Its time includes encoding
  the array into the message (one copy) and decoding the answer.
* bare gRPC: the same bytes as an InferRequest would carry through a grpcio stream in the gRPC server's process
  (so with the same allocator setting), whose handler only answers b"ok" (no protobuf, no numpy): what grpcio
  itself allows here.
* raw TCP: an 8-byte length prefix and the array's bytes, sent straight from the numpy buffer (no copy), read
  by the server into a buffer it reuses, checked to be whole float32 values and answered with its length
  (8 bytes), which the client checks. "rr" waits for each answer before the next send (like unary);
  "pipelined" sends on one thread and reads answers on another, up to `--window` in flight (like the stream).

All clients share this process; EdgeClient tunes its allocator as EdgeServer does the server's (see
`edgesplit.rpc.alloc.tune_allocator`); `--no-tune-malloc` leaves both processes as they were before that.

A cell's clock runs from its first send to its last answer (connecting is not timed). Cells alternate in rounds
so that drifts in machine load hit all modes alike; MB/s is the median of a cell's rounds and "vs raw TCP" its
ratio to the median of the raw mode of the same pattern (unary vs rr, stream vs pipelined). "per round" is the
range of that ratio over the rounds, each against the raw cell of the same round: how much to trust it on a
shared machine. CPU ms/MB is the CPU time of the client process and of the server process during the cell (all
threads, user + system) per MB sent. Latency is per message from its send to its answer (with a window in
flight for the pipelined modes, so there it includes queueing).

    .venv/bin/python bench/grpc_tensors.py [--seconds 0.5] [--rounds 5] [--window 32] [--sizes "1 MB"]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"10 kB": 10_000, "100 kB": 100_000, "1 MB": 1_000_000, "4 MB": 4_000_000}
DEFAULT_SIZES = "10 kB,100 kB,1 MB"  # 4 MB: what batching four 1 MB tensors a message would give
HEADER = struct.Struct("<Q")
MODES = ("raw TCP rr", "raw TCP pipelined", "gRPC unary", "gRPC stream", "bare gRPC stream")
BASELINE = {"gRPC unary": "raw TCP rr", "gRPC stream": "raw TCP pipelined", "bare gRPC stream": "raw TCP pipelined"}
BARE = "/bench.Bare/Stream"
MESSAGE_MB = 16  # message size limit of both gRPC servers and clients


# -- measuring -----------------------------------------------------------------------------------------------


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of another process so far; 0 where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Meter:
    """The clock of one cell: wall time and the CPU time of this process and of the server, start to stop."""

    server_pid: int
    wall: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def start(self) -> None:
        self.wall, self.client_cpu, self.server_cpu = (
            time.perf_counter(),
            time.process_time(),
            _process_cpu(self.server_pid),
        )

    def stop(self) -> None:
        self.wall = time.perf_counter() - self.wall
        self.client_cpu = time.process_time() - self.client_cpu
        self.server_cpu = _process_cpu(self.server_pid) - self.server_cpu


# -- servers (run as subprocesses of this script) ------------------------------------------------------------


def _recv_exact(conn: socket.socket, view: memoryview) -> bool:
    got = 0
    while got < len(view):
        n = conn.recv_into(view[got:])
        if n == 0:
            return False
        got += n
    return True


def serve_raw() -> None:
    """Length-prefixed messages in, an 8-byte answer (the length) out; one thread per connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)

    def handle(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        header = bytearray(HEADER.size)
        buf = bytearray(1 << 20)
        with conn:
            while _recv_exact(conn, memoryview(header)):
                (size,) = HEADER.unpack(header)
                if size > len(buf):
                    buf = bytearray(size)
                if not _recv_exact(conn, memoryview(buf)[:size]):
                    return
                # what the gRPC server does with it: check the length, wrap the bytes as the array
                if size % 4:
                    raise ValueError(f"{size} bytes is not a whole number of float32")
                np.frombuffer(buf, dtype=np.float32, count=size // 4)
                conn.sendall(HEADER.pack(size))

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def serve_grpc(tune_malloc: bool) -> None:
    """The echo EdgeServer, and beside it a bare gRPC server (bytes in, b"ok" out) as the grpcio ceiling."""
    from concurrent import futures

    import grpc

    from edgesplit.rpc.server import EdgeServer

    server = EdgeServer({}, echo=True, workers=4, max_message_mb=MESSAGE_MB, tune_malloc=tune_malloc)
    port = server.start()  # tunes this process's allocator (unless told not to), for both servers

    def bare(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
        for _ in requests:
            yield b"ok"

    options = [("grpc.max_receive_message_length", MESSAGE_MB << 20)]
    handler = grpc.method_handlers_generic_handler(
        "bench.Bare", {"Stream": grpc.stream_stream_rpc_method_handler(bare)}
    )
    bare_server = grpc.server(futures.ThreadPoolExecutor(4), handlers=[handler], options=options)
    bare_port = bare_server.add_insecure_port("127.0.0.1:0")
    bare_server.start()
    print(port, bare_port, flush=True)
    server.wait()


def _spawn(*flags: str) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen([sys.executable, __file__, *flags], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().split()


# -- clients -------------------------------------------------------------------------------------------------
# Each returns the number of messages answered; `meter` runs from the first send to the last answer.


def raw_rr(port: int, x: np.ndarray, seconds: float, meter: Meter) -> int:
    payload = memoryview(x).cast("B")
    answer = bytearray(HEADER.size)
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        meter.start()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            s.sendall(HEADER.pack(len(payload)))
            s.sendall(payload)
            if not _recv_exact(s, memoryview(answer)) or HEADER.unpack(answer)[0] != len(payload):
                raise RuntimeError("raw TCP server answered wrong")
            meter.latencies.append(time.perf_counter() - t0)
        meter.stop()
    return len(meter.latencies)


def raw_pipelined(port: int, x: np.ndarray, seconds: float, window: int, meter: Meter) -> int:
    payload = memoryview(x).cast("B")
    sent: list[float] = []
    slots = threading.Semaphore(window)
    more = threading.Semaphore(0)  # one release per entry appended to `sent`
    stop = threading.Event()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def sender() -> None:
            while not stop.is_set():
                slots.acquire()
                sent.append(time.perf_counter())
                more.release()
                s.sendall(HEADER.pack(len(payload)))
                s.sendall(payload)
            sent.append(-1.0)  # end marker
            more.release()

        thread = threading.Thread(target=sender, daemon=True)
        meter.start()
        end = time.perf_counter() + seconds
        thread.start()
        answer = bytearray(HEADER.size)
        i = 0
        while True:
            if time.perf_counter() >= end:
                stop.set()
            more.acquire()
            if sent[i] < 0:
                break
            if not _recv_exact(s, memoryview(answer)) or HEADER.unpack(answer)[0] != len(payload):
                raise RuntimeError("raw TCP server answered wrong")
            meter.latencies.append(time.perf_counter() - sent[i])
            slots.release()
            i += 1
        meter.stop()
        thread.join()
    return len(meter.latencies)


def grpc_unary(address: str, x: np.ndarray, seconds: float, tune_malloc: bool, meter: Meter) -> int:
    from edgesplit.rpc.client import EdgeClient

    with EdgeClient([address], max_message_mb=MESSAGE_MB, tune_malloc=tune_malloc) as client:
        assert client.infer("_echo", x).ok  # connect
        meter.start()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            r = client.infer("_echo", x)
            assert r.ok and r.logits is not None and r.logits[0, 0] == x[0].size, r
            meter.latencies.append(time.perf_counter() - t0)
        meter.stop()
    return len(meter.latencies)


def grpc_stream(address: str, x: np.ndarray, seconds: float, window: int, tune_malloc: bool, meter: Meter) -> int:
    from edgesplit.rpc.client import EdgeClient
    from edgesplit.rpc.results import Request

    with EdgeClient([address], max_message_mb=MESSAGE_MB, window=window, tune_malloc=tune_malloc) as client:
        assert client.infer("_echo", x).ok  # connect
        meter.start()
        end = time.perf_counter() + seconds

        def requests() -> Iterator[Request]:
            while time.perf_counter() < end:
                yield Request("_echo", x)

        for r in client.infer_stream(requests()):
            assert r.ok and r.logits is not None and r.logits[0, 0] == x[0].size, r
            meter.latencies.append(r.latency_s)
        meter.stop()
    return len(meter.latencies)


def bare_stream(address: str, x: np.ndarray, seconds: float, meter: Meter) -> int:
    """The same bytes as an InferRequest would carry, through a bare grpcio stream (no protobuf, no numpy)."""
    import grpc

    payload = x.tobytes()
    options = [("grpc.max_send_message_length", MESSAGE_MB << 20)]
    with grpc.insecure_channel(address, options=options) as channel:
        call = channel.stream_stream(BARE)
        list(call(iter([payload])))  # connect
        meter.start()
        end = time.perf_counter() + seconds

        def requests() -> Iterator[bytes]:
            while time.perf_counter() < end:
                yield payload

        count = sum(1 for answer in call(requests()) if answer == b"ok")
        meter.stop()
    return count


# -- the table -----------------------------------------------------------------------------------------------


@dataclass
class Cell:
    """One (size, mode) cell over its rounds."""

    rates: list[float] = field(default_factory=list)  # MB/s per round
    ratios: list[float] = field(default_factory=list)  # rate / the baseline's rate in the same round
    client_ms_mb: list[float] = field(default_factory=list)
    server_ms_mb: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


def _median(values: list[float], fmt: str) -> str:
    return format(statistics.median(values), fmt) if values else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one cell's round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--window", type=int, default=32, help="messages in flight in the pipelined modes")
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"comma-separated, of: {', '.join(SIZES)}")
    parser.add_argument(
        "--no-tune-malloc", dest="tune_malloc", action="store_false", help="leave glibc malloc as it is, both sides"
    )
    parser.add_argument("--serve-raw", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-grpc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_raw:
        return serve_raw()
    if args.serve_grpc:
        return serve_grpc(args.tune_malloc)
    sizes = {label: SIZES[label] for label in args.sizes.split(",")}

    raw_proc, (raw_port,) = _spawn("--serve-raw")
    malloc_flag = [] if args.tune_malloc else ["--no-tune-malloc"]
    grpc_proc, (grpc_port, bare_port) = _spawn("--serve-grpc", *malloc_flag)
    address, bare_address = f"127.0.0.1:{grpc_port}", f"127.0.0.1:{bare_port}"
    runs: dict[str, tuple[int, Callable[[np.ndarray, Meter], int]]] = {
        "raw TCP rr": (raw_proc.pid, lambda x, m: raw_rr(int(raw_port), x, args.seconds, m)),
        "raw TCP pipelined": (
            raw_proc.pid,
            lambda x, m: raw_pipelined(int(raw_port), x, args.seconds, args.window, m),
        ),
        "gRPC unary": (grpc_proc.pid, lambda x, m: grpc_unary(address, x, args.seconds, args.tune_malloc, m)),
        "gRPC stream": (
            grpc_proc.pid,
            lambda x, m: grpc_stream(address, x, args.seconds, args.window, args.tune_malloc, m),
        ),
        "bare gRPC stream": (grpc_proc.pid, lambda x, m: bare_stream(bare_address, x, args.seconds, m)),
    }
    cells: dict[tuple[str, str], Cell] = {(label, mode): Cell() for label in sizes for mode in MODES}
    try:
        for _ in range(args.rounds):
            for label, size in sizes.items():
                x = np.random.default_rng(0).random(size // 4, dtype=np.float32).reshape(1, -1)
                rates = {}
                for mode in MODES:
                    pid, run = runs[mode]
                    meter = Meter(pid)
                    count = run(x, meter)
                    mb = count * size / 1e6
                    cell = cells[(label, mode)]
                    rates[mode] = mb / meter.wall
                    cell.rates.append(rates[mode])
                    cell.client_ms_mb.append(meter.client_cpu * 1000 / mb)
                    cell.server_ms_mb.append(meter.server_cpu * 1000 / mb)
                    cell.latencies += meter.latencies
                for mode, base in BASELINE.items():
                    cells[(label, mode)].ratios.append(rates[mode] / rates[base])
    finally:
        for proc in (raw_proc, grpc_proc):
            proc.terminate()
            proc.wait()

    tuned = "tuned" if args.tune_malloc else "untuned"
    print(f"{args.rounds} rounds of {args.seconds:g} s per cell, window {args.window}, malloc {tuned}, median rounds")
    print(
        f"| {'size':<6} | {'mode':<17} | {'MB/s':>7} | {'vs raw TCP':>10} | {'per round':>9} | {'p50 ms':>7} "
        f"| {'p99 ms':>7} | {'client CPU ms/MB':>16} | {'server CPU ms/MB':>16} |"
    )
    print(f"|{'-' * 8}|{'-' * 19}|{'-' * 9}|{'-' * 12}|{'-' * 11}|{'-' * 9}|{'-' * 9}|{'-' * 18}|{'-' * 18}|")
    for label in sizes:
        for mode in MODES:
            cell = cells[(label, mode)]
            base = BASELINE.get(mode)
            ratio = spread = ""
            if base:
                ratio = f"{statistics.median(cell.rates) / statistics.median(cells[(label, base)].rates):.0%}"
                spread = f"{min(cell.ratios):.0%}-{max(cell.ratios):.0%}"
            lat = np.array(cell.latencies) * 1000
            p50, p99 = (f"{v:.3f}" for v in np.percentile(lat, [50, 99])) if len(lat) else ("", "")
            client, server = _median(cell.client_ms_mb, ".3f"), _median(cell.server_ms_mb, ".3f")
            print(
                f"| {label:<6} | {mode:<17} | {_median(cell.rates, '.1f'):>7} | {ratio:>10} | {spread:>9} "
                f"| {p50:>7} | {p99:>7} | {client:>16} | {server:>16} |"
            )


if __name__ == "__main__":
    main()
