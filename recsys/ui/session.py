"""Per-session state for the workbench: which dataset is in use, the shared model store, error display.

Everything user-specific lives in `st.session_state` (one per browser session). Process-wide caches
(`st.cache_resource`) hold only things keyed by content: datasets by folder path + file signature, uploaded
datasets by the digest of their bytes (identical uploads share one copy, within a memory budget), and the
model store (keyed by dataset fingerprint, model key and parameters).

Safety for a shared server: folders load only from allowed roots (the built-in data folder plus
RECSYS_DATA_ROOTS; RECSYS_FOLDER_LOADING=off turns folder loading off); uploads never reach the disk.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:
    from recsys.data import Dataset

log = logging.getLogger("recsys.ui")

ROOT = Path(__file__).resolve().parents[2]
DATA_ENV = "RECSYS_DATA_DIR"  # overrides the built-in dataset folder (tests, small demos)
ARTIFACTS_ENV = "RECSYS_ARTIFACTS_DIR"  # overrides where trained models and the run history go
ROOTS_ENV = "RECSYS_DATA_ROOTS"  # extra folders (os.pathsep-separated) datasets may be loaded from
FOLDERS_ENV = "RECSYS_FOLDER_LOADING"  # "off" hides folder loading
UPLOAD_MEMORY_ENV = "RECSYS_UPLOAD_MEMORY_MB"  # server memory for uploaded datasets, all sessions together
ARTIFACTS_CAP_ENV = "RECSYS_ARTIFACTS_MAX_MB"  # disk for saved models (least recently used removed first)
UPLOAD_ENTRIES, UPLOAD_TTL = 32, 3600  # distinct uploads kept at once; seconds an unused upload is kept

SOURCE = "dataset_source"  # {"kind": "builtin" | "folder" | "upload", ...}
UPLOADED = "uploaded_dataset"  # an UploadHandle: which upload this session uses (the data is in upload_cache)


def builtin_dir() -> Path:
    return Path(os.environ.get(DATA_ENV) or ROOT / "data" / "builtin")


def artifacts_dir() -> Path:
    from recsys.serving.store import artifacts_dir as shared  # one helper decides it for the app and the CLI

    return shared()


def _env_number(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        return default


def allowed_roots() -> list[Path]:
    """Folders datasets may be loaded from: the built-in data folder plus those named in RECSYS_DATA_ROOTS."""
    extra = [Path(p).expanduser() for p in os.environ.get(ROOTS_ENV, "").split(os.pathsep) if p.strip()]
    return [builtin_dir(), *extra]


def folder_loading_enabled() -> bool:
    return os.environ.get(FOLDERS_ENV, "on").strip().lower() not in ("off", "0", "false", "no")


def upload_limit_mb() -> int:
    """Largest uploaded file in MB: Streamlit's server.maxUploadSize (the one setting for the uploader)."""
    try:
        return int(st.get_option("server.maxUploadSize"))
    except Exception:
        return 200


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


USER_INPUT_ERRORS = (ValueError, KeyError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
"""What bad input raises (a wrong folder, a malformed upload, an unknown learner or parameter): the message
says it all, so the log gets one line; anything else is a fault and keeps its traceback."""


def log_error(action: str, exc: BaseException) -> None:
    """One WARNING line for a user-input error (traceback only at DEBUG); ERROR with traceback otherwise."""
    if isinstance(exc, USER_INPUT_ERRORS):
        log.warning("%s failed: %s", action, " ".join(describe_error(exc).split()))
        log.debug("%s failed (traceback)", action, exc_info=exc)
    else:
        log.error("%s failed", action, exc_info=exc)


def show_error(action: str, exc: BaseException, hint: str = "") -> None:
    log_error(action, exc)
    from recsys.ui.plain import md

    text = f"**{action} failed:** {md(describe_error(exc))}"
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
def _load_folder(path: str, signature: tuple, roots: tuple | None):
    from recsys.data import load_dataset

    return load_dataset(path, allowed_roots=None if roots is None else [Path(r) for r in roots])


def load_folder(path, *, confined: bool = True) -> Dataset:
    """The Dataset in an IBM-format folder (cached per path and file signature); raises DatasetError.

    `confined` (a browser user's choice): only inside `allowed_roots()`, symlinks resolved, one message that
    reveals nothing for anything else; the built-in folder is always allowed."""
    from recsys.data import DatasetError
    from recsys.data.loader import FOLDER_REFUSED, MAX_PATH_CHARS, inside_roots

    text = str(path).strip()
    roots = None
    if confined:
        if not folder_loading_enabled():
            raise DatasetError("loading folders is turned off on this server; upload the CSV files instead")
        roots = tuple(str(r) for r in allowed_roots())
        if not text or len(text) > MAX_PATH_CHARS or "\x00" in text or not inside_roots(Path(text).expanduser(), roots):
            raise DatasetError(FOLDER_REFUSED)
    folder = Path(text).expanduser()
    if not text or not folder.is_dir():
        raise DatasetError(
            f"{text}: not a folder -- give the path of a folder holding ratings.csv and course_genre.csv"
        )
    return _load_folder(os.path.realpath(folder), folder_signature(folder), roots)


@dataclass(frozen=True)
class UploadHandle:
    """What a session keeps of its upload: a few numbers, not the data."""

    digest: str
    fingerprint: str
    ratings: int


class UploadCache:
    """Uploaded datasets of all sessions, by content digest, within a memory budget (LRU + time-to-live).

    Sessions keep only the digest: identical uploads share one Dataset, an upload unused for `ttl` seconds
    or pushed out by newer ones is dropped (the session is told to upload again), and an upload that alone
    exceeds the budget is refused with the numbers."""

    def __init__(self, budget_bytes: int, max_entries: int = UPLOAD_ENTRIES, ttl: float = UPLOAD_TTL):
        self.budget, self.max_entries, self.ttl = int(budget_bytes), int(max_entries), float(ttl)
        self._items: OrderedDict[str, tuple] = OrderedDict()  # digest -> (dataset, bytes, last used)
        self._lock = threading.Lock()

    def get(self, digest: str):
        with self._lock:
            self._expire()
            item = self._items.get(digest)
            if item is None:
                return None
            self._items[digest] = (item[0], item[1], time.monotonic())
            self._items.move_to_end(digest)
            return item[0]

    def put(self, digest: str, dataset) -> None:
        from recsys.data import DatasetError

        size = dataset_bytes(dataset)
        if size > self.budget:
            raise DatasetError(
                f"this upload needs about {size / 2**20:,.0f} MB of server memory; the limit for "
                f"uploads is {self.budget / 2**20:,.0f} MB (setting {UPLOAD_MEMORY_ENV}). Upload "
                f"fewer ratings, or ask the operator to put the files in an allowed folder"
            )
        with self._lock:
            self._items[digest] = (dataset, size, time.monotonic())
            self._items.move_to_end(digest)
            self._expire()
            while len(self._items) > 1 and (len(self._items) > self.max_entries or self.used() > self.budget):
                self._items.popitem(last=False)

    def used(self) -> int:
        return sum(item[1] for item in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def _expire(self) -> None:
        now = time.monotonic()
        for digest in [d for d, item in self._items.items() if now - item[2] > self.ttl]:
            del self._items[digest]


def dataset_bytes(dataset) -> int:
    """Server memory a dataset holds (frames deep, plus its rating matrix)."""
    total = int(dataset.ratings.memory_usage(deep=True).sum()) + int(dataset.courses.memory_usage(deep=True).sum())
    if dataset.bows is not None:
        total += int(dataset.bows.memory_usage(deep=True).sum())
    return total + 12 * len(dataset.ratings)  # the CSR matrix: float32 data + int32 index (+ index pointer)


@st.cache_resource
def upload_cache() -> UploadCache:
    """One per server process."""
    return UploadCache(int(_env_number(UPLOAD_MEMORY_ENV, 2048) * 2**20))


def load_uploaded(files) -> Dataset:
    """A Dataset from uploaded CSV files (UploadedFile objects); raises DatasetError with a clear message.

    Identical uploads (same bytes) from any session share one Dataset in `upload_cache()`."""
    from recsys.data import DatasetError
    from recsys.data.loader import load_dataset_from_files

    digest = uploaded_digest(files)
    cached = upload_cache().get(digest)
    if cached is not None:
        return cached
    named = {}
    for f in files:
        name = Path(f.name).name
        if not name.lower().endswith(".csv"):
            raise DatasetError(f"{name}: only .csv files can be uploaded")
        named[name] = f.getvalue()
    dataset = load_dataset_from_files(named, name="uploaded")
    upload_cache().put(digest, dataset)
    return dataset


def latest_per_name(files) -> tuple[list, list[str]]:
    """The uploaded files with one file per name -- a later upload of the same name replaces the earlier one --
    and the names that were replaced (for a visible note instead of a silent choice)."""
    latest: dict[str, object] = {}
    replaced: list[str] = []
    for f in files:
        name = Path(f.name).name
        if name in latest and name not in replaced:
            replaced.append(name)
        latest.pop(name, None)
        latest[name] = f
    return list(latest.values()), replaced


def loaded_text(dataset, what: str) -> str:
    """'Loaded built-in dataset: 34,000 learners · 300 courses · 228,724 ratings' (`what` is shown as text)."""
    from recsys.ui.plain import md

    return (
        f"Loaded {md(what)}: {dataset.n_users:,} learners · {dataset.n_items:,} courses · "
        f"{len(dataset.ratings):,} ratings"
    )


def uploaded_digest(files) -> str:
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.name):
        h.update(f.name.encode())
        h.update(f.getvalue())
    return h.hexdigest()[:16]


def dataset_source() -> dict:
    return st.session_state.get(SOURCE) or {"kind": "builtin"}


def use_source(source: dict, dataset=None) -> None:
    """Switch this session's dataset. An upload is remembered by its digest only (the data is in
    `upload_cache()`); `dataset` puts it there if it is not (e.g. a test building the session by hand)."""
    st.session_state[SOURCE] = dict(source)
    if source["kind"] == "upload":
        if dataset is not None and upload_cache().get(source["digest"]) is None:
            upload_cache().put(source["digest"], dataset)
        if dataset is not None:
            st.session_state[UPLOADED] = UploadHandle(source["digest"], dataset.fingerprint, len(dataset.ratings))
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
            ds = upload_cache().get(source.get("digest", ""))
            if ds is None:
                raise ValueError(
                    "the uploaded dataset is no longer in server memory (uploads are kept for "
                    f"{UPLOAD_TTL // 60} minutes unused, {UPLOAD_ENTRIES} at a time); upload the files again"
                )
            return ds
        if source["kind"] == "folder":
            return load_folder(source["path"])
        folder = builtin_dir()
        if not (folder / "ratings.csv").is_file():
            raise FileNotFoundError(
                f"the built-in dataset is missing at {folder}; generate it on the Home page or run `make data`"
            )
        return load_folder(folder)
    except Exception as exc:
        st.session_state["_dataset_problem"] = describe_error(exc)
        return None


def dataset_problem() -> str:
    return st.session_state.get("_dataset_problem", "")


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
def _model_store(root: str, max_bytes: int):
    from recsys.serving.store import ModelStore  # imports scikit-learn: only when a page needs models

    return ModelStore(root, max_bytes=max_bytes)


def model_store():
    """One store per server process: models are shared by content key, never by session. Models trained on
    uploads stay in its memory only; the disk copy is capped at RECSYS_ARTIFACTS_MAX_MB (LRU cleanup)."""
    return _model_store(str(artifacts_dir() / "models"), int(_env_number(ARTIFACTS_CAP_ENV, 2048) * 2**20))


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
RUNS = "runs"  # this session's finished runs: [{"id", "kind", "title", "result"}], newest last
MAX_RUNS = 6  # older runs are dropped from the session (they stay in the SQLite run history)


def run_history():
    """The shared SQLite run history (same file as the CLI's default when run from the project root)."""
    from recsys.evaluation import RunHistory

    return RunHistory(artifacts_dir() / "runs.sqlite")


def add_run(kind: str, title: str, result, run_id: int | None = None) -> dict:
    """Keep a finished run in this session; `run_id` = its id in the run history (the one number the pages
    show), else the next number after this session's runs."""
    runs = st.session_state.setdefault(RUNS, [])
    if run_id is None:
        run_id = max((r["id"] for r in runs), default=0) + 1
    entry = {"id": int(run_id), "kind": kind, "title": title, "result": result}
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
    run_id = container.selectbox(
        label, ids[::-1], key=key, format_func=lambda i: f"#{i}: " + next(r["title"] for r in runs if r["id"] == i)
    )
    return next(r["result"] for r in runs if r["id"] == run_id)


def save_run(kind: str, title: str, result) -> tuple[dict, str]:
    """Record a run in the SQLite history and keep it in this session under the same id.

    Returns (session entry, note for the page): one numbering, the run-history id ("run #12")."""
    try:
        history = run_history()
        run_id = history.record_experiment(result) if kind == "compare" else history.record_tuning(result)
    except Exception as exc:
        log.warning("could not record run: %s", describe_error(exc))
        entry = add_run(kind, f"{title} (not saved)", result)
        return entry, f"not saved in the run history ({describe_error(exc)})"
    return add_run(kind, title, result, run_id=run_id), f"saved as run #{run_id} in the run history"
