"""Quiet native libraries at the source: TensorFlow's and Spark's start-up chatter is not for our users.

TensorFlow 2.21 prints "All log messages before absl::InitializeLog() ..." and "oneDNN custom operations are
on ..." (twice) straight to file descriptor 2 while it is imported, before it reads TF_CPP_MIN_LOG_LEVEL; no
setting turns them off short of disabling oneDNN (which changes the numbers). So the import runs with fd 2
caught and every line that is not that known noise is written back -- a real error still shows. Spark's JVM
logs through log4j2 (`spark-log4j2.properties`, errors only) and its launcher script.

`RECSYS_VERBOSE=1` (the CLI's `--verbose`) keeps every library's own output and log levels.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading

VERBOSE_ENV = "RECSYS_VERBOSE"

# Lines TensorFlow / XLA / absl print while loading that say nothing about our run.
TF_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\)"
    r"|oneDNN custom operations are on"
    r"|cpu_feature_guard\.cc"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|Could not find cuda drivers"
    r"|TF-TRT Warning"
)
_lock = threading.Lock()


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def quiet_environment() -> None:
    """Log levels that must be set before TensorFlow is imported (no-op when verbose)."""
    if verbose():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def native_stderr_filtered(noise: re.Pattern[str] = TF_NOISE):
    """Catch what native code writes to fd 2 inside the block; afterwards write back every line that does not
    match `noise`. Nothing else is dropped (other threads' output is only delayed until the block ends)."""
    if verbose():
        yield
        return
    with _lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no real fd 2 (e.g. an embedded interpreter): nothing to filter
            yield
            return
        with tempfile.TemporaryFile() as caught:
            os.dup2(caught.fileno(), 2)
            try:
                yield
            finally:
                with contextlib.suppress(OSError, ValueError):
                    sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                caught.seek(0)
                text = caught.read().decode("utf-8", "replace")
                kept = [line for line in text.splitlines(keepends=True) if not noise.search(line)]
                if kept:
                    with contextlib.suppress(OSError, ValueError):
                        sys.stderr.write("".join(kept))
                        sys.stderr.flush()


def import_tensorflow():
    """(tensorflow, keras) imported quietly (see the module docstring)."""
    quiet_environment()
    with native_stderr_filtered():
        import keras
        import tensorflow as tf
    return tf, keras
