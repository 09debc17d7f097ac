"""Give the host memory that training frees back to the operating system (glibc's ``malloc_trim``).

Training with dynamic batches allocates tensors of a different size at every step. glibc serves
large blocks from its heap once its adaptive mmap threshold has grown, and a heap of many freed
blocks of odd sizes is rarely returned to the system: on a 2-core CPU run of the auricle-small
recipe the process grew by ≈ 300 MB per minute, 3 → 12 GB in half an hour, until the machine ran
short. Trimming the heap every few steps keeps it flat at no measurable cost (a benchmark of 100
variable-shape auricle-small steps: 2.6 GB → 1.5 GB, 46 s either way). CUDA memory is not affected.
"""

from __future__ import annotations

import ctypes
import functools
import sys

#: Optimizer steps between two trims (a trim takes a few milliseconds).
TRIM_EVERY = 10


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # musl or another C library: nothing to trim
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def release_free_memory() -> bool:
    """Return the C heap's free pages to the system; False where there is no glibc to ask."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
