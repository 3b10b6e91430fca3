"""Run history: every comparison and tuning run, stored in SQLite so the CLI and the app share it.

WAL mode plus a busy timeout lets the app and a CLI process write at the same time; each run is written
in one transaction (a run is either fully recorded or not at all). The whole JSON report is stored with
the run, and one row per model/parameter combination makes listing cheap. The stored report holds every
field of the run (metrics, intervals, product KPIs, segments, comparisons with the best model), and runs can be
listed by protocol (the split name: new_learners, holdout, ratio, new_courses, or kfold for tuning).
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

import recsys
from recsys._sqlite import initialise

DEFAULT_PATH = Path("artifacts") / "runs.sqlite"
KINDS = ("compare", "tune")
PROTOCOLS = ("new_learners", "holdout", "ratio", "new_courses", "kfold")
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    dataset_name TEXT,
    dataset_fingerprint TEXT,
    split TEXT,
    k INTEGER,
    seed INTEGER,
    summary TEXT,
    recsys_version TEXT,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_models (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    model TEXT NOT NULL,
    params TEXT,
    metrics TEXT,
    ci TEXT,
    fit_seconds REAL,
    recommend_ms REAL,
    PRIMARY KEY (run_id, position)
);
CREATE INDEX IF NOT EXISTS runs_kind ON runs(kind, id);
"""


def check_recordable(path) -> None:
    """Raise (sqlite3.Error or OSError) when runs could not be recorded in the history at `path` -- before a long
    run, not after it -- without creating or changing anything: an existing file must open as a database in a
    writable place; a missing one must be creatable in its folder."""
    path = Path(path)
    if path.exists():
        if not path.is_file():
            raise sqlite3.DatabaseError(f"{path} is not a file")
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
            raise PermissionError(13, "the run history cannot be written", str(path))
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()
        return
    folder = path.parent.resolve()
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(13, "the run history cannot be created (folder not writable)", str(path))


class RunHistory:
    """SQLite store of runs at `path` (default artifacts/runs.sqlite; the folder is created)."""

    def __init__(self, path=DEFAULT_PATH):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            initialise(conn, _SCHEMA, BUSY_TIMEOUT_MS / 1000)

    @contextmanager
    def _connect(self):
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys=ON")
            yield conn
        finally:
            conn.close()

    def _write(self, run: dict[str, Any], models: list[dict[str, Any]]) -> int:
        with self._connect() as conn:
            conn.isolation_level = None
            conn.execute("BEGIN IMMEDIATE")  # take the write lock up front; waits up to the busy timeout
            try:
                cur = conn.execute(
                    "INSERT INTO runs (created_at, kind, dataset_name, dataset_fingerprint, split, k, seed, summary,"
                    " recsys_version, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        run["created_at"],
                        run["kind"],
                        run["dataset"].get("name"),
                        run["dataset"].get("fingerprint"),
                        json.dumps(run["split"]),
                        run.get("k"),
                        run.get("seed"),
                        run["summary"],
                        recsys.__version__,
                        json.dumps(run["payload"], allow_nan=False),
                    ),
                )
                run_id = int(cur.lastrowid)
                conn.executemany(
                    "INSERT INTO run_models (run_id, position, name, model, params, metrics, ci, fit_seconds,"
                    " recommend_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            run_id,
                            i,
                            m["name"],
                            m["model"],
                            json.dumps(m.get("params", {})),
                            json.dumps(m.get("metrics", {}), allow_nan=False),
                            json.dumps(m.get("ci", {}), allow_nan=False),
                            m.get("fit_seconds"),
                            m.get("recommend_ms"),
                        )
                        for i, m in enumerate(models)
                    ],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return run_id

    def record_experiment(self, result) -> int:
        """Store an ExperimentResult; returns the new run id."""
        payload = result.to_json()
        primary = f"ndcg@{result.k}"
        best = max(
            payload["results"], key=lambda r: -1.0 if r["metrics"].get(primary) is None else r["metrics"][primary]
        )
        value = best["metrics"].get(primary)
        summary = f"best {best['name']} {primary}={value:.4f}" if value is not None else ""
        tied = [
            r["name"]
            for r in payload["results"]
            if r["name"] != best["name"] and (r.get("vs_best") or {}).get(primary, {}).get("tied_with_best")
        ]
        if summary and tied:
            summary += f"; tied with best (Holm): {', '.join(tied)}"
        tuning = payload["split"].get("tuning")
        if summary and tuning:
            budget = tuning.get("trials_per_model") or f"{tuning.get('minutes_per_model')} min"
            summary = f"tuned ({budget} per model); {summary}"
        cannot = [r["name"] for r in payload["results"] if (r.get("new_courses") or {}).get("can_recommend") is False]
        if cannot:
            summary += f"; cannot recommend new courses: {', '.join(cannot)}"
        if payload.get("failed"):
            summary += ("; " if summary else "") + f"failed: {', '.join(f['name'] for f in payload['failed'])}"
        run = {
            "created_at": result.created_at,
            "kind": "compare",
            "dataset": payload["dataset"],
            "split": payload["split"],
            "k": result.k,
            "seed": result.seed,
            "summary": summary,
            "payload": payload,
        }
        return self._write(run, payload["results"])

    def record_tuning(self, result) -> int:
        """Store a TuneResult; returns the new run id."""
        payload = result.to_json()
        score = payload["best_score"]
        summary = (
            (
                f"{payload['model']} best {payload['metric']}={score:.4f} at "
                + ", ".join(f"{k}={v}" for k, v in payload["best_params"].items())
            )
            if score is not None
            else ""
        )
        models = [
            {
                "name": f"{payload['model']}#{i + 1}",
                "model": payload["model"],
                "params": row["params"],
                "metrics": {f"{payload['metric']}_mean": row["mean"], f"{payload['metric']}_std": row["std"]},
                "fit_seconds": row.get("fit_seconds"),
            }
            for i, row in enumerate(payload["results"])
        ]
        run = {
            "created_at": result.created_at,
            "kind": "tune",
            "dataset": payload["dataset"],
            "split": payload["split"],
            "k": payload.get("k"),
            "seed": payload.get("seed"),
            "summary": summary,
            "payload": payload,
        }
        return self._write(run, models)

    def list_runs(self, limit: int = 50, kind: str | None = None, protocol: str | None = None) -> pd.DataFrame:
        """Newest first: id, created_at, kind, dataset, fingerprint, protocol, split, k, seed, models, summary,
        version. `protocol` keeps only runs on that split (e.g. 'new_learners')."""
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown run kind '{kind}' (known: {', '.join(KINDS)})")
        if protocol is not None and protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol '{protocol}' (known: {', '.join(PROTOCOLS)})")
        if isinstance(limit, bool) or int(limit) != limit or limit < 1:
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        query = (
            "SELECT r.id, r.created_at, r.kind, r.dataset_name, r.dataset_fingerprint, r.split, r.k, r.seed,"
            " (SELECT group_concat(name, ', ') FROM (SELECT name FROM run_models m WHERE m.run_id = r.id"
            " ORDER BY position)), r.summary, r.recsys_version FROM runs r"
        )
        args: list[Any] = []
        where = []
        if kind:
            where.append("r.kind = ?")
            args.append(kind)
        if protocol:
            where.append("json_extract(r.split, '$.name') = ?")
            args.append(protocol)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY r.id DESC LIMIT ?"
        args.append(int(limit))
        with self._connect() as conn:
            rows = conn.execute(query, args).fetchall()
        columns = [
            "id",
            "created_at",
            "kind",
            "dataset",
            "fingerprint",
            "split",
            "k",
            "seed",
            "models",
            "summary",
            "recsys_version",
        ]
        frame = pd.DataFrame(rows, columns=columns)
        frame.insert(5, "protocol", [_split_name(s) for s in frame["split"]])
        frame["split"] = [_split_text(s) for s in frame["split"]]
        return frame

    def delete_runs(self, run_ids) -> int:
        """Remove runs (and their per-model rows) by id in one transaction; returns how many were deleted.
        An admin action: the app offers it only on the admin-only Run history page."""
        ids = sorted({int(i) for i in run_ids})
        if not ids:
            return 0
        with self._connect() as conn:
            conn.isolation_level = None
            conn.execute("BEGIN IMMEDIATE")
            try:
                marks = ",".join("?" * len(ids))
                conn.execute(f"DELETE FROM run_models WHERE run_id IN ({marks})", ids)
                n = conn.execute(f"DELETE FROM runs WHERE id IN ({marks})", ids).rowcount
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return int(n)

    def load_run(self, run_id: int) -> dict[str, Any]:
        """The whole stored run: id, created_at, kind, recsys_version, plus the JSON report of that run."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT id, created_at, kind, recsys_version, payload FROM runs WHERE id = ?", (int(run_id),)
            ).fetchone()
        if row is None:
            raise KeyError(f"run {run_id} not found in {self.path}")
        return {"id": row[0], "created_at": row[1], "kind": row[2], "recsys_version": row[3], **json.loads(row[4])}

    def __repr__(self) -> str:
        return f"RunHistory({str(self.path)!r})"


def _split_name(raw: str | None) -> str:
    return (json.loads(raw).get("name") or "") if raw else ""


def _split_text(raw: str | None) -> str:
    if not raw:
        return ""
    split = json.loads(raw)
    params = ", ".join(f"{k}={v}" for k, v in (split.get("params") or {}).items())
    return f"{split.get('name', '?')}({params})"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
