"""Command line: `python -m recsys <command> --help`.

Every command reports bad input (unknown model, parameter or value, malformed data) as one clear line on
stderr with exit code 2 -- never a traceback.
"""
from __future__ import annotations

import argparse
import sys
import time


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


def _cmd_generate(args) -> int:
    from recsys.data import generate_dataset

    if args.learners < 1 or args.courses < 14:
        raise UsageError("--learners must be >= 1 and --courses >= 14 (one per genre at least)")
    started = time.perf_counter()
    summary = generate_dataset(args.out, seed=args.seed, n_learners=args.learners, n_courses=args.courses)
    took = time.perf_counter() - started
    print(f"wrote {args.out}: {summary['learners']:,} learners, {summary['courses']} courses, "
          f"{summary['ratings']:,} ratings in {took:.1f}s (seed {args.seed})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recsys", description="Course recommender workbench.")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    sub.required = True

    p = sub.add_parser("generate", help="write a synthetic dataset in the IBM course-recommender format",
                       description="Write ratings.csv, course_genre.csv, course_processed.csv, course_meta.csv "
                                   "and courses_bows.csv into OUT. Deterministic for a seed.")
    p.add_argument("--out", required=True, help="output folder (created; files are replaced atomically)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--learners", type=int, default=34000, help="number of learners (default 34000)")
    p.add_argument("--courses", type=int, default=300, help="number of courses (default 300)")
    p.set_defaults(func=_cmd_generate)

    _add_more_commands(sub)
    return parser


def _add_more_commands(sub) -> None:
    """Commands beyond `generate` (train, recommend, compare, tune, history) live in recsys.commands."""
    try:
        from recsys import commands
    except ImportError:
        return
    commands.register(sub)




def main(argv=None) -> int:
    parser = build_parser()
    # argparse prints usage + one error line and exits 2 on bad syntax; we do the same for bad values.
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (UsageError, ValueError, KeyError, FileNotFoundError) as exc:  # DatasetError is a ValueError
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2
