"""glibc's heap kept for reuse while networks train, not handed back and faulted in again.

Input contract: none; `keep_freed_heap()` changes this process's C allocator once (the first
training calls it) and says what it did. `CNNLSTM_KEEP_HEAP=0` in the environment leaves the
allocator as it is.

Why: a CNN training step allocates and frees a few MB of activations (conv outputs, pooling
indices, their gradients). With glibc's default, adaptive thresholds the freed top of the heap
grows past the trim threshold every step and is returned to the kernel, so the next step takes
~1,000 page faults to get it back (measured: 140-170k minor faults in 158 steps, against 20 with
the heap kept), and zeroing those pages cost a quarter of the bare loop's speed (38-39k vs
46-49k samples/s at 1 thread; bench/bench_training.py, "heap"). The LSTM's pattern did not trip it.

What changes: blocks under `MMAP_BYTES` come from the heap (glibc's adaptive threshold reaches
the same 32 MB at most), and up to `TRIM_BYTES` of free heap top is kept rather than trimmed.
Peak memory is unchanged (what a step frees, the next one reuses); after training, up to
`TRIM_BYTES` of freed heap may stay mapped to this process. Blocks over `MMAP_BYTES` (large numpy
arrays) are still mapped and unmapped on their own, and polars' allocator is its own.

Where the C library is not glibc (musl, macOS) nothing is changed and the reason is returned.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

KEEP_ENV = "CNNLSTM_KEEP_HEAP"
TRIM_BYTES = 256 << 20
MMAP_BYTES = 32 << 20
_M_TRIM_THRESHOLD = -1  # glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3

_state: str | None = None


def keep_freed_heap() -> str:
    """Keep freed heap memory for reuse in this process (once); what was done, in words.

    Returns "kept" when the thresholds were set, else why not ("off: ..." or "unavailable: ...").
    """
    global _state
    if _state is not None:
        return _state
    if os.environ.get(KEEP_ENV, "").strip() == "0":
        _state = f"off: {KEEP_ENV}=0"
        return _state
    _state = _set_thresholds()
    return _state


def _set_thresholds() -> str:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it (musl has a mallopt stub)
    except (OSError, AttributeError) as err:
        return f"unavailable: not glibc ({err})"
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    if not (mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES) and mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES)):
        return "unavailable: mallopt refused the thresholds"
    return "kept"
