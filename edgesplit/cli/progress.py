"""One progress bar per training stage, for the training commands (`cascade train`, `split train`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

StageProgress = Callable[[str, int, int], None]


@contextmanager
def stage_bars(console: Console, label_width: int = 14, every: int = 10) -> Iterator[tuple[StageProgress, Console]]:
    """Yields (`progress(stage, step, total)`, a console that prints above the bars). A stage's bar appears on
    its first report; it is redrawn every `every` steps and at its last."""
    columns = (TextColumn(f"{{task.description:<{label_width}}}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=False) as bar:
        tasks: dict[str, int] = {}

        def progress(name: str, step: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            if step == total or step % every == 0:
                bar.update(tasks[name], completed=step)

        yield progress, bar.console
