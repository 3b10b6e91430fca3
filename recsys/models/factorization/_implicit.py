"""What the two `implicit`-backed models share: the enrolment input, a single-threaded BLAS while the library
runs its own threads (its advice; avoids oversubscribing the cores), and progress from its epoch callback."""

from __future__ import annotations

import contextlib

import numpy as np
from scipy import sparse

from recsys import _blas


@contextlib.contextmanager
def library_threads():
    """`implicit` parallelises itself and warns when OpenBLAS would compete with it: BLAS runs one thread (set
    for the process when recsys is imported, recsys/_blas.py; asked again here in case something changed it)."""
    _blas.use_one_thread()
    yield


def epoch_callback(progress, iterations: int, name: str, start: float = 0.1, width: float = 0.85):
    """An `implicit` fit callback reporting to our progress(fraction, message). ALS calls it with (iteration,
    seconds, loss), BPR with (iteration, seconds, correct share, skipped share): only the iteration is used."""
    if progress is None:
        return None

    def callback(iteration, *_):
        done = iteration + 1
        progress(start + width * done / max(1, iterations), f"{name} iteration {done}/{iterations}")

    return callback


def binary_float32(matrix) -> sparse.csr_matrix:
    """Enrolment as float32 CSR (1 = took the course): the library's input format."""
    X = sparse.csr_matrix(matrix, dtype=np.float32, copy=True)
    X.eliminate_zeros()
    X.data[:] = 1.0
    return X
