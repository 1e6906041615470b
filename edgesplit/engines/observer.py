"""`RunObserver`: the hooks an engine calls while it runs (progress bars, metrics exporters, RL cost meters)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgesplit.results import RunResult


class RunObserver:
    """Hooks an engine calls while it runs. All are optional; `engine` is the running engine (a `SimEngine`, or
    the Ray engine's coordinator, which answers the same attributes)."""

    def on_start(self, engine: Any) -> None: ...

    def on_progress(self, engine: Any) -> None:
        """Called every `progress_every` events and once at the end."""

    def on_task_end(self, engine: Any, uid: int) -> None:
        """Called when task `uid` completes, fails or is dropped; `engine.table` holds its record. Only observers
        that override it are called (per task, so keep it cheap); batch readers can use `engine.ended` instead."""

    def on_end(self, engine: Any, result: RunResult) -> None: ...
