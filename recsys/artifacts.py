"""Model store: trained models cached in memory and on disk, retrained only when something changed.

A model is identified by (dataset fingerprint, model key, full parameter set, model code version). The code
version is a hash of the model's source module and the shared base class, so editing a model invalidates its
old artifacts instead of silently serving a model built by older code. A corrupt or unreadable artifact is
retrained, never a crash; a failed save only costs the disk copy (the trained model is still returned).
"""
from __future__ import annotations

import hashlib
import inspect
import json
import logging
import shutil
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Mapping

from recsys.models import REGISTRY, load_model, make_model
from recsys._json import to_jsonable as _jsonable

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
SOURCES = ("memory", "disk", "trained")


def canonical_params(key: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """All hyperparameters of model `key` (declared defaults filled in), validated; raises ValueError."""
    return _jsonable(make_model(key, **dict(params or {})).get_params())


def params_digest(params: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=repr).encode()).hexdigest()[:12]


_CODE_CACHE: dict[str, str] = {}


def code_version(key: str) -> str:
    """Hash of the model's module source plus the base class source (what the artifact was built by)."""
    if key not in _CODE_CACHE:
        import recsys.models.base as base

        h = hashlib.sha256()
        for module in (inspect.getmodule(REGISTRY[key]), base):
            try:
                h.update(Path(inspect.getsourcefile(module)).read_bytes())
            except (OSError, TypeError):
                h.update(getattr(module, "__name__", "?").encode())
        _CODE_CACHE[key] = h.hexdigest()[:8]
    return _CODE_CACHE[key]


class ModelStore:
    """Trained models under `root/<key>/<dataset fingerprint>/<params>-<code>/`, plus an in-memory LRU.

    Thread-safe: concurrent requests for the same model (e.g. two browser sessions) train it once.
    """

    def __init__(self, root="artifacts/models", memory_items: int = 16):
        self.root = Path(root)
        self.memory_items = int(memory_items)
        self._memory: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}

    # ----- identity ---------------------------------------------------------------------------
    def _identity(self, dataset, key: str, params) -> tuple[tuple, dict]:
        full = canonical_params(key, params)
        return (dataset.fingerprint, key, params_digest(full), code_version(key)), full

    def path_for(self, dataset, key: str, params: Mapping[str, Any] | None = None) -> Path:
        """Folder where the model for (dataset, key, params) is (or would be) saved."""
        (fingerprint, key, pdigest, code), _ = self._identity(dataset, key, params)
        return self.root / key / fingerprint / f"{pdigest}-{code}"

    # ----- lookup / training ------------------------------------------------------------------
    def get_or_train(self, dataset, key: str, params: Mapping[str, Any] | None = None,
                     progress: Progress | None = None):
        """The fitted model for (dataset, key, params): from memory, else disk, else trained and saved."""
        return self.fetch(dataset, key, params, progress)[0]

    def fetch(self, dataset, key: str, params: Mapping[str, Any] | None = None,
              progress: Progress | None = None) -> tuple[Any, str]:
        """Like `get_or_train` but also says where the model came from: 'memory', 'disk' or 'trained'."""
        ident, full = self._identity(dataset, key, params)
        with self._lock:
            key_lock = self._key_locks.setdefault(ident, threading.Lock())
        with key_lock:
            model = self._remember(ident)
            if model is not None:
                return model, "memory"
            path = self.root / key / ident[0] / f"{ident[2]}-{ident[3]}"
            model = self._load(path, dataset, key, full)
            source = "disk"
            if model is None:
                model = make_model(key, **full).fit(dataset, progress=progress)
                source = "trained"
                self._save(model, path)
            elif progress:
                progress(1.0, "loaded a saved model")
            self._remember(ident, model)
            return model, source

    def cached(self, dataset, key: str, params: Mapping[str, Any] | None = None):
        """The model if it is in memory or on disk (never trains); None otherwise."""
        ident, full = self._identity(dataset, key, params)
        model = self._remember(ident)
        if model is None:
            model = self._load(self.root / key / ident[0] / f"{ident[2]}-{ident[3]}", dataset, key, full)
            if model is not None:
                self._remember(ident, model)
        return model

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

    def _load(self, path: Path, dataset, key: str, params: dict):
        if not path.exists():
            return None
        try:
            model = load_model(path, dataset)
            if model.key != key or _jsonable(model.get_params()) != params:
                raise ValueError("saved model has other parameters than its folder name says")
            return model
        except Exception as exc:  # corrupt, truncated, stale or foreign artifact: retrain instead
            log.warning("discarding unusable model artifact %s: %s", path, exc)
            shutil.rmtree(path, ignore_errors=True)
            return None

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
