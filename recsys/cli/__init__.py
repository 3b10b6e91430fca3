"""Command line: `python -m recsys <command> --help` (or `recsys <command>` once installed).

One module per command group, each with `register(subparsers)`; COMMAND_MODULES is the list. Every command
reports bad input (unknown model, parameter or value, malformed data) as one clear line on stderr with exit
code 2 -- never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from recsys import _logs
from recsys.cli.common import UsageError, check_bounds, harden

COMMAND_MODULES = (
    "recsys.cli.data",  # generate
    "recsys.cli.models",  # train, recommend
    "recsys.cli.evaluate",  # compare, tune, history
    "recsys.cli.spark",  # spark train|recommend|evaluate
    "recsys.cli.paths",  # path
    "recsys.cli.insights",  # course-report, new-course
    "recsys.cli.abtest",  # abtest (simulated A/B test, Thompson sampling)
)


VERBOSE = "--verbose"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m recsys", description="Course recommender workbench.")
    parser.add_argument(
        VERBOSE,
        action="store_true",
        help="keep TensorFlow's and Spark's own log output (quiet by default); accepted anywhere on the line",
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    sub.required = True
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(sub)
    harden(parser)  # every integer bounded, every float finite (NaN/inf refused with the option's name)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if VERBOSE in argv:  # anywhere on the line, also after a (sub-)subcommand such as `spark evaluate`
        argv = [a for a in argv if a != VERBOSE]
        os.environ[_logs.VERBOSE_ENV] = "1"
    _logs.quiet_environment()  # before anything imports TensorFlow
    parser = build_parser()
    # argparse prints usage + one error line and exits 2 on bad syntax; we do the same for bad values.
    args = parser.parse_args(argv)
    try:
        check_bounds(parser, args)  # sizes within their bounds, floats finite: one line, exit code 2
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (UsageError, ValueError, KeyError, FileNotFoundError) as exc:  # DatasetError is a ValueError
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
        return 2


__all__ = ["COMMAND_MODULES", "UsageError", "build_parser", "main"]
