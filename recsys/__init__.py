"""recsys: a workbench for comparing course recommenders (data, models, evaluation, CLI)."""

from recsys._blas import use_one_thread as _use_one_blas_thread

__version__ = "0.1.0"

_use_one_blas_thread()  # the same numbers on every thread and in every entry point: see recsys/_blas.py
