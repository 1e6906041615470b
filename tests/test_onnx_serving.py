"""Serving needs no torch: the gRPC server and the device side run ONNX files with ONNX Runtime alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edgesplit.rpc.testing import make_model_dir

# torch made unimportable: any `import torch` on the serving path fails this script.
SCRIPT = """
import sys
sys.modules["torch"] = None
import numpy as np
from edgesplit.rpc.client import EdgeClient
from edgesplit.rpc.models import load_head, load_tail
from edgesplit.rpc.server import EdgeServer

root = sys.argv[1]
head = load_head(root + "/tiny")
images = np.random.default_rng(0).random((2, 3, 16, 16), dtype=np.float32)
z = head(images)
want = load_tail(root + "/tiny")(z).argmax(axis=1).tolist()
with EdgeServer(root) as server:
    client = EdgeClient([server.address])
    got = [client.infer("tiny", z[i : i + 1]).prediction for i in range(2)]
    client.close()
assert got == want, (got, want)
print("served", got)
"""


def test_server_and_head_run_without_torch(tmp_path: Path) -> None:
    make_model_dir(tmp_path, "tiny")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("served")
