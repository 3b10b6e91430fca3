"""Model store: trained models cached in memory and on disk, retrained only when something changed.

A model is identified by (dataset fingerprint, model key, full parameter set, model code version). The code
version is computed from the modules the model really imports and the versions of the libraries whose objects
it stores (`recsys.models.provenance`), so editing a helper invalidates exactly the artifacts built with it.
The identity is also inside the signed manifest: an artifact copied into another model's folder (a replay) or
written by other code is refused. A corrupt, unsigned, forged or replayed artifact is refused before its state
is decoded (see `recsys.models.persistence`), reported through `notify`, retrained and saved again -- never a
crash. An unusable secret key never deletes an artifact, and a failed save is reported as such (the trained
model is still returned). Temporary folders of a save that was killed are swept and count against the cap.

Models trained on uploaded files stay in memory (the uploads' titles never reach the disk) unless the caller
asks to persist them; the disk store is capped (`max_bytes`) with least-recently-used cleanup.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from recsys._json import to_jsonable as _jsonable
from recsys._locations import ARTIFACTS_ENV, artifacts_dir  # noqa: F401  (re-exported: the one helper)
from recsys.models.persistence import (
    MANIFEST,
    OLD_MARK,
    TEMP_MARK,
    ArtifactError,
    KeyFileError,
    artifact_bytes,
    load_model,
    save_model,
)
from recsys.models.provenance import provenance
from recsys.models.registry import REGISTRY, make_model

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
SOURCES = ("memory", "disk", "trained")


def canonical_params(key: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """All hyperparameters of model `key` (declared defaults filled in), validated; raises ValueError."""
    return _jsonable(make_model(key, **dict(params or {})).get_params())


def params_digest(params: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=repr).encode()).hexdigest()[:12]


_CODE_CACHE: dict[str, str] = {}
ORPHAN_AGE_SECONDS = 3600  # a temporary save folder older than this (or whose process is gone) is an orphan


def code_version(key: str, root: Path | None = None) -> str:
    """Version of model `key`'s code: its class, the recsys modules it transitively imports and the versions
    of the libraries it stores objects of (see `recsys.models.provenance`). With the default `root` (this
    installed package) it is computed once per process: it describes the code this process imported. An
    explicit `root` (a copy of the recsys folder) is re-read on every call."""
    if root is not None:
        return provenance(REGISTRY[key], Path(root))["code"]
    if key not in _CODE_CACHE:
        _CODE_CACHE[key] = provenance(REGISTRY[key])["code"]
    return _CODE_CACHE[key]


def is_uploaded(dataset) -> bool:
    """True for a dataset built from uploaded files (the loader records the source)."""
    return (getattr(dataset, "load_report", None) or {}).get("source") == "uploaded files"


REFUSED_NOTE = (
    "The saved copy of this model could not be used ({reason}); it was not read, and the model "
    "was trained again and saved."
)
REFUSED_UNSAVED_NOTE = (
    "The saved copy of this model could not be used ({reason}); it was not read, and the model "
    "was trained again but could not be saved ({save_reason})."
)
UNSAVED_NOTE = "The model was trained but could not be saved ({save_reason}); it is kept in memory only."


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
        source_root: Path | None = None,
    ):
        self.root = Path(root)
        self.memory_items = int(memory_items)
        self.max_bytes = max_bytes
        self.source_root = source_root
        self._memory: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[tuple, threading.Lock] = {}

    # ----- identity ---------------------------------------------------------------------------
    def _identity(self, dataset, key: str, params) -> tuple[tuple, dict]:
        full = canonical_params(key, params)
        return (dataset.fingerprint, key, params_digest(full), code_version(key, self.source_root)), full

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
            model, refused = self._load(path, dataset, ident, full) if persist else (None, None)
            source = "disk"
            if model is None:
                model = make_model(key, **full).fit(dataset, progress=progress)
                source = "trained"
                if persist:
                    save_error = self._save(model, path, ident)
                    if notify is not None and (refused or save_error):
                        notify(_note(refused, save_error))
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
            model, _ = self._load(self._folder(ident), dataset, ident, full)
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

    def _load(self, path: Path, dataset, ident: tuple, params: dict) -> tuple[Any, str | None]:
        """(model, None) from the artifact at `path`; (None, reason) when it was refused; (None, None) if absent.

        The artifact must be exactly what its folder stands for (key, parameters, code version, dataset):
        anything else is a replay or stale copy. Only an artifact proven bad is deleted: an unusable key or a
        read error (permissions, full memory) leaves it in place."""
        if not os.path.lexists(path):
            return None, None
        fingerprint, key, _, code = ident
        expect = {"key": key, "params": params, "code": code, "fingerprint": fingerprint}
        try:
            model = load_model(path, dataset, expect=expect)
        except KeyFileError as exc:
            log.warning("cannot verify model artifact %s: %s", path, exc)
            return None, _reason(exc)
        except ArtifactError as exc:  # corrupt, truncated, forged, stale or replayed: retrain instead
            log.warning("refused model artifact %s: %s", path, exc)
            _remove(path)
            return None, _reason(exc)
        except Exception as exc:  # unreadable here and now (permissions, memory): keep it, train in memory
            log.warning("could not read model artifact %s: %s", path, exc)
            return None, "it could not be read"
        _touch(path)
        return model, None

    def _save(self, model, path: Path, ident: tuple) -> str | None:
        """Save `model` to `path`; None on success, else the reason it was not saved (the model is kept)."""
        self.sweep_orphans()
        try:
            save_model(model, path, code=ident[3])
        except Exception as exc:  # a read-only or full disk, or no usable key, must not lose the trained model
            log.warning("could not save model artifact %s: %s", path, exc)
            return _save_reason(exc)
        prefix = path.name.split("-")[0] + "-"
        for sibling in path.parent.iterdir():  # same params, older code version: obsolete
            if sibling.is_dir() and sibling.name.startswith(prefix) and sibling.name != path.name:
                shutil.rmtree(sibling, ignore_errors=True)
        if self.max_bytes is not None:
            self.enforce_cap(keep=path)
        return None

    # ----- temporary folders of interrupted saves ------------------------------------------------
    def temporary_folders(self) -> list[tuple[Path, int, bool]]:
        """(folder, bytes, orphaned) of every temporary save folder under the root. A folder is orphaned when
        the process that made it is gone or it is older than ORPHAN_AGE_SECONDS (a save takes seconds)."""
        out = []
        for folder in self.root.glob("*/*/.*"):
            name = folder.name
            mark = TEMP_MARK if TEMP_MARK in name else OLD_MARK if OLD_MARK in name else None
            try:
                info = folder.lstat()
            except OSError:
                continue
            if mark is None or not stat.S_ISDIR(info.st_mode):
                continue
            pid = name.rsplit(mark, 1)[1].split("-")[0]
            orphaned = time.time() - info.st_mtime > ORPHAN_AGE_SECONDS or not _alive(pid)
            out.append((folder, artifact_bytes(folder), orphaned))
        return out

    def sweep_orphans(self) -> list[Path]:
        """Remove the temporary folders that a killed save left behind; returns what was removed."""
        removed = []
        for folder, _, orphaned in self.temporary_folders():
            if orphaned:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        return removed

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
        self.sweep_orphans()
        items = sorted(self.artifacts(), key=lambda t: t[2])
        total = sum(size for _, size, _ in items) + sum(size for _, size, _ in self.temporary_folders())
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


def _remove(path: Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (ValueError, OverflowError):
        return False
    except OSError:  # e.g. another user's process: alive
        return True
    return True


def _note(refused: str | None, save_error: str | None) -> str:
    if refused and save_error:
        return REFUSED_UNSAVED_NOTE.format(reason=refused, save_reason=save_error)
    if refused:
        return REFUSED_NOTE.format(reason=refused)
    return UNSAVED_NOTE.format(save_reason=save_error)


def _save_reason(exc: BaseException) -> str:
    """Why a save failed, without server paths."""
    if isinstance(exc, KeyFileError):
        return "the server's artifact key cannot be used; see the server log"
    if isinstance(exc, OSError):
        return f"the disk refused: {exc.strerror or type(exc).__name__}"
    return "see the server log"


def _reason(exc: BaseException) -> str:
    """The cause of a refusal without server paths (the page is shown to browser users)."""
    text = str(exc)
    if isinstance(exc, KeyFileError):
        return "the server's artifact key cannot be used, so it could not be checked; see the server log"
    if "replayed" in text:
        return (
            "it is a replayed or stale copy: its signed manifest is for another model, other parameters, "
            "other data or other model code than its folder"
        )
    if "stale" in text:
        return "it is stale: written by another artifact format or other library versions"
    if "signature" in text:
        return "its signature does not match: it was modified, or written by another installation"
    if "checksum" in text:
        return "its files do not match their checksums: it is corrupted or was modified"
    if "trained on dataset" in text:
        return "it was trained on other data"
    return "it could not be read"
