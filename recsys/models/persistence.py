"""Saved models that cannot run code: learned state as arrays + JSON, verified from the very bytes it is read from.

Why: anyone who can write `artifacts/` could otherwise plant a payload that runs on load, swap a file between
its check and its read, or copy in an artifact written by other code or for other parameters. So

- every artifact folder has `manifest.json` (model key, class, parameters, dataset fingerprint, the model's
  code version and library versions, and the sha256 of every other file) and `manifest.sig`, an HMAC-SHA256
  of the manifest's exact bytes under a secret key kept outside `artifacts/` (`secret_key()`);
- each file is read ONCE into memory (regular files only, opened without following links or blocking, under
  a size cap), the signature and hashes are checked over those bytes, and the state is decoded from the same
  bytes -- a file swapped after the check is never read;
- learned state is arrays in `state.npz` (read with `allow_pickle=False`) and tagged JSON in `state.json`:
  the attributes ending in `_` (scikit-learn's convention), encoded recursively (numpy, scipy sparse, pandas,
  plain values, nested recommenders). scikit-learn estimators go to `estimators.skops` (skops.io, loaded with
  an explicit list of trusted types; scikit-learn's own version check runs, and the manifest's scikit-learn
  version must match). Nothing is ever unpickled. A Keras model's `.keras` bytes come from the model's
  `_save_extra` hook and are read with Keras' safe mode from a private temporary copy;
- on save every file is written from bytes held in memory and hashed from those bytes (nothing is re-read);
- the training matrix (`train_matrix_`) and plain copies of it are stored as references and re-attached from
  the dataset on load.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import io
import json
import logging
import os
import secrets
import shutil
import stat
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from recsys._files import kind as _kind
from recsys._files import read_capped
from recsys.models.base import Recommender
from recsys.models.provenance import provenance

log = logging.getLogger(__name__)

FORMAT = 3
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
STATE, ARRAYS, ESTIMATORS = "state.json", "state.npz", "estimators.skops"
KEY_ENV = "RECSYS_SECRET_KEY"  # the key itself (any string of >= 16 characters)
KEY_FILE_ENV = "RECSYS_SECRET_KEY_FILE"  # where the key file lives (default: the user's config folder)
MAX_BYTES_ENV = "RECSYS_MAX_ARTIFACT_FILE_BYTES"
MAX_MANIFEST_BYTES = 4 << 20
MAX_SIGNATURE_BYTES = 256
MAX_KEY_BYTES = 4096
DEFAULT_MAX_FILE_BYTES = 2 << 30
TRAIN_MATRIX = "train_matrix_"
TEMP_MARK = ".tmp-"  # temporary folders of a save in progress: .<name>.tmp-<pid>-<random>
OLD_MARK = ".old-"
# Types skops may build beyond its defaults: the Cython tree structures of forests and gradient boosting.
TRUSTED_SKLEARN_TYPES = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)


class ArtifactError(ValueError):
    """A saved model cannot be used: missing, corrupted, forged, stale, or built for another dataset."""


class KeyFileError(ArtifactError):
    """The secret key cannot be had: nothing can be verified or signed (the artifacts themselves may be fine)."""


def max_file_bytes() -> int:
    """Size cap of one artifact file ($RECSYS_MAX_ARTIFACT_FILE_BYTES, default 2 GiB)."""
    try:
        return max(1, int(os.environ.get(MAX_BYTES_ENV, DEFAULT_MAX_FILE_BYTES)))
    except ValueError:
        return DEFAULT_MAX_FILE_BYTES


# ----- the secret key -------------------------------------------------------------------------------
def key_file() -> Path:
    """The key file: $RECSYS_SECRET_KEY_FILE, else ~/.config/recsys/artifact.key (outside artifacts/)."""
    if os.environ.get(KEY_FILE_ENV):
        return Path(os.environ[KEY_FILE_ENV]).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "recsys" / "artifact.key"


def secret_key() -> bytes:
    """The HMAC key: $RECSYS_SECRET_KEY, else the key file (created on first use, owner-only permissions).

    Fails safe with one KeyFileError naming the problem: a key file others could read or write (whoever can
    replace the key can forge artifacts), a folder, a FIFO (never waited on), a device, an empty or
    unreadable file. Callers must not treat an unusable key as a bad artifact.
    """
    env = os.environ.get(KEY_ENV)
    if env:
        if len(env) < 16:
            raise KeyFileError(f"{KEY_ENV} is too short: use at least 16 random characters")
        return env.encode()
    path = key_file()
    try:
        if not os.path.lexists(path):
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process created it first: use theirs
                pass
            else:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_hex(32))
        info = os.stat(path)  # never opens: a FIFO cannot block us here
    except OSError as exc:
        raise KeyFileError(
            f"the artifact key file {path} cannot be used ({exc.strerror or exc}); fix it or set {KEY_ENV}"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyFileError(
            f"the artifact key file {path} is {_kind(info.st_mode)}, not a regular file; "
            f"remove it (a new key is made) or set {KEY_ENV}"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or (info.st_mode & stat.S_IRWXO):
        raise KeyFileError(
            f"the artifact key file {path} can be read or written by other users; "
            f"make it owner-only (chmod 600) or set {KEY_ENV}"
        )
    try:
        key = read_capped(path, MAX_KEY_BYTES, follow_links=True).strip()
    except PermissionError:
        raise KeyFileError(
            f"the artifact key file {path} is not readable by this user; fix it or set {KEY_ENV}"
        ) from None
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"the artifact key file {path} cannot be used: {exc}; set {KEY_ENV} instead") from None
    if len(key) < 16:
        raise KeyFileError(
            f"the artifact key file {path} is empty or too short; delete it to make a new one "
            f"(artifacts signed with the old key are then retrained)"
        )
    return key


def sign(data: bytes, key: bytes | None = None) -> str:
    return hmac.new(key if key is not None else secret_key(), data, hashlib.sha256).hexdigest()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----- encoding -------------------------------------------------------------------------------------
class _Encoder:
    """Turns learned state into a JSON tree, named numpy arrays and a list of scikit-learn estimators (skops)."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self.estimators: list[Any] = []

    def array(self, value: np.ndarray, where: str) -> dict:
        if value.dtype.hasobject:
            items = value.ravel().tolist()
            if all(v is None or isinstance(v, (str, bool, int, float)) for v in items):
                return {"$": "objarray", "shape": list(value.shape), "items": items}
            return self.refuse(value, where)
        name = f"a{len(self.arrays)}"
        self.arrays[name] = value
        return {"$": "array", "ref": name}

    @staticmethod
    def refuse(value, where: str):
        raise ArtifactError(
            f"cannot save {where}: a {type(value).__module__}.{type(value).__qualname__} has no safe encoding "
            "(artifacts never hold pickles)"
        )

    def encode(self, value, where: str, train=None) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and type(value) in (int, float):
            return value if isinstance(value, int) or np.isfinite(value) else {"$": "float", "v": repr(value)}
        if isinstance(value, np.generic) and not isinstance(value, np.object_):
            return {"$": "scalar", "dtype": value.dtype.str, "v": self.encode(value.item(), where)}
        if isinstance(value, np.ndarray):
            return self.array(value, where)
        if sparse.issparse(value):
            derived = _derivation(value, train) if train is not None else None
            if derived:
                return {
                    "$": "derived",
                    "transform": derived,
                    "dtype": value.dtype.str,
                    "format": value.format,
                    "kind": "matrix" if isinstance(value, sparse.spmatrix) else "array",
                }
            fmt = value.format
            m = value.tocsr() if fmt not in ("csr", "csc") else value
            return {
                "$": "sparse",
                "format": fmt,
                "shape": list(m.shape),
                "kind": "matrix" if isinstance(value, sparse.spmatrix) else "array",
                "layout": m.format,
                "data": self.array(m.data, where),
                "indices": self.array(m.indices, where),
                "indptr": self.array(m.indptr, where),
            }
        if isinstance(value, pd.RangeIndex):
            return {
                "$": "range",
                "start": value.start,
                "stop": value.stop,
                "step": value.step,
                "name": self.encode(value.name, where),
            }
        if isinstance(value, pd.Index) and not isinstance(value, pd.MultiIndex):
            return {
                "$": "index",
                "dtype": str(value.dtype),
                "name": self.encode(value.name, where),
                "values": self.array(np.asarray(value.to_numpy()), where),
            }
        if isinstance(value, pd.Series):
            return {
                "$": "series",
                "dtype": str(value.dtype),
                "name": self.encode(value.name, where),
                "index": self.encode(value.index, where),
                "values": self.array(np.asarray(value.to_numpy()), where),
            }
        if isinstance(value, pd.DataFrame) and value.columns.is_unique:
            return {
                "$": "frame",
                "index": self.encode(value.index, where),
                "columns": self.encode(value.columns, where),
                "data": [self.encode(value.iloc[:, i], f"{where}[{c!r}]") for i, c in enumerate(value.columns)],
            }
        if isinstance(value, type) and issubclass(value, np.generic) and value is not np.object_:
            return {"$": "dtype", "v": np.dtype(value).str}
        if isinstance(value, (set, frozenset)):
            return {"$": type(value).__name__, "items": [self.encode(v, where) for v in sorted(value, key=repr)]}
        if isinstance(value, (list, tuple)):
            items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
            return items if type(value) is list else {"$": "tuple", "items": items}
        if type(value) is dict:
            return {
                "$": "dict",
                "items": [[self.encode(k, where), self.encode(v, f"{where}[{k!r}]")] for k, v in value.items()],
            }
        if isinstance(value, Recommender):
            return self.model(value, where)
        if _is_sklearn_estimator(value):  # restored by skops, with scikit-learn's own version check
            self.estimators.append(value)
            return {"$": "skops", "ref": len(self.estimators) - 1}
        return self.refuse(value, where)

    def model(self, model, where: str) -> dict:
        train = getattr(model, TRAIN_MATRIX, None)
        learned = {
            name: value for name, value in vars(model).items() if name.endswith("_") and not name.startswith("_")
        }
        return {
            "$": "model",
            "class": _class_path(model),
            "params": {k: self.encode(v, f"{where}.{k}") for k, v in model.get_params(deep=False).items()},
            "state": {k: self.encode(v, f"{where}.{k}", train) for k, v in learned.items()},
        }


def _class_path(obj) -> str:
    return f"{type(obj).__module__}:{type(obj).__qualname__}"


def _is_sklearn_estimator(value) -> bool:
    from sklearn.base import BaseEstimator

    return isinstance(value, BaseEstimator) and type(value).__module__.startswith("sklearn.")


def _same_pattern(a, b) -> bool:
    return a.shape == b.shape and np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)


def _derivation(value, train) -> str | None:
    """How `value` derives from the training matrix ('same', 'binary', 'T', 'T-binary'), or None."""
    if value.format not in ("csr", "csc") or not sparse.issparse(train) or value.nnz != train.nnz:
        return None
    m = value.tocsr()
    for name, base in (("", train), ("T-", None)):
        if base is None:
            if m.shape != train.shape[::-1]:
                continue
            base = train.T.tocsr()
        base = base.tocsr()
        if not _same_pattern(m, base):
            continue
        if np.array_equal(m.data, base.data.astype(m.dtype)):
            return (name + "same").replace("-same", "")
        if (m.data == 1).all():
            return name + "binary"
    return None


def _rebuild_derived(node: dict, matrix) -> Any:
    m = matrix.tocsr()
    transform = node["transform"]
    if transform.startswith("T"):
        m = m.T.tocsr()
    m = m.astype(np.dtype(node["dtype"]), copy=True)
    if transform.endswith("binary"):
        m.data = np.ones_like(m.data)
    m = m.asformat(node["format"])
    return m if node.get("kind") == "matrix" else sparse.csr_array(m).asformat(node["format"])


# ----- decoding -------------------------------------------------------------------------------------
class _Decoder:
    def __init__(self, arrays, estimators, dataset):
        self.arrays, self.estimators, self.dataset = arrays, estimators, dataset

    def decode(self, node, *, optional_train: bool = False):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        tag = node.get("$")
        if tag == "float":
            return float(node["v"])
        if tag == "scalar":
            return np.dtype(node["dtype"]).type(self.decode(node["v"]))
        if tag == "array":
            return self.arrays[node["ref"]]
        if tag == "objarray":
            out = np.empty(len(node["items"]), dtype=object)
            out[:] = node["items"]
            return out.reshape(node["shape"])
        if tag == "dtype":
            return np.dtype(node["v"]).type
        if tag in ("set", "frozenset"):
            return (set if tag == "set" else frozenset)(_hashable(self.decode(v)) for v in node["items"])
        if tag == "tuple":
            return tuple(self.decode(v) for v in node["items"])
        if tag == "dict":
            return {_hashable(self.decode(k)): self.decode(v) for k, v in node["items"]}
        if tag == "sparse":
            make = sparse.csr_matrix if node["layout"] == "csr" else sparse.csc_matrix
            m = make(
                (self.decode(node["data"]), self.decode(node["indices"]), self.decode(node["indptr"])),
                shape=tuple(node["shape"]),
            ).asformat(node["format"])
            return m if node["kind"] == "matrix" else sparse.csr_array(m).asformat(node["format"])
        if tag == "derived":
            if self.dataset is None:
                if optional_train:
                    return _MISSING
                raise ArtifactError(
                    "this saved model holds learned state only: load it with the dataset it "
                    "was trained on (load_model(path, dataset))"
                )
            return _rebuild_derived(node, self.dataset.matrix)
        if tag == "range":
            return pd.RangeIndex(node["start"], node["stop"], node["step"], name=self.decode(node["name"]))
        if tag == "index":
            return pd.Index(
                self.decode(node["values"]), dtype=_dtype(node["dtype"]), name=self.decode(node["name"]), copy=False
            )
        if tag == "series":
            return pd.Series(
                self.decode(node["values"]),
                index=self.decode(node["index"]),
                dtype=_dtype(node["dtype"]),
                name=self.decode(node["name"]),
            )
        if tag == "frame":
            index = self.decode(node["index"])
            series = [self.decode(col) for col in node["data"]]
            frame = pd.DataFrame({i: s.array for i, s in enumerate(series)}, index=index)
            frame.columns = self.decode(node["columns"])
            return frame
        if tag == "skops":
            return self.estimators[node["ref"]]
        if tag == "model":
            return self.model(node)
        raise ArtifactError(f"unknown state entry {tag!r} (saved by a newer version?); retrain the model")

    def model(self, node):
        cls = _import_class(node["class"], "recsys.models.")
        if not (isinstance(cls, type) and issubclass(cls, Recommender)):
            raise ArtifactError(f"{node['class']} is not a recsys model")
        model = cls(**{k: self.decode(v) for k, v in node["params"].items()})
        for name, value in node["state"].items():
            decoded = self.decode(value, optional_train=name == TRAIN_MATRIX)
            if decoded is not _MISSING:
                setattr(model, name, decoded)
        return model


_MISSING = object()


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def _dtype(name: str):
    try:
        return pd.api.types.pandas_dtype(name)
    except TypeError:
        return None


def _import_class(path: str, prefix: str):
    module, _, qualname = str(path).partition(":")
    if not module.startswith(prefix) or not qualname or "." in qualname:
        raise ArtifactError(f"refusing to load class {path!r}: only {prefix}* classes can be in a saved model")
    return getattr(importlib.import_module(module), qualname)


# ----- save ---------------------------------------------------------------------------------------
def model_provenance(model_or_class) -> dict:
    """{'code', 'libraries'} of a model (class): what its saved copy depends on (see `provenance`)."""
    cls = model_or_class if isinstance(model_or_class, type) else type(model_or_class)
    return provenance(cls)


def _state_files(model) -> dict[str, bytes]:
    """Every file of the artifact except the manifest, as bytes built in memory."""
    enc = _Encoder()
    tree = enc.model(model, model.key)
    files = {STATE: json.dumps(tree, allow_nan=False).encode()}
    buffer = io.BytesIO()
    np.savez(buffer, **enc.arrays)
    files[ARRAYS] = buffer.getvalue()
    if enc.estimators:
        import skops.io as sio

        files[ESTIMATORS] = sio.dumps(enc.estimators)
    for name, data in model._save_extra().items():
        if name in files or name in (MANIFEST, SIGNATURE) or "/" in name or name.startswith("."):
            raise ArtifactError(f"{model.key}: extra artifact file name {name!r} is not allowed")
        files[name] = bytes(data)
    return files


def save_model(model, path, *, code: str | None = None) -> Path:
    """Write the fitted `model` to folder `path` atomically (state files + signed manifest).

    Every file is written from bytes held in memory and the manifest lists the sha256 of those bytes, so what
    is signed is exactly what this call produced. `code` overrides the recorded code version (a store that
    versions models from other sources); by default it is the model's computed `provenance`.
    """
    import recsys
    from recsys._json import to_jsonable

    model._check_fitted()
    path = Path(path)
    key = secret_key()  # fail before writing anything when no key can be had
    files = _state_files(model)
    origin = model_provenance(model)
    manifest = {
        "format": FORMAT,
        "key": model.key,
        "class": _class_path(model),
        "params": to_jsonable(model.get_params()),
        "fingerprint": model.fingerprint_,
        "code": code or origin["code"],
        "libraries": origin["libraries"],
        "files": {name: _sha256(data) for name, data in sorted(files.items())},
        "recsys_version": recsys.__version__,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    data = json.dumps(manifest, indent=2).encode()
    files[MANIFEST], files[SIGNATURE] = data, sign(data, key).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}{TEMP_MARK}{os.getpid()}-", dir=path.parent))
    try:
        for name, content in files.items():
            fd = os.open(tmp / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
        os.chmod(tmp, 0o755)
        if path.exists() or path.is_symlink():
            old = path.with_name(f".{path.name}{OLD_MARK}{os.getpid()}-{secrets.token_hex(4)}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


# ----- verify / load -------------------------------------------------------------------------------
def read_verified(path) -> tuple[dict, dict[str, bytes]]:
    """(manifest, {file name: bytes}) of the artifact in `path`, every file read once under a size cap, once
    the signature over the manifest bytes and every file's hash over its bytes matched; ArtifactError otherwise.
    What is returned is exactly what was verified: decode from these bytes, never from the folder again."""
    path = Path(path)
    try:
        entries = {e.name: e for e in os.scandir(path)}
    except FileNotFoundError:
        raise ArtifactError(f"{path}: not a saved model (no such folder)") from None
    except NotADirectoryError:
        raise ArtifactError(f"{path}: not a saved model (not a folder)") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: the saved model cannot be read ({exc.strerror or exc})") from None
    if MANIFEST not in entries or STATE not in entries:
        raise ArtifactError(f"{path}: not a saved model (expected {MANIFEST}, {SIGNATURE} and {STATE} in the folder)")
    if SIGNATURE not in entries:
        raise ArtifactError(
            f"{path}: refused -- the saved model has no signature ({SIGNATURE}); it was written "
            f"by an older version or modified (checksum cannot be trusted); retrain it"
        )
    try:
        data = read_capped(path / MANIFEST, MAX_MANIFEST_BYTES)
        given = read_capped(path / SIGNATURE, MAX_SIGNATURE_BYTES).decode("ascii", "replace").strip()
    except ValueError as exc:
        raise ArtifactError(f"{path}: refused -- {exc}; retrain the model") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: the saved model cannot be read ({exc.strerror or exc})") from None
    if not hmac.compare_digest(sign(data), given):
        raise ArtifactError(
            f"{path}: refused -- signature (HMAC checksum) mismatch: the saved model was modified, "
            f"or written with another secret key; it was not read. Retrain it"
        )
    try:
        manifest = json.loads(data)
        files = dict(manifest["files"])
    except (ValueError, KeyError, TypeError):
        raise ArtifactError(
            f"{path}: refused -- the signed manifest is not one this version writes; retrain it"
        ) from None
    if manifest.get("format") != FORMAT:
        raise ArtifactError(
            f"{path}: refused as stale -- saved in artifact format {manifest.get('format')}, this version "
            f"reads format {FORMAT}; retrain the model"
        )
    present = set(entries) - {MANIFEST, SIGNATURE}
    extra, missing = sorted(present - set(files)), sorted(set(files) - present)
    if extra or missing:
        raise ArtifactError(
            f"{path}: checksum mismatch -- "
            + (f"unexpected file(s) {', '.join(extra)}" if extra else f"missing file(s) {', '.join(missing)}")
            + "; retrain the model"
        )
    limit, contents = max_file_bytes(), {}
    for name, digest in sorted(files.items()):
        try:
            content = read_capped(path / name, limit)
        except ValueError as exc:
            raise ArtifactError(f"{path}: refused -- {exc}; retrain the model") from None
        except OSError as exc:
            raise ArtifactError(f"{path}: the saved model cannot be read ({exc.strerror or exc})") from None
        if not hmac.compare_digest(_sha256(content), str(digest)):
            raise ArtifactError(
                f"{path}: checksum mismatch in {name} -- the artifact is corrupted or was modified; retrain it"
            )
        contents[name] = content
    return manifest, contents


def verify(path) -> dict:
    """The manifest of the artifact in `path` once its signature and every file hash matched."""
    return read_verified(path)[0]


def _check_origin(path: Path, manifest: dict, expect: Mapping[str, Any] | None) -> None:
    """Refuse a verified manifest that does not describe what the caller (or this code) expects: an artifact
    copied into another folder, written by other model code, or with other library versions (a replay)."""
    cls = _import_class(manifest.get("class"), "recsys.models.")
    if not (isinstance(cls, type) and issubclass(cls, Recommender)) or cls.key != manifest.get("key"):
        raise ArtifactError(f"{path}: refused -- the manifest names no recsys model ({manifest.get('class')!r})")
    current = model_provenance(cls)
    saved_libs, libs = manifest.get("libraries") or {}, current["libraries"]
    changed = sorted(n for n in set(saved_libs) | set(libs) if saved_libs.get(n) != libs.get(n))
    if changed:
        described = ", ".join(f"{n} {saved_libs.get(n, 'absent')} (now {libs.get(n, 'absent')})" for n in changed)
        raise ArtifactError(
            f"{path}: refused as stale -- saved with other library versions: {described}; retrain the model"
        )
    expect = dict(expect or {})
    expect.setdefault("code", current["code"])
    for field, wanted in expect.items():
        if manifest.get(field) != wanted:
            raise ArtifactError(
                f"{path}: refused as a replayed or stale artifact -- its signed manifest says {field} = "
                f"{_short(manifest.get(field))}, but this folder is for {_short(wanted)} "
                f"(copied from elsewhere or written by other model code); retrain the model"
            )


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True, default=repr)
    return text if len(text) <= 120 else text[:117] + "..."


def _load_estimators(data: bytes | None) -> list:
    if data is None:
        return []
    import skops.io as sio

    untrusted = set(sio.get_untrusted_types(data=data))
    unexpected = sorted(untrusted - set(TRUSTED_SKLEARN_TYPES))
    if unexpected:
        raise ArtifactError(f"refused -- the saved estimators hold types outside the trusted list: {unexpected[:5]}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=_inconsistent_version_warning())
        try:
            return sio.loads(data, trusted=sorted(untrusted))
        except _inconsistent_version_warning() as exc:
            raise ArtifactError(f"refused as stale -- {exc}; retrain the model") from None


def _inconsistent_version_warning():
    from sklearn.exceptions import InconsistentVersionWarning

    return InconsistentVersionWarning


def load_model(path, dataset=None, *, expect: Mapping[str, Any] | None = None):
    """Load a model saved with `save_model`: every file read once and verified (signature, hashes), its origin
    checked (code version and library versions equal this installation's, and every field of `expect`, e.g.
    the key, parameters and code a store's folder stands for), then the fingerprint (given `dataset`), then
    the state decoded from the verified bytes; the dataset's matrix is re-attached where the model used it."""
    path = Path(path)
    manifest, files = read_verified(path)
    _check_origin(path, manifest, expect)
    if dataset is not None and manifest.get("fingerprint") != dataset.fingerprint:
        raise ArtifactError(
            f"{path}: this '{manifest.get('key')}' model was trained on dataset {manifest.get('fingerprint')}, "
            f"not on the current dataset {dataset.fingerprint}; retrain it on this dataset"
        )
    tree = json.loads(files[STATE])
    with np.load(io.BytesIO(files[ARRAYS]), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    try:
        estimators = _load_estimators(files.get(ESTIMATORS))
    except ArtifactError as exc:
        raise ArtifactError(f"{path}: {exc}") from None
    model = _Decoder(arrays, estimators, dataset).model(tree)
    if not isinstance(model, Recommender) or model.key != manifest.get("key"):
        raise ArtifactError(f"{path}: the saved object is not the '{manifest.get('key')}' model it claims to be")
    extra = {name: data for name, data in files.items() if name not in (STATE, ARRAYS, ESTIMATORS)}
    model._load_extra(extra)
    return model


def artifact_bytes(path) -> int:
    """Total size of an artifact folder in bytes (links are not followed)."""
    total = 0
    for p in Path(path).rglob("*"):
        try:
            info = p.lstat()
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            total += info.st_size
    return total
