"""Where the workbench keeps what it writes: one answer for the app, every CLI command and the library.

Trained models, the run history, tuning studies and the feedback log go to $RECSYS_ARTIFACTS_DIR, else to
`artifacts/` in the project folder when recsys runs from a source checkout (so the app and a CLI command started
from another folder share it), else to `artifacts/` in the current folder (an installed package).
"""

from __future__ import annotations

import os
from pathlib import Path

ARTIFACTS_ENV = "RECSYS_ARTIFACTS_DIR"
_PROJECT = Path(__file__).resolve().parents[1]


def artifacts_dir() -> Path:
    if os.environ.get(ARTIFACTS_ENV):
        return Path(os.environ[ARTIFACTS_ENV])
    return _PROJECT / "artifacts" if (_PROJECT / "pyproject.toml").is_file() else Path("artifacts")
