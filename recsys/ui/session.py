"""Per-session state for the workbench: which dataset is in use, the shared model store, error display.

Everything user-specific lives in `st.session_state` (one per browser session). Process-wide caches
(`st.cache_resource`) hold only things keyed by content: datasets by folder path + file signature, and
the model store (keyed by dataset fingerprint, model key and parameters).
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from recsys.ui import navigation

log = logging.getLogger("recsys.ui")

ROOT = Path(__file__).resolve().parents[2]
DATA_ENV = "RECSYS_DATA_DIR"            # overrides the built-in dataset folder (tests, small demos)
ARTIFACTS_ENV = "RECSYS_ARTIFACTS_DIR"  # overrides where trained models and the run history go

SOURCE = "dataset_source"        # {"kind": "builtin" | "folder" | "upload", ...}
UPLOADED = "uploaded_dataset"    # the Dataset built from uploaded files (this session only)


def builtin_dir() -> Path:
    return Path(os.environ.get(DATA_ENV) or ROOT / "data" / "builtin")


def artifacts_dir() -> Path:
    return Path(os.environ.get(ARTIFACTS_ENV) or ROOT / "artifacts")


# ----- errors ----------------------------------------------------------------------------------
def describe_error(exc: BaseException) -> str:
    """One readable sentence for an exception (our errors already say what was wrong and what to do)."""
    if isinstance(exc, MemoryError):
        return "ran out of memory -- try a smaller dataset, fewer models or smaller parameters"
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, (ValueError, FileNotFoundError, PermissionError, TypeError, RuntimeError)):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def show_error(action: str, exc: BaseException, hint: str = "") -> None:
    log.warning("%s failed", action, exc_info=exc)
    text = f"**{action} failed:** {describe_error(exc)}"
    if hint:
        text += f"  \n{hint}"
    st.error(text, icon=":material/error:")


@contextmanager
def guard(action: str, hint: str = ""):
    """Run a user action; any exception becomes one st.error (never a traceback on the page)."""
    try:
        yield
    except Exception as exc:  # st.rerun/st.stop are BaseException and pass through
        show_error(action, exc, hint)


# ----- datasets --------------------------------------------------------------------------------
def folder_signature(path: Path) -> tuple:
    """(name, size, mtime) of the CSV files: a changed file gives a new cache entry."""
    files = sorted(Path(path).glob("*.csv"))
    return tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)


@st.cache_resource(show_spinner="Loading dataset ...", max_entries=6)
def _load_folder(path: str, signature: tuple):
    from recsys.data import load_dataset

    return load_dataset(path)


def load_folder(path) -> "Dataset":
    """The Dataset in an IBM-format folder (cached per path and file signature); raises DatasetError."""
    from recsys.data import DatasetError

    path = Path(str(path).strip()).expanduser()
    if not str(path) or not path.is_dir():
        raise DatasetError(f"{path}: not a folder -- give the path of a folder holding ratings.csv and course_genre.csv")
    return _load_folder(str(path.resolve()), folder_signature(path))


def load_uploaded(files) -> "Dataset":
    """A Dataset from uploaded CSV files (UploadedFile objects); raises DatasetError with a clear message."""
    from recsys.data import DatasetError

    try:
        from recsys.data.loader import load_dataset_from_files
    except ImportError as exc:
        raise DatasetError("loading uploaded files is not available in this version (recsys.data.loader missing)") from exc
    named = {}
    for f in files:
        name = Path(f.name).name
        if not name.lower().endswith(".csv"):
            raise DatasetError(f"{name}: only .csv files can be uploaded")
        named[name] = f.getvalue()
    return load_dataset_from_files(named, name="uploaded")


def uploaded_digest(files) -> str:
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.name):
        h.update(f.name.encode())
        h.update(f.getvalue())
    return h.hexdigest()[:16]


def dataset_source() -> dict:
    return st.session_state.get(SOURCE) or {"kind": "builtin"}


def use_source(source: dict, dataset=None) -> None:
    st.session_state[SOURCE] = dict(source)
    if source["kind"] == "upload":
        st.session_state[UPLOADED] = dataset
    else:
        st.session_state.pop(UPLOADED, None)


def source_label(source: dict | None = None) -> str:
    source = source or dataset_source()
    if source["kind"] == "folder":
        return f"folder {source['path']}"
    if source["kind"] == "upload":
        return "uploaded files"
    return "built-in (generated)"


def current_dataset():
    """The Dataset chosen in this session, or None (with the reason in `dataset_problem()`)."""
    source = dataset_source()
    st.session_state.pop("_dataset_problem", None)
    try:
        if source["kind"] == "upload":
            ds = st.session_state.get(UPLOADED)
            if ds is None:
                raise ValueError("the uploaded dataset is no longer in this session; upload the files again")
            return ds
        if source["kind"] == "folder":
            return load_folder(source["path"])
        folder = builtin_dir()
        if not (folder / "ratings.csv").is_file():
            raise FileNotFoundError(
                f"the built-in dataset is missing at {folder}; generate it on the Home page or run `make data`")
        return load_folder(folder)
    except Exception as exc:
        st.session_state["_dataset_problem"] = describe_error(exc)
        return None


def dataset_problem() -> str:
    return st.session_state.get("_dataset_problem", "")


def no_dataset_message() -> None:
    st.warning(f"No dataset is loaded: {dataset_problem()}", icon=":material/database:")
    st.page_link(navigation.HOME, label="Choose a dataset on the Home page", icon=":material/home:")


def require_dataset():
    """The dataset in use. app.py only runs data pages when one is loaded, so None here is a bug.

    (No st.stop() anywhere: after it, nothing else -- e.g. the sidebar -- can be drawn in that run.)
    """
    ds = current_dataset()
    if ds is None:
        raise RuntimeError(f"no dataset is loaded ({dataset_problem()}); choose one on the Home page")
    return ds


# ----- models ----------------------------------------------------------------------------------
@st.cache_resource
def _model_store(root: str):
    from recsys.artifacts import ModelStore  # imports scikit-learn: only when a page needs models

    return ModelStore(root)


def model_store():
    """One store per server process: models are shared by content key, never by session."""
    return _model_store(str(artifacts_dir() / "models"))


_warm_started = threading.Event()  # process-wide, not user data: only says the import warm-up began


def prewarm_models() -> None:
    """Import the model modules in the background once per process (after the first page rendered), so
    the first visit to Recommend/Compare does not wait for scikit-learn. TensorFlow is not imported here."""
    if _warm_started.is_set():
        return
    _warm_started.set()

    def warm():
        try:
            from recsys.models import MODEL_KEYS, REGISTRY

            for key in MODEL_KEYS:
                REGISTRY[key]
        except Exception:  # only a warm-up: the pages report real problems
            pass

    threading.Thread(target=warm, name="recsys-prewarm", daemon=True).start()


# ----- runs --------------------------------------------------------------------------------------
RUNS = "runs"       # this session's finished runs: [{"id", "kind", "title", "result"}], newest last
MAX_RUNS = 6        # older runs are dropped from the session (they stay in the SQLite run history)


def run_history():
    """The shared SQLite run history (same file as the CLI's default when run from the project root)."""
    from recsys.evaluation import RunHistory

    return RunHistory(artifacts_dir() / "runs.sqlite")


def add_run(kind: str, title: str, result) -> dict:
    runs = st.session_state.setdefault(RUNS, [])
    entry = {"id": (runs[-1]["id"] + 1) if runs else 1, "kind": kind, "title": title, "result": result}
    runs.append(entry)
    del runs[:-MAX_RUNS]
    return entry


def session_runs(kind: str | None = None) -> list[dict]:
    return [r for r in st.session_state.get(RUNS, []) if kind is None or r["kind"] == kind]


def pick_run(runs: list[dict], key: str, label: str, *, prefer: str | None = None, container=st):
    """A selectbox over this session's runs (newest first) that keeps its choice; returns the chosen result.

    The default is the run whose id is in session_state[`prefer`] if any, else the newest.
    """
    ss = st.session_state
    ids = [r["id"] for r in runs]
    if ss.get(key) not in ids:
        ss[key] = ss.get(prefer) if prefer and ss.get(prefer) in ids else ids[-1]
    run_id = container.selectbox(label, ids[::-1], key=key,
                                 format_func=lambda i: f"#{i}: " + next(r["title"] for r in runs if r["id"] == i))
    return next(r["result"] for r in runs if r["id"] == run_id)


def record(kind: str, result) -> str:
    """Store a run in the SQLite history; returns a note for the page (a failure only costs the record)."""
    try:
        history = run_history()
        run_id = history.record_experiment(result) if kind == "compare" else history.record_tuning(result)
        return f"saved as run #{run_id} in the run history"
    except Exception as exc:
        log.warning("could not record run", exc_info=exc)
        return f"not saved in the run history ({describe_error(exc)})"
