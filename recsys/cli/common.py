"""What every CLI command shares: the error type, progress output, data loading, parameter parsing, tables."""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
from pathlib import Path

DEFAULT_DATA = Path("data") / "builtin"


class UsageError(ValueError):
    """Bad command-line input; printed as one line, exit code 2."""


class Progress:
    """Progress on stderr for long steps: a redrawn bar on a terminal, a line per 10% step in logs."""

    def __init__(self, label: str, width: int = 30, stream=None):
        self.label, self.width = label, width
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self._last = -1.0

    def __call__(self, fraction: float, message: str = "") -> None:
        fraction = min(max(float(fraction), 0.0), 1.0)
        elapsed = time.perf_counter() - self.start
        if not self.stream.isatty():
            # Logs and CI: one plain line per 10% step instead of carriage-return redraws.
            step = int(fraction * 10)
            if step > self._last:
                self._last = step
                self.stream.write(f"{self.label}: {fraction:4.0%} {elapsed:6.1f}s {message}\n")
                self.stream.flush()
            return
        if fraction < 1.0 and fraction - self._last < 0.01:
            return
        self._last = fraction
        filled = int(round(self.width * fraction))
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {fraction:4.0%} {elapsed:6.1f}s {message[:40]:<40}")
        if fraction >= 1.0:
            self.stream.write("\n")
        self.stream.flush()


def load_data(path):
    """The dataset in folder `path`; a missing folder is a usage error with the command that makes it."""
    from recsys.data import load_dataset

    path = Path(path)
    if not path.exists():
        hint = (
            " (create it with: python -m recsys generate --out data/builtin --seed 0)" if path == DEFAULT_DATA else ""
        )
        raise UsageError(f"data folder '{path}' does not exist{hint}")
    return load_dataset(path)


def parse_params(items, what: str = "--param") -> dict[str, str]:
    """['n_neighbours=20', 'metric=cosine'] -> {'n_neighbours': '20', ...} (values validated by the model spec)."""
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{what} expects NAME=VALUE, got '{item}'")
        out[name.strip()] = value.strip()
    return out


# ----- bounded option values (every size has an upper bound; every float is finite) ------------------
INT_LIMIT = 2**63 - 1  # any integer option (seeds included) beyond this is a typo or an attack


def int_in(low: int | None = None, high: int | None = None):
    """argparse type: an integer; `check_bounds` (after parsing) keeps it in [low, high], so a value out of range
    is one 'error:' line with exit code 2 like every other bad value."""

    def parse(text: str) -> int:
        return int(str(text).strip())

    parse.__name__ = "int"
    parse.bounds = (-INT_LIMIT if low is None else low, INT_LIMIT if high is None else high)  # type: ignore[attr-defined]
    parse.finite = False  # type: ignore[attr-defined]
    return parse


def finite_float(low: float | None = None, high: float | None = None, what: str = ""):
    """argparse type: a float; `check_bounds` refuses NaN and +-inf, and values outside [low, high]. `what`
    names the quantity in the message (e.g. 'trials per model')."""

    def parse(text: str) -> float:
        return float(str(text).strip())

    parse.__name__ = "float"
    parse.bounds = (low, high)  # type: ignore[attr-defined]
    parse.finite = True  # type: ignore[attr-defined]
    parse.what = what  # type: ignore[attr-defined]
    return parse


def harden(parser: argparse.ArgumentParser) -> None:
    """Give every plain `type=int` / `type=float` option of `parser` and its sub-commands a bound: integers
    within +-2**63 and floats finite. Options with their own `int_in` / `finite_float` keep their bounds."""
    for action in parser._actions:
        if action.type is int:
            action.type = int_in()
        elif action.type is float:
            action.type = finite_float()
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                harden(sub)


def check_bounds(parser: argparse.ArgumentParser, args) -> None:
    """UsageError for the first parsed option (of the chosen sub-command) outside its bounds or not finite."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            chosen = action.choices.get(getattr(args, action.dest, None) or "")
            if chosen is not None:
                check_bounds(chosen, args)
            continue
        bounds = getattr(action.type, "bounds", None)
        value = getattr(args, action.dest, None)
        if bounds is None or value is None or not isinstance(value, (int, float)):
            continue
        flag = action.option_strings[-1] if action.option_strings else action.dest
        if getattr(action.type, "what", ""):
            flag = f"{flag} ({action.type.what})"
        low, high = bounds
        if getattr(action.type, "finite", False) and not math.isfinite(value):
            raise UsageError(f"{flag} must be a finite number, got {value}")
        if low is not None and high is not None and not low <= value <= high:
            raise UsageError(f"{flag} must be between {low:,} and {high:,}, got {value:,}")
        if low is not None and value < low:
            raise UsageError(f"{flag} must be at least {low:,}, got {value:,}")
        if high is not None and value > high:
            raise UsageError(f"{flag} must be at most {high:,}, got {value:,}")


def k_within(k: int, dataset, flag: str = "--k") -> int:
    """K may not exceed the catalogue: a longer list cannot exist (and would only cost memory)."""
    n = int(dataset.n_items)
    if k > n:
        raise UsageError(f"{flag} {k:,} is more than the {n:,} courses in the catalogue; use at most {n:,}")
    return k


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def plain(text) -> str:
    """`text` without terminal control characters (escape sequences, carriage returns, bidi overrides): a title
    from an uploaded catalogue must not repaint the terminal or hide what is printed next to it."""
    return _CONTROL.sub("", str(text)).replace("\n", " ").replace("\t", " ")


def positive(name: str, value: int) -> int:
    if value < 1:
        raise UsageError(f"{name} must be a positive integer, got {value}")
    return value


def print_table(frame, stream=None) -> None:
    """Print a DataFrame as a plain left-aligned text table."""
    stream = stream or sys.stdout
    columns = [plain(c) for c in frame.columns]
    rows = [[plain(v) for v in row] for row in frame.itertuples(index=False)]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    stream.write("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip() + "\n")
    stream.write("  ".join("-" * w for w in widths) + "\n")
    for r in rows:
        stream.write("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() + "\n")


def fmt(value, lo=None, hi=None, digits: int = 4) -> str:
    """A number with its interval, 'n/a' for a missing one."""
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    text = f"{value:.{digits}f}"
    if lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi)):
        text += f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    return text


def check_writable(path, what: str) -> None:
    """Fail before a long run, not after it, when an output file cannot be written."""
    if not path:
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{what} '{path}' is a folder; give a file name")
    if target.exists() and not (target.is_file() and os.access(target, os.W_OK)):
        raise UsageError(f"{what} '{path}' cannot be written (not a writable regular file)")
    folder = target.resolve().parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{what} '{path}' cannot be written (folder {folder} is not writable)")


def guard(command):
    """File-system and database failures (unwritable --out/--json/--db, locked database) become one line."""
    import sqlite3

    def run(args) -> int:
        try:
            return command(args)
        except FileNotFoundError:
            raise
        except OSError as exc:
            where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
            raise UsageError(f"cannot access{where}: {exc.strerror or exc}") from None
        except sqlite3.Error as exc:
            raise UsageError(
                f"run history database {db_path(args)}: {exc} (move the file away, or pass --no-history)"
            ) from None

    return run


def add_data_arg(parser) -> None:
    parser.add_argument(
        "--data",
        default=str(DEFAULT_DATA),
        help=f"IBM-format data folder (default {DEFAULT_DATA}, the built-in dataset)",
    )


def artifacts_dir() -> Path:
    """The artifacts folder the app uses too ($RECSYS_ARTIFACTS_DIR, else the project's artifacts/)."""
    from recsys.serving.store import artifacts_dir as shared

    return shared()


def models_dir() -> Path:
    """The model store shared with the app: <artifacts>/models/<key>/<fingerprint>/<params>-<code>/."""
    return artifacts_dir() / "models"


def model_store(root=None):
    """The app's model store (same folder, same size cap: RECSYS_ARTIFACTS_MAX_MB, default 2048), so the CLI
    reuses what the app trained and the other way round, and neither removes the other's models."""
    from recsys.serving.store import ModelStore

    try:
        cap_mb = float(os.environ.get("RECSYS_ARTIFACTS_MAX_MB") or 2048)
    except ValueError:
        cap_mb = 2048.0
    return ModelStore(Path(root) if root else models_dir(), max_bytes=int(cap_mb * 2**20))


def check_export_target(path, what: str = "--out") -> None:
    """A folder a model is exported to is replaced as a whole: refuse one that holds anything but a saved model
    (e.g. the model store itself, or a folder of the user's files)."""
    from recsys.models.persistence import MANIFEST

    target = Path(path)
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / MANIFEST).is_file())):
        raise UsageError(
            f"{what} '{path}' exists and is not a saved model; it would be replaced as a whole -- choose a new or "
            "empty folder"
        )


def add_db_arg(parser) -> None:
    parser.add_argument(
        "--db",
        default=None,
        help="run-history SQLite file shared with the app (default $RECSYS_ARTIFACTS_DIR/runs.sqlite, else "
        "artifacts/runs.sqlite in the project folder)",
    )


def db_path(args) -> Path:
    """--db, else the run history the app uses."""
    return Path(args.db) if getattr(args, "db", None) else artifacts_dir() / "runs.sqlite"
