"""Two process settings made once, by ``import tichchap``, so that the elementwise steps that run on
several threads (:mod:`tichchap.ops.parallel`) get the cores and memory they need. Both are
measured in the README's "Speed" section, and both can be declined.

1. OpenBLAS' idle threads busy-wait 2**28 cycles (about 0.1 s) after every matrix product and
   take the other cores from the elementwise threads, which then run slower than one thread.
   ``OPENBLAS_THREAD_TIMEOUT=12`` (2**12 cycles) is set when NumPy is not loaded yet; OpenBLAS
   reads it once, when NumPy loads it. A value you set is kept. If NumPy was loaded first
   without it, the elementwise steps stay on one thread (unless ``TICHCHAP_NUM_THREADS`` says
   otherwise).
2. glibc returns freed blocks over 128 KiB to the system at once, so every training step faults
   its im2col matrices and activations in again, page by page (about 1,400-1,600 faults per LeNet step);
   two threads faulting at once wait on each other in the kernel. With glibc's ``mallopt`` the
   blocks of up to 32 MiB are kept in the heap for reuse instead: 10-40 faults per step. Freed memory
   then stays with the process, as with PyTorch's caching allocator. Set
   ``TICHCHAP_MALLOC_TUNING=0`` (or glibc's own ``MALLOC_MMAP_THRESHOLD_`` /
   ``MALLOC_TRIM_THRESHOLD_``) to leave glibc as it is.
"""

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
KEEP_BLOCKS_UP_TO = 32 * 2**20  # glibc's largest mmap threshold on 64-bit systems
TRIM_THRESHOLD = 2**30


def shorten_openblas_idle_wait():
    """Set OPENBLAS_THREAD_TIMEOUT if NumPy is not loaded yet; returns whether a short wait is in force."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "12")
    return "OPENBLAS_THREAD_TIMEOUT" in os.environ


def keep_freed_memory_for_reuse():
    """Ask glibc to keep freed blocks up to 32 MiB for reuse; returns whether it was done."""
    if os.environ.get("TICHCHAP_MALLOC_TUNING", "1") == "0":
        return False
    if any(name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, KEEP_BLOCKS_UP_TO)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


BLAS_WAITS_BRIEFLY = shorten_openblas_idle_wait()
FREED_MEMORY_KEPT = keep_freed_memory_for_reuse()
