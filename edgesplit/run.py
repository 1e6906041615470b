"""The run layer's entry points: `run_scenario` (a validated scenario to its accounted result) and, because
`edgesplit.run` names this module once it is imported, the Python API's `edgesplit.run(...)` call, which this
module answers by forwarding to `edgesplit.api.run`. Both live in edgesplit/api.py."""

from __future__ import annotations

import sys
import types
from typing import Any

from edgesplit.api import run as _api_run
from edgesplit.api import run_scenario

__all__ = ["run_scenario"]


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _api_run(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
