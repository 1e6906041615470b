"""Regenerates edgesplit/rpc/generated/ from protos/edgesplit.proto (`python -m edgesplit.rpc.regen [--check]`)."""

from __future__ import annotations

import argparse
import filecmp
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "protos" / "edgesplit.proto"
GENERATED = Path(__file__).resolve().parent / "generated"
FILES = ("__init__.py", "edgesplit_pb2.py", "edgesplit_pb2.pyi", "edgesplit_pb2_grpc.py")
INIT = '"""Generated from protos/edgesplit.proto by `python -m edgesplit.rpc.regen`; do not edit."""\n'


def generate(out: Path, proto: Path = PROTO) -> list[Path]:
    """Run protoc (grpc_tools) on `proto` into `out`; returns the files written."""
    from grpc_tools import protoc  # dev dependency: only regeneration needs it

    out.mkdir(parents=True, exist_ok=True)
    include = str(Path(protoc.__file__).parent / "_proto")  # well-known types shipped with grpc_tools
    args = [
        "grpc_tools.protoc",
        f"-I{proto.parent}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        proto.name,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed on {proto}")
    # protoc writes `import edgesplit_pb2`, which only works with generated/ on sys.path; make it a package import.
    grpc_file = out / "edgesplit_pb2_grpc.py"
    text = grpc_file.read_text()
    text = re.sub(
        r"^import edgesplit_pb2 as ", "from edgesplit.rpc.generated import edgesplit_pb2 as ", text, flags=re.M
    )
    grpc_file.write_text(text)
    (out / "__init__.py").write_text(INIT)
    return [out / name for name in FILES]


def check(target: Path = GENERATED) -> list[str]:
    """Names of the files in `target` that differ from a fresh generation (empty: up to date)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        return [name for name in FILES if not (target / name).is_file() or not filecmp.cmp(fresh / name, target / name)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when generated/ is stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = check()
        if stale:
            print(f"stale generated code: {', '.join(stale)} (run python -m edgesplit.rpc.regen)", file=sys.stderr)
            return 1
        print("generated code is up to date")
        return 0
    written = generate(GENERATED)
    print("wrote " + ", ".join(str(p.relative_to(ROOT)) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
