"""Joining a Ray cluster, or starting a small local one: one session per process, reused by later runs."""

from __future__ import annotations

import os
from typing import Any

from edgesplit.errors import UserError

# Local sessions: no dashboard, no usage reporting, a small object store (the machine may be small).
LOCAL_INIT = {"include_dashboard": False, "object_store_memory": 256 << 20, "log_to_driver": False}


def ensure_ray(address: str | None = None) -> Any:
    """The `ray` module, initialised: joins `address` (or $RAY_ADDRESS) when given, else starts a local
    instance with one CPU per core. An already initialised session is reused as it is."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    try:
        import ray
    except ImportError as err:  # pragma: no cover - ray is a dependency
        raise UserError("engine.kind ray needs the `ray` package (pip install ray)") from err
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS")
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, **LOCAL_INIT)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise UserError(f"cannot start or join Ray{f' at {address}' if address else ''}: {err}") from err
    return ray
