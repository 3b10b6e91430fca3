"""Saved models that cannot run code: learned state as arrays + JSON, authenticated before anything is read.

Why: anyone who can write `artifacts/` could otherwise swap in a pickle that runs on load. So

- every artifact folder has `manifest.json` (model key, parameters, dataset fingerprint and the sha256 of
  every other file) and `manifest.sig`, an HMAC-SHA256 of the manifest's exact bytes under a secret key kept
  outside `artifacts/` (`secret_key()`). The signature is checked first, then each file's hash, and only
  then is any byte parsed -- a forged or edited artifact is refused before it is read;
- learned state is stored without pickle where it can be: numpy arrays in `state.npz` (read with
  `allow_pickle=False`), everything else as tagged JSON in `state.json`. The state is generic: the
  attributes ending in `_` (scikit-learn's convention for learned state), encoded recursively -- numpy
  arrays and scalars, scipy sparse matrices, pandas frames/series/indexes, plain Python values, nested
  recommenders and scikit-learn estimators whose attributes are such values. Only what has no safe
  encoding (e.g. the Cython tree objects of a random forest) goes to `objects.pkl`, listed in the manifest,
  and unpickled only after the signature and hashes matched. Keras models are written by the model's own
  `_save_extra` hook in the `.keras` format and read with Keras' safe mode;
- artifacts hold learned state only: the training matrix (`train_matrix_`) and any sparse attribute that is
  a plain copy of it (same pattern and values, binarised, or transposed) are stored as references and
  re-attached from the dataset on load.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import json
import logging
import os
import pickle
import secrets
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

log = logging.getLogger(__name__)

FORMAT = 2
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
STATE, ARRAYS, OBJECTS = "state.json", "state.npz", "objects.pkl"
KEY_ENV = "RECSYS_SECRET_KEY"  # the key itself (any string of >= 16 characters)
KEY_FILE_ENV = "RECSYS_SECRET_KEY_FILE"  # where the key file lives (default: the user's config folder)
MAX_MANIFEST_BYTES = 4 << 20
TRAIN_MATRIX = "train_matrix_"


def _artifact_error(message: str) -> Exception:
    from recsys.models.base import ArtifactError

    return ArtifactError(message)


# ----- the secret key -------------------------------------------------------------------------------
def key_file() -> Path:
    """The key file: $RECSYS_SECRET_KEY_FILE, else ~/.config/recsys/artifact.key (outside artifacts/)."""
    if os.environ.get(KEY_FILE_ENV):
        return Path(os.environ[KEY_FILE_ENV]).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "recsys" / "artifact.key"


def secret_key() -> bytes:
    """The HMAC key: $RECSYS_SECRET_KEY, else the key file (created on first use, owner-only permissions).

    A key file that others could write is refused: whoever can replace the key can forge artifacts.
    """
    env = os.environ.get(KEY_ENV)
    if env:
        if len(env) < 16:
            raise _artifact_error(f"{KEY_ENV} is too short: use at least 16 random characters")
        return env.encode()
    path = key_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    mode = path.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH) or (mode & stat.S_IRWXO):
        raise _artifact_error(
            f"the artifact key file {path} can be read or written by other users; "
            f"make it owner-only (chmod 600) or set {KEY_ENV}"
        )
    key = path.read_text().strip().encode()
    if len(key) < 16:
        raise _artifact_error(f"the artifact key file {path} is empty or too short; delete it to make a new one")
    return key


def sign(data: bytes, key: bytes | None = None) -> str:
    return hmac.new(key if key is not None else secret_key(), data, hashlib.sha256).hexdigest()


def _sha256(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----- encoding -------------------------------------------------------------------------------------
class _Encoder:
    """Turns learned state into a JSON tree plus named numpy arrays (and, last resort, pickled leaves)."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self.objects: list[Any] = []
        self.pickled: list[str] = []

    def array(self, value: np.ndarray, where: str) -> dict:
        if value.dtype.hasobject:
            items = value.ravel().tolist()
            if all(v is None or isinstance(v, (str, bool, int, float)) for v in items):
                return {"$": "objarray", "shape": list(value.shape), "items": items}
            return self.fallback(value, where)
        name = f"a{len(self.arrays)}"
        self.arrays[name] = value
        return {"$": "array", "ref": name}

    def fallback(self, value, where: str) -> dict:
        self.objects.append(value)
        self.pickled.append(where)
        return {"$": "pickled", "ref": len(self.objects) - 1}

    def encode(self, value, where: str, train=None) -> Any:
        from recsys.models.base import Recommender

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
        if _is_sklearn_estimator(value):
            arrays, n_objects = dict(self.arrays), len(self.objects)
            node = {
                "$": "estimator",
                "class": _class_path(value),
                "state": {k: self.encode(v, f"{where}.{k}") for k, v in vars(value).items()},
            }
            if len(self.objects) == n_objects:
                return node
            # e.g. a forest's Cython trees: keep the estimator whole, in one signed pickle entry
            self.arrays, self.objects, self.pickled = arrays, self.objects[:n_objects], self.pickled[:n_objects]
        return self.fallback(value, where)

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
    def __init__(self, arrays, objects, dataset):
        self.arrays, self.objects, self.dataset = arrays, objects, dataset

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
                raise _artifact_error(
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
        if tag == "pickled":
            return self.objects[node["ref"]]
        if tag == "estimator":
            cls = _import_class(node["class"], "sklearn.")
            obj = cls.__new__(cls)
            obj.__dict__.update({k: self.decode(v) for k, v in node["state"].items()})
            return obj
        if tag == "model":
            return self.model(node)
        raise _artifact_error(f"unknown state entry {tag!r} (saved by a newer version?); retrain the model")

    def model(self, node):
        from recsys.models.base import Recommender

        cls = _import_class(node["class"], "recsys.models.")
        if not (isinstance(cls, type) and issubclass(cls, Recommender)):
            raise _artifact_error(f"{node['class']} is not a recsys model")
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
        raise _artifact_error(f"refusing to load class {path!r}: only {prefix}* classes can be in a saved model")
    return getattr(importlib.import_module(module), qualname)


# ----- save / load ----------------------------------------------------------------------------------
def save_model(model, path) -> Path:
    """Write the fitted `model` to folder `path` atomically (state files + signed manifest)."""
    import recsys
    from recsys._json import to_jsonable

    model._check_fitted()
    path = Path(path)
    key = secret_key()  # fail before writing anything when no key can be had
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        model._save_extra(tmp)
        enc = _Encoder()
        tree = enc.model(model, model.key)
        (tmp / STATE).write_text(json.dumps(tree, allow_nan=False))
        with open(tmp / ARRAYS, "wb") as fh:
            np.savez(fh, **enc.arrays)
        if enc.objects:
            (tmp / OBJECTS).write_bytes(pickle.dumps(enc.objects, protocol=pickle.HIGHEST_PROTOCOL))
            log.info("%s: pickled (signed) state for %s", model.key, ", ".join(enc.pickled))
        files = {str(p.relative_to(tmp)): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        manifest = {
            "format": FORMAT,
            "key": model.key,
            "class": _class_path(model),
            "params": to_jsonable(model.get_params()),
            "fingerprint": model.fingerprint_,
            "files": files,
            "pickled": enc.pickled,
            "recsys_version": recsys.__version__,
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        data = json.dumps(manifest, indent=2).encode()
        (tmp / MANIFEST).write_bytes(data)
        (tmp / SIGNATURE).write_text(sign(data, key))
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def verify(path) -> dict:
    """The manifest of the artifact in `path` once its signature and every file hash matched; ArtifactError
    otherwise. Nothing but the manifest's raw bytes is read before the signature check."""
    path = Path(path)
    manifest_file, sig_file = path / MANIFEST, path / SIGNATURE
    if not manifest_file.is_file() or not (path / STATE).is_file():
        raise _artifact_error(f"{path}: not a saved model (expected {MANIFEST}, {SIGNATURE} and {STATE} in the folder)")
    if not sig_file.is_file():
        raise _artifact_error(
            f"{path}: refused -- the saved model has no signature ({SIGNATURE}); it was written "
            f"by an older version or modified (checksum cannot be trusted); retrain it"
        )
    if manifest_file.stat().st_size > MAX_MANIFEST_BYTES:
        raise _artifact_error(f"{path}: refused -- {MANIFEST} is implausibly large; retrain the model")
    data = manifest_file.read_bytes()
    expected = sign(data)
    given = sig_file.read_text(errors="replace").strip()
    if not hmac.compare_digest(expected, given):
        raise _artifact_error(
            f"{path}: refused -- signature (HMAC checksum) mismatch: the saved model was modified, "
            f"or written with another secret key; it was not read. Retrain it"
        )
    manifest = json.loads(data)
    files = manifest.get("files") or {}
    present = {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()} - {MANIFEST, SIGNATURE}
    extra, missing = sorted(present - set(files)), sorted(set(files) - present)
    if extra or missing:
        raise _artifact_error(
            f"{path}: checksum mismatch -- "
            + (f"unexpected file(s) {', '.join(extra)}" if extra else f"missing file(s) {', '.join(missing)}")
            + "; retrain the model"
        )
    for name, digest in files.items():
        if not hmac.compare_digest(_sha256(path / name), str(digest)):
            raise _artifact_error(
                f"{path}: checksum mismatch in {name} -- the artifact is corrupted or was modified; retrain it"
            )
    return manifest


def load_model(path, dataset=None):
    """Load a model saved with `save_model`: signature and hashes first, then the fingerprint (given
    `dataset`), then the state; the dataset's matrix is re-attached where the model used the training data."""
    from recsys.models.base import Recommender

    path = Path(path)
    manifest = verify(path)
    if dataset is not None and manifest.get("fingerprint") != dataset.fingerprint:
        raise _artifact_error(
            f"{path}: this '{manifest.get('key')}' model was trained on dataset {manifest.get('fingerprint')}, "
            f"not on the current dataset {dataset.fingerprint}; retrain it on this dataset"
        )
    tree = json.loads((path / STATE).read_text())
    with np.load(path / ARRAYS, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    objects = pickle.loads((path / OBJECTS).read_bytes()) if OBJECTS in manifest["files"] else []
    model = _Decoder(arrays, objects, dataset).model(tree)
    if not isinstance(model, Recommender) or model.key != manifest.get("key"):
        raise _artifact_error(f"{path}: the saved object is not the '{manifest.get('key')}' model it claims to be")
    model._load_extra(path)
    return model


def artifact_bytes(path) -> int:
    """Total size of an artifact folder in bytes."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
