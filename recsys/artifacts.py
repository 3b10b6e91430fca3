"""Model store: trained models cached in memory and on disk, retrained only when something changed.

A model is identified by (dataset fingerprint, model key, full parameter set, model code version). The code
version is a hash of every module a model can depend on (all of `recsys/models/`, `recsys/data/dataset.py`
and the JSON helpers), so editing a shared helper invalidates the artifacts of every model instead of
silently serving a model built by older code. A corrupt, unsigned or forged artifact is refused before it is
read (see `recsys.models.persistence`), reported through `notify`, retrained and saved again -- never a crash;
a failed save only costs the disk copy (the trained model is still returned).

Models trained on uploaded files stay in memory (the uploads' titles never reach the disk) unless the caller
asks to persist them; the disk store is capped (`max_bytes`) with least-recently-used cleanup.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from recsys._json import to_jsonable as _jsonable
from recsys.models import REGISTRY, ArtifactError, load_model, make_model
from recsys.models.base import MANIFEST
from recsys.models.persistence import artifact_bytes

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
SOURCES = ("memory", "disk", "trained")


def canonical_params(key: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """All hyperparameters of model `key` (declared defaults filled in), validated; raises ValueError."""
    return _jsonable(make_model(key, **dict(params or {})).get_params())


def params_digest(params: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=repr).encode()).hexdigest()[:12]


PACKAGE = Path(__file__).resolve().parent


def model_source_files() -> list[Path]:
    """Every source file a model's behaviour can depend on: all of recsys/models/ (model modules, shared
    helpers, base class, persistence), recsys/data/dataset.py and recsys/_json.py."""
    files = sorted((PACKAGE / "models").rglob("*.py"))
    return files + [PACKAGE / "data" / "dataset.py", PACKAGE / "_json.py"]


_CODE_CACHE: dict = {}


def code_version(key: str, files: Sequence[Path] | None = None) -> str:
    """Hash of the model's class name and the source files it can depend on (what the artifact was built by).

    With the default files (`model_source_files()`) the hash is computed once per process: it describes the
    code this process imported, even if the files are edited while it runs. Explicit `files` are re-read
    whenever one changes (size or mtime), e.g. a store pointed at other sources.
    """
    if files is None:
        if key not in _CODE_CACHE:
            _CODE_CACHE[key] = _hash_sources(key, model_source_files())
        return _CODE_CACHE[key]
    paths = [Path(f) for f in files]
    signature: list[tuple[str, int, int]] = []
    for f in paths:
        try:
            st = f.stat()
            signature.append((str(f), st.st_size, st.st_mtime_ns))
        except OSError:
            signature.append((str(f), -1, -1))
    stamp = (key, *signature)
    if stamp not in _CODE_CACHE:
        _CODE_CACHE[stamp] = _hash_sources(key, paths)
    return _CODE_CACHE[stamp]


def _hash_sources(key: str, paths: Sequence[Path]) -> str:
    h = hashlib.sha256(f"{REGISTRY[key].__module__}:{REGISTRY[key].__qualname__}".encode())
    for f in paths:
        h.update(str(f.name).encode())
        try:
            h.update(f.read_bytes())
        except OSError:
            h.update(b"<missing>")
    return h.hexdigest()[:8]


def is_uploaded(dataset) -> bool:
    """True for a dataset built from uploaded files (the loader records the source)."""
    return (getattr(dataset, "load_report", None) or {}).get("source") == "uploaded files"


REFUSED_NOTE = (
    "The saved copy of this model could not be used ({reason}); it was not read, and the model "
    "was trained again and saved."
)


class ModelStore:
    """Trained models under `root/<key>/<dataset fingerprint>/<params>-<code>/`, plus an in-memory LRU.

    Thread-safe: concurrent requests for the same model (e.g. two browser sessions) train it once.
    """

    def __init__(
        self,
        root="artifacts/models",
        memory_items: int = 16,
        *,
        max_bytes: int | None = None,
        source_files: Sequence[Path] | None = None,
    ):
        self.root = Path(root)
        self.memory_items = int(memory_items)
        self.max_bytes = max_bytes
        self.source_files = source_files
        self._memory: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}

    # ----- identity ---------------------------------------------------------------------------
    def _identity(self, dataset, key: str, params) -> tuple[tuple, dict]:
        full = canonical_params(key, params)
        return (dataset.fingerprint, key, params_digest(full), code_version(key, self.source_files)), full

    def _folder(self, ident: tuple) -> Path:
        fingerprint, key, pdigest, code = ident
        return self.root / key / fingerprint / f"{pdigest}-{code}"

    def path_for(self, dataset, key: str, params: Mapping[str, Any] | None = None) -> Path:
        """Folder where the model for (dataset, key, params) is (or would be) saved."""
        return self._folder(self._identity(dataset, key, params)[0])

    # ----- lookup / training ------------------------------------------------------------------
    def get_or_train(
        self, dataset, key: str, params: Mapping[str, Any] | None = None, progress: Progress | None = None, **options
    ):
        """The fitted model for (dataset, key, params): from memory, else disk, else trained and saved."""
        return self.fetch(dataset, key, params, progress, **options)[0]

    def fetch(
        self,
        dataset,
        key: str,
        params: Mapping[str, Any] | None = None,
        progress: Progress | None = None,
        *,
        notify: Callable[[str], None] | None = None,
        persist: bool | None = None,
    ) -> tuple[Any, str]:
        """Like `get_or_train` but also says where the model came from: 'memory', 'disk' or 'trained'.

        `notify(sentence)` hears about a saved artifact that was refused (for the page or the terminal).
        `persist`: save to disk; default True except for datasets built from uploaded files.
        """
        persist = (not is_uploaded(dataset)) if persist is None else bool(persist)
        ident, full = self._identity(dataset, key, params)
        with self._lock:
            key_lock = self._key_locks.setdefault(ident, threading.Lock())
        with key_lock:
            model = self._remember(ident)
            if model is not None:
                return model, "memory"
            path = self._folder(ident)
            model = self._load(path, dataset, key, full, notify) if persist else None
            source = "disk"
            if model is None:
                model = make_model(key, **full).fit(dataset, progress=progress)
                source = "trained"
                if persist:
                    self._save(model, path)
            elif progress:
                progress(1.0, "loaded a saved model")
            _share_fitted(model)
            self._remember(ident, model)
            return model, source

    def cached(self, dataset, key: str, params: Mapping[str, Any] | None = None):
        """The model if it is in memory or on disk (never trains); None otherwise."""
        ident, full = self._identity(dataset, key, params)
        model = self._remember(ident)
        if model is None and not is_uploaded(dataset):
            model = self._load(self._folder(ident), dataset, key, full)
            if model is not None:
                _share_fitted(model)
                self._remember(ident, model)
        return model

    def in_memory(self, dataset, key: str, params: Mapping[str, Any] | None = None, *, quiet: bool = False):
        """The model if this server already holds it (never reads the disk, never trains); None otherwise.
        Cheap enough for every rerun of a page: picking an already-trained model can show it at once.
        `quiet`: parameters that do not validate give None (training them reports the error) instead of raising."""
        try:
            ident, _ = self._identity(dataset, key, params)
        except ValueError:
            if quiet:
                return None
            raise
        return self._remember(ident)

    def clear_memory(self) -> None:
        with self._lock:
            self._memory.clear()

    # ----- internals --------------------------------------------------------------------------
    def _remember(self, ident: tuple, model=None):
        with self._lock:
            if model is None:
                found = self._memory.get(ident)
                if found is not None:
                    self._memory.move_to_end(ident)
                return found
            self._memory[ident] = model
            self._memory.move_to_end(ident)
            while len(self._memory) > max(0, self.memory_items):
                self._memory.popitem(last=False)
            return model

    def _load(self, path: Path, dataset, key: str, params: dict, notify=None):
        if not path.exists():
            return None
        try:
            model = load_model(path, dataset)
            if model.key != key or _jsonable(model.get_params()) != params:
                raise ArtifactError("saved model has other parameters than its folder name says")
        except Exception as exc:  # corrupt, truncated, forged, stale or foreign artifact: retrain instead
            log.warning("refused model artifact %s: %s", path, exc)
            shutil.rmtree(path, ignore_errors=True)
            if notify is not None:
                notify(REFUSED_NOTE.format(reason=_reason(exc)))
            return None
        _touch(path)
        return model

    def _save(self, model, path: Path) -> None:
        try:
            model.save(path)
        except Exception as exc:  # a read-only or full disk must not lose the trained model
            log.warning("could not save model artifact %s: %s", path, exc)
            return
        prefix = path.name.split("-")[0] + "-"
        for sibling in path.parent.iterdir():  # same params, older code version: obsolete
            if sibling.is_dir() and sibling.name.startswith(prefix) and sibling.name != path.name:
                shutil.rmtree(sibling, ignore_errors=True)
        if self.max_bytes is not None:
            self.enforce_cap(keep=path)

    # ----- disk cap ---------------------------------------------------------------------------
    def artifacts(self) -> list[tuple[Path, int, float]]:
        """(folder, bytes, last used) of every saved model under the root."""
        out = []
        for manifest in self.root.glob(f"*/*/*/{MANIFEST}"):
            folder = manifest.parent
            try:
                out.append((folder, artifact_bytes(folder), manifest.stat().st_mtime))
            except OSError:
                continue
        return out

    def enforce_cap(self, keep: Path | None = None) -> list[Path]:
        """Delete least-recently-used artifacts until the store is under `max_bytes`; returns what was removed."""
        if self.max_bytes is None:
            return []
        items = sorted(self.artifacts(), key=lambda t: t[2])
        total = sum(size for _, size, _ in items)
        removed = []
        for folder, size, _ in items:
            if total <= self.max_bytes:
                break
            if keep is not None and folder == Path(keep):
                continue
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
            total -= size
        return removed


def _share_fitted(model) -> None:
    """Let models that reuse another's training see this one (a loaded `neural` network makes the embedding
    models cheap: see recsys.models.neural.shared_embedding)."""
    share = getattr(model, "share_fitted", None)
    if callable(share):
        share()


def _touch(folder: Path) -> None:
    """Mark an artifact as used now (the LRU cleanup removes the oldest first)."""
    try:
        os.utime(folder / MANIFEST)
    except OSError:
        pass


def _reason(exc: BaseException) -> str:
    """The cause of a refusal without server paths (the page is shown to browser users)."""
    text = str(exc)
    if "signature" in text:
        return "its signature does not match: it was modified, or written by another installation"
    if "checksum" in text:
        return "its files do not match their checksums: it is corrupted or was modified"
    if "trained on dataset" in text:
        return "it was trained on other data"
    return "it could not be read"
