"""A context manager that pauses Python's cyclic garbage collector around allocation-heavy loops."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: building and running a big workload allocates millions of small
    objects and no cycles, and the collector's full passes would otherwise dominate the run time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
