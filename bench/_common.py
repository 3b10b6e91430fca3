"""Shared helpers for the benchmark scripts: machine description, timing, peak memory, tables, JSON.

Every bench script prints the machine first and can write its results with `--json OUT`, so a figure in
the README can always be traced to the hardware and load it was measured on (the load average is part of
the record: on a shared machine a busy neighbour makes every number pessimistic).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # scripts run as `python bench/x.py`: make the package importable
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from recsys._json import write_json_atomic as write_json  # noqa: E402  (after the sys.path set-up)

DEFAULT_DATA = ROOT / "data" / "builtin"
# Bench-only model names for configurations that are not a registry key of their own.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {"knn_user": ("knn", {"user_based": True})}


# ----- machine ------------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    """Cores, CPU model, RAM, OS and the versions that matter for the figures (no heavy imports)."""
    import numpy

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cores": cores,
        "cpu": _cpu_model(),
        "ram_gb": _ram_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": _version("scipy"),
        "pandas": _version("pandas"),
        "scikit-surprise": _version("scikit-surprise"),
        "tensorflow": _version("tensorflow-cpu") or _version("tensorflow"),
        "load_average": load_average(),
    }


def print_machine(info: Mapping[str, Any], stream=None) -> None:
    stream = stream or sys.stdout
    load = info.get("load_average")
    load_text = " / ".join(f"{v:.2f}" for v in load) if load else "n/a"
    stream.write(f"machine: {info['cores']} cores, {info['cpu']}, {info['ram_gb']} GB RAM, {info['os']}\n")
    stream.write(
        f"versions: python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, "
        f"pandas {info['pandas']}, surprise {info['scikit-surprise']}, tensorflow {info['tensorflow']}\n"
    )
    stream.write(f"load average (1/5/15 min) at start: {load_text}\n")
    stream.flush()


# ----- timing and memory --------------------------------------------------------------------------
def time_call(fn: Callable[[], Any], collect: bool = False) -> tuple[float, Any]:
    """(wall seconds, result) of one call; `collect` first runs a full garbage collection, so garbage left
    by an earlier step is not charged to this call (the collector stays on: it is part of real costs)."""
    if collect:
        import gc

        gc.collect()
    began = time.perf_counter()
    result = fn()
    return time.perf_counter() - began, result


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    """User + system CPU seconds so far (RUSAGE_SELF or RUSAGE_CHILDREN): unlike wall time, barely affected
    by other processes competing for the cores -- recorded next to wall times on a shared machine."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def percentile(values: Sequence[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float("nan")


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports ru_maxrss in KB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 1024.0**2


def current_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


# ----- models and data ----------------------------------------------------------------------------
def available_models() -> list[str]:
    """Every registry key."""
    from recsys.models import MODEL_KEYS

    return list(MODEL_KEYS)


def resolve_model_names(text: str | None, default: Iterable[str]) -> list[str]:
    """'all' / None -> `default`; else a comma list of registry keys or bench variants (e.g. knn_user)."""
    from recsys.models import MODEL_KEYS

    if text is None or text.strip() == "all":
        return list(default)
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in MODEL_KEYS and n not in VARIANTS]
    if bad:
        raise SystemExit(f"error: unknown model(s) {', '.join(bad)} (known: {', '.join(MODEL_KEYS + tuple(VARIANTS))})")
    return names


def model_spec(name: str) -> tuple[str, dict[str, Any]]:
    """Registry key and parameters for a bench model name."""
    return VARIANTS.get(name, (name, {}))


def build_model(name: str, seed: int = 0, **extra):
    """An unfitted model for a bench name; models with a seed parameter get `seed`."""
    from recsys.models import REGISTRY, make_model

    key, params = model_spec(name)
    params = {**params, **extra}
    spec = REGISTRY[key].param_spec()
    for p in ("random_state", "seed"):
        if p in spec and p not in params:
            params[p] = seed
    return make_model(key, **params)


def load_data(path):
    from recsys.data import load_dataset

    path = Path(path)
    if not (path / "ratings.csv").is_file():
        hint = (
            " (create it with: .venv/bin/python -m recsys generate --out data/builtin --seed 0)"
            if path.resolve() == DEFAULT_DATA.resolve()
            else ""
        )
        raise SystemExit(f"error: no dataset at '{path}'{hint}")
    return load_dataset(path)


# ----- output -------------------------------------------------------------------------------------
def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, stream=None) -> None:
    """Rows of dicts as a plain aligned table (numbers right-aligned)."""
    stream = stream or sys.stdout
    if not rows:
        stream.write("(no rows)\n")
        return
    columns = list(columns or rows[0].keys())
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    numeric = [all(_is_number(r.get(c)) or r.get(c) is None for r in rows) for c in columns]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    stream.write(line(columns) + "\n")
    stream.write("  ".join("-" * w for w in widths) + "\n")
    for row in cells:
        stream.write(line(row) + "\n")
    stream.flush()


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "n/a"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}" if abs(value) < 0.01 and value != 0 else f"{value:.2f}"
    return str(value)


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None or seconds != seconds:
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.1f} s"


def report(
    benchmark: str, info: Mapping[str, Any], params: Mapping[str, Any], results: list, summary: Mapping[str, Any]
) -> dict:
    """The JSON layout shared by every bench script."""
    return {
        "benchmark": benchmark,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": dict(info),
        "load_average_end": load_average(),
        "params": dict(params),
        "results": results,
        "summary": dict(summary),
    }


def parser(description: str, data: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    if data:
        p.add_argument("--data", default=str(DEFAULT_DATA), help="IBM-format data folder (default data/builtin)")
    p.add_argument("--seed", type=int, default=0, help="seed for sampling, splits and seeded models (default 0)")
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    return p


def bench_models(text: str | None) -> tuple[list[str], list[str]]:
    """(names to run, names whose model module is missing) for --models; knn_user joins the default where knn exists."""
    available = available_models()
    names = resolve_model_names(text, [*available, *(["knn_user"] if "knn" in available else [])])
    missing = [n for n in names if model_spec(n)[0] not in available]
    return [n for n in names if n not in missing], missing


def finish(
    benchmark: str,
    args,
    info: Mapping[str, Any],
    results: list,
    summary: Mapping[str, Any],
    internal: Iterable[str] = (),
) -> None:
    """Print the closing load average and, with --json, write the shared report (params = the CLI options)."""
    load_end = load_average()
    print(f"load average at end: {' / '.join(f'{v:.2f}' for v in load_end) if load_end else 'n/a'}")
    if args.json:
        skip = {"json", *internal}
        params = {k: v for k, v in vars(args).items() if k not in skip}
        write_json(args.json, report(benchmark, info, params, results, summary))
        print(f"wrote {args.json}")
