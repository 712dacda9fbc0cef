"""Keep freed memory inside the process (glibc), so that a CPU training step does not fault its
largest activations in afresh.

glibc serves an allocation above its mmap threshold (adaptive, at most 32 MB) with fresh pages from
mmap and unmaps them when it is freed, so every step the kernel zero-fills those pages again. NADE's
hidden states (batch x 784 x 500 floats: 50 MB at batch 32) made its training spend more CPU time in
the kernel than in its arithmetic (system time 56% of the total). mallopt(M_MMAP_MAX, 0) serves
every allocation from the heap, and a high M_TRIM_THRESHOLD keeps freed heap pages for reuse:
the price is that the process keeps its peak memory until it exits.

`genlab train` and the app's Train tab call `keep_freed_memory()` (the app, a long-lived process,
then keeps the memory of its largest run); `GENLAB_MALLOC=system` leaves glibc's defaults.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's malloc.h
KEEP = 2**31 - 1  # free heap at the top is returned to the system only beyond this (bytes)


def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse; False where it cannot (not Linux or
    not glibc) or the user asked for the system's defaults."""
    if sys.platform != "linux" or os.environ.get("GENLAB_MALLOC", "").lower() == "system":
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_TRIM_THRESHOLD, KEEP) == 1 and mallopt(M_MMAP_MAX, 0) == 1
