"""glibc allocator tuning so that a process reuses the memory of large messages (docs/rpc.md, "Performance")."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

from edgesplit.rpc.service import MB

log = logging.getLogger(__name__)

# glibc malloc thresholds set by tune_allocator: freed blocks up to this size stay in the process for reuse.
ALLOCATOR_KEEP_BYTES = 32 * MB
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers (malloc.h)
_allocator_tuned: bool | None = None


def tune_allocator(keep_bytes: int = ALLOCATOR_KEEP_BYTES) -> bool:
    """Let this process reuse the memory of large messages instead of faulting fresh pages in for each one.

    gRPC's Python layer copies every received message into new buffers (two copies of the payload). With
    glibc's defaults a freed block of a megabyte or more goes back to the kernel (heap trimming above a dynamic
    threshold, or a separate mmap), so the next message's buffers are page-faulted and zeroed again: at 1 MB
    per message that was about a third of the server's CPU time. Setting M_TRIM_THRESHOLD and M_MMAP_THRESHOLD
    to `keep_bytes` makes glibc keep and reuse them (the same as the MALLOC_TRIM_THRESHOLD_ and
    MALLOC_MMAP_THRESHOLD_ environment variables). The cost: up to `keep_bytes` of freed memory per malloc
    arena stays mapped. Process-wide and once per process (later calls keep the first call's setting); returns
    whether it is in effect (False where the C library is not glibc's or has no mallopt).
    """
    global _allocator_tuned
    if _allocator_tuned is None:
        _allocator_tuned = False
        name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
        try:
            mallopt = ctypes.CDLL(name).mallopt if name else None
        except (OSError, AttributeError):
            mallopt = None
        if mallopt is not None:
            # glibc answers 1 when it takes a value (old versions refuse an mmap threshold over 32 MiB)
            trim = mallopt(_M_TRIM_THRESHOLD, keep_bytes)
            mmap = mallopt(_M_MMAP_THRESHOLD, keep_bytes)
            _allocator_tuned = trim == 1 and mmap == 1
        if not _allocator_tuned:
            log.debug("malloc tuning not available here; large messages cost more CPU")
    return _allocator_tuned
