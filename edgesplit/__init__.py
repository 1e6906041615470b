"""edgesplit: a testbed for edge/mobile offloading and split computing.

The Python API (`edgesplit.load_scenario`, `edgesplit.run`, `edgesplit.Result`; docs/api.md) and the policy
interface (`edgesplit.Policy`, `edgesplit.SystemView`, `edgesplit.LOCAL`) load on first use, so that
importing a submodule stays cheap.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = {
    "load_scenario": ("edgesplit.api", "load_scenario"),
    "Result": ("edgesplit.api", "Result"),
    "Scenario": ("edgesplit.scenario", "Scenario"),
    "UserError": ("edgesplit.errors", "UserError"),
    "Policy": ("edgesplit.policies.base", "Policy"),
    "SystemView": ("edgesplit.policies.base", "SystemView"),
    "LOCAL": ("edgesplit.policies.base", "LOCAL"),
}

__all__ = ["__version__", "run", *_API]


def __getattr__(name: str) -> Any:
    import importlib

    if name == "run":  # the submodule edgesplit.run, which is callable as edgesplit.api.run (see there)
        return importlib.import_module("edgesplit.run")
    if name in _API:
        module, attr = _API[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'edgesplit' has no attribute {name!r}")
