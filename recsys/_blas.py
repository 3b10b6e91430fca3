"""BLAS at one thread for the whole process, set when `recsys` is imported.

Why one thread: a comparison already runs models side by side (evaluation/lanes.py), the `implicit` library
runs its own threads and asks for it, and our matrices are small (a few hundred courses). And why for the whole
process rather than around a run: a matrix product split over a different number of threads rounds
differently -- the bootstrap intervals moved in the 16th digit -- so the same seed gave other numbers in the CLI
(main thread) and in the app (a Streamlit script thread). A per-run limit cannot fix that: threadpoolctl lets
only one live thread change OpenBLAS's limit (the main thread, once it has set one), so a limit asked for on any
other thread is silently ignored. One setting for the process is the same everywhere.
"""

from __future__ import annotations

import os
import sys


def use_one_thread() -> None:
    """One BLAS thread: libraries loaded from now on read OPENBLAS_NUM_THREADS, loaded ones are limited now."""
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    if "numpy" not in sys.modules:
        return  # nothing loaded yet: the variable is enough
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, "blas")  # kept for the process (not a context manager)
