"""Policies from outside the package: a `Policy` subclass named in the scenario (`module:Class` or
`file.py:Class`) or registered by an installed package under the `edgesplit.policies` entry points."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import io
import sys
import sysconfig
import tempfile
import zipfile
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from edgesplit.errors import UserError
from edgesplit.policies.base import Policy

ENTRY_POINT_GROUP = "edgesplit.policies"


def registered_kinds() -> list[str]:
    """Policy kinds that installed packages register under `edgesplit.policies`."""
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def entry_point_ref(kind: str) -> str | None:
    """The `module:Class` an installed package registers for `kind`, if any."""
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=kind):
        return ep.value
    return None


def _split(ref: str) -> tuple[str, str]:
    target, sep, name = ref.rpartition(":")
    if not sep or not target or not name.isidentifier():
        raise UserError(f"policy.class must be 'module:Class' or 'path/to/file.py:Class', got {ref!r}")
    return target, name


def _module_from_file(path: Path) -> Any:
    # One module per file path: two scenarios naming different files of the same name never collide.
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"edgesplit_policy_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UserError(f"policy.class: cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        del sys.modules[name]
        raise UserError(f"policy.class: importing {path} failed: {type(err).__name__}: {err}") from None
    return module


def load_class(ref: str) -> type[Policy]:
    """The `Policy` subclass `ref` names: `package.module:Class`, or `/path/file.py:Class` (a relative file path
    is resolved against the scenario file's folder when the scenario is loaded). The Ray engine carries the code
    to its workers itself (`pack_code`)."""
    target, name = _split(ref)
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise UserError(f"policy.class: no such file {target}")
        module = _module_from_file(path)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as err:
            raise UserError(f"policy.class: cannot import module {target!r}: {err}") from None
        except Exception as err:
            raise UserError(f"policy.class: importing {target!r} failed: {type(err).__name__}: {err}") from None
    cls = getattr(module, name, None)
    if cls is None:
        raise UserError(f"policy.class: {target} has no {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise UserError(f"policy.class: {ref} is not a subclass of edgesplit.policies.Policy")
    return cls


def check_params(cls: type[Policy], params: dict[str, Any]) -> None:
    """Refuse `params` that the class's constructor cannot take (before any work is done)."""
    try:
        inspect.signature(cls).bind(**params)
    except TypeError as err:
        raise UserError(f"policy.params do not fit {cls.__name__}{inspect.signature(cls)}: {err}") from None


def build(ref: str, params: dict[str, Any]) -> Policy:
    """A fresh instance of the class `ref` names, constructed with `params`."""
    cls = load_class(ref)
    check_params(cls, params)
    try:
        return cls(**params)
    except Exception as err:
        raise UserError(f"policy.class: {cls.__name__}(**params) failed: {type(err).__name__}: {err}") from None


def pack_code(ref: str) -> bytes | None:
    """`ref`'s code as a zip, to run it where the scenario's files are not (a Ray cluster's workers): the file of
    a `file.py:Class`, or the top-level package of a `module:Class` unless that is installed in site-packages
    (installed packages are expected on every node). None when there is nothing to carry."""
    target, _ = _split(ref)
    if target.endswith(".py"):
        path = Path(target)
        root, files = path.parent, [path]
    else:
        spec = importlib.util.find_spec(target.split(".")[0])
        if spec is None or spec.origin is None or spec.origin.startswith(sysconfig.get_paths()["purelib"]):
            return None
        origin = Path(spec.origin)
        if spec.submodule_search_locations:  # a package: all of its Python files
            root, files = origin.parent.parent, sorted(origin.parent.rglob("*.py"))
        else:
            root, files = origin.parent, [origin]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.write(f, f.relative_to(root).as_posix())
    return buffer.getvalue()


def unpack_code(ref: str, code: bytes) -> str:
    """Unpack `pack_code`'s zip into a fresh folder on this machine and return the ref that loads from there."""
    folder = Path(tempfile.mkdtemp(prefix="edgesplit-policy-"))
    with zipfile.ZipFile(io.BytesIO(code)) as zf:
        zf.extractall(folder)
    target, name = _split(ref)
    if target.endswith(".py"):
        return f"{folder / Path(target).name}:{name}"
    sys.path.insert(0, str(folder))
    return ref
