"""What the two `implicit`-backed models share: the enrolment input and progress from the library's epoch callback.
(The library runs its own threads and asks for a single-threaded BLAS: recsys sets that for the whole process,
recsys/_blas.py.)"""

from __future__ import annotations

import numpy as np
from scipy import sparse


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
