"""Stored Optuna studies: one SQLite file (WAL) in the artifacts folder, one study per question asked.

A study is named by everything its numbers depend on -- dataset fingerprint, model, the code that fits and
scores it, the validation protocol and its seed, the metric, the sampler and the parameters held fixed -- so a
repeated tuning reuses its finished trials, an interrupted one resumes, and a changed question starts afresh.
Trials run one at a time through ask/tell with a sampler seeded by (seed, trial number): the parameters of trial
n depend only on the seed and the trials before it, whether they ran in this process, an earlier one, or one
that was killed (a killed trial's heartbeat stops and it is marked failed, then ignored).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna

from recsys import _locations, _sqlite

SAMPLERS = ("tpe", "random", "grid")
STUDY_FILE = "tuning.sqlite"
HEARTBEAT_SECONDS = 30  # a RUNNING trial whose heartbeat is older than GRACE_SECONDS was killed: marked FAIL
GRACE_SECONDS = 120
TPE_STARTUP_TRIALS = 8  # random trials before TPE models the results (the defaults are trial 0)
PACKAGE = Path(__file__).resolve().parents[1]

_storages: dict[str, optuna.storages.RDBStorage] = {}
_lock = threading.Lock()
optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are reported by our own messages
# group=True (conditional spaces) and the heartbeat are marked experimental in Optuna 5; both are what we want.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning, module="optuna")


def artifacts_dir() -> Path:
    """The artifacts folder the app and every CLI command share (one helper: recsys/_locations.py)."""
    return _locations.artifacts_dir()


def default_study_path() -> Path:
    return artifacts_dir() / STUDY_FILE


def storage(
    path: Path | str | None = None, heartbeat: int = HEARTBEAT_SECONDS, grace: int = GRACE_SECONDS
) -> optuna.storages.RDBStorage:
    """The RDB storage on `path` (default: artifacts/tuning.sqlite), created in WAL mode, one per file and process.
    A trial whose heartbeat (every `heartbeat` s) is older than `grace` s was killed and is marked failed."""
    path = Path(path) if path is not None else default_study_path()
    key = f"{path.resolve()}|{heartbeat}|{grace}"
    with _lock:
        if key not in _storages:
            path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(path, timeout=30)
            try:  # WAL before SQLAlchemy opens it: readers never block the writer (the mode stays with the file)
                _sqlite.initialise(con, "", 30.0)
            finally:
                con.close()
            _storages[key] = optuna.storages.RDBStorage(
                f"sqlite:///{path}",
                engine_kwargs={"connect_args": {"timeout": 30}},
                heartbeat_interval=int(heartbeat),
                grace_period=int(grace),
            )
        return _storages[key]


def code_version(model_key: str) -> str:
    """What a trial's number depends on: the model's computed code version (the modules it imports and the
    libraries whose objects it holds, `provenance`) and the evaluation modules that split and score it."""
    if model_key not in _CODE:
        from recsys.models import model_class
        from recsys.models.provenance import dependencies, provenance

        if "" not in _CODE:  # the evaluation side, once per process
            h = hashlib.sha256()
            for module in ("recsys.evaluation.scoring", "recsys.evaluation.search_space", "recsys.evaluation.tuning"):
                for f in dependencies(module)[0]:
                    if "/models/" not in f.as_posix():  # a model's own code is in its provenance
                        h.update(f.relative_to(PACKAGE).as_posix().encode())
                        h.update(f.read_bytes())
            _CODE[""] = h.hexdigest()
        h = hashlib.sha256((_CODE[""] + provenance(model_class(model_key))["code"]).encode())
        _CODE[model_key] = h.hexdigest()[:10]
    return _CODE[model_key]


_CODE: dict[str, str] = {}


def study_name(
    fingerprint: str,
    model_key: str,
    protocol: Mapping[str, Any],
    seed: int,
    metric: str,
    sampler: str,
    fixed: Mapping[str, Any] | None = None,
    restrict: Mapping[str, Any] | None = None,
) -> str:
    """A readable, unique name: '<model> <fingerprint> <protocol> seed=<s> <metric> <sampler> #<digest>'."""
    question = {
        "fingerprint": fingerprint,
        "model": model_key,
        "code": code_version(model_key),
        "protocol": dict(protocol),
        "seed": int(seed),
        "metric": metric,
        "sampler": sampler,
        "fixed": dict(fixed or {}),
        "restrict": {k: list(v) for k, v in (restrict or {}).items()},
    }
    digest = hashlib.sha256(json.dumps(question, sort_keys=True, default=repr).encode()).hexdigest()[:12]
    return f"{model_key} {fingerprint[:12]} {protocol.get('name', '?')} seed={int(seed)} {metric} {sampler} #{digest}"


def make_sampler(kind: str, seed: int, trial_number: int, grid: Mapping[str, list] | None = None):
    """The sampler for trial `trial_number`: seeded by (seed, number), so suggestions do not depend on which
    process ran the earlier trials (TPE and random read the earlier trials from the storage)."""
    trial_seed = (int(seed) * 1_000_003 + int(trial_number)) % (2**32)
    if kind == "tpe":
        return optuna.samplers.TPESampler(
            seed=trial_seed,
            n_startup_trials=TPE_STARTUP_TRIALS,
            multivariate=True,
            group=True,
        )
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=trial_seed)
    if kind == "grid":
        return optuna.samplers.GridSampler(dict(grid or {}), seed=int(seed))
    raise ValueError(f"unknown sampler '{kind}' (known: {', '.join(SAMPLERS)})")


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Trials that count against the budget: completed or pruned (failed ones are retried)."""
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return study.get_trials(deepcopy=False, states=states)
