"""Feedback log: every thumbs up/down on the Recommend page, and every list shown, appended to SQLite.

Why a separate store: the dataset files stay untouched, and administrators get "users can report poor
recommendations" plus per-model rates. Rows carry an anonymous random session id (no user data), the time,
the model key and a hash of its full parameters, the course, the vote and the rank it was shown at. WAL mode
and a busy timeout let several browser sessions (threads or processes) append at once; every call opens its
own short connection, so a restart loses nothing that was committed.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import uuid
from collections.abc import Iterable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from recsys._sqlite import initialise

DEFAULT_PATH = Path("artifacts") / "feedback.sqlite"
VOTES = ("up", "down")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    model_key TEXT NOT NULL,
    params_hash TEXT NOT NULL,
    dataset TEXT NOT NULL DEFAULT '',
    course_id TEXT NOT NULL,
    vote TEXT NOT NULL CHECK (vote IN ('up', 'down')),
    rank INTEGER
);
CREATE TABLE IF NOT EXISTS lists (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    ts TEXT NOT NULL,
    model_key TEXT NOT NULL,
    params_hash TEXT NOT NULL,
    dataset TEXT NOT NULL DEFAULT '',
    n_shown INTEGER NOT NULL,
    courses TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS votes_session ON votes (session_id);
CREATE INDEX IF NOT EXISTS lists_session ON lists (session_id);
"""


def new_session_id() -> str:
    """An anonymous id for one browser session (random; says nothing about the person)."""
    return uuid.uuid4().hex


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def neutralize(value):
    """A cell a spreadsheet will not run as a formula: text starting with = + - @ tab or CR gets a leading '."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class FeedbackLog:
    """Append-only feedback store at `path` (created on first use)."""

    def __init__(self, path=DEFAULT_PATH, timeout: float = 30.0):
        self.path = Path(path)
        self.timeout = float(timeout)
        self._ready = False

    # ----- connection -----------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=self.timeout)
        con.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        if not self._ready:
            initialise(con, _SCHEMA, self.timeout)
            self._ready = True
        return con

    def _write(self, sql: str, rows: Iterable[tuple]) -> int:
        with closing(self._connect()) as con, con:
            return con.executemany(sql, list(rows)).rowcount

    def _read(self, sql: str, params: tuple = ()) -> pd.DataFrame:
        with closing(self._connect()) as con:
            return pd.read_sql_query(sql, con, params=params)

    # ----- appending --------------------------------------------------------------------------------
    def record_vote(
        self,
        session_id: str,
        model_key: str,
        params_hash: str,
        course_id: str,
        vote: str,
        rank: int | None = None,
        dataset: str = "",
    ) -> None:
        """Append one thumbs up/down: `vote` is 'up' or 'down', `rank` the 1-based position it was shown at."""
        if vote not in VOTES:
            raise ValueError(f"vote must be 'up' or 'down', got {vote!r}")
        if not session_id or not model_key or not course_id:
            raise ValueError("a vote needs a session id, a model key and a course id")
        self._write(
            "INSERT INTO votes (session_id, ts, model_key, params_hash, dataset, course_id, vote, rank) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    str(session_id),
                    now_iso(),
                    str(model_key),
                    str(params_hash),
                    str(dataset),
                    str(course_id),
                    vote,
                    None if rank is None else int(rank),
                )
            ],
        )

    def record_list(
        self, session_id: str, model_key: str, params_hash: str, courses: Iterable[str], dataset: str = ""
    ) -> None:
        """Append one shown list (its courses in rank order)."""
        courses = [str(c) for c in courses]
        self._write(
            "INSERT INTO lists (session_id, ts, model_key, params_hash, dataset, n_shown, courses) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    str(session_id),
                    now_iso(),
                    str(model_key),
                    str(params_hash),
                    str(dataset),
                    len(courses),
                    " ".join(courses),
                )
            ],
        )

    def delete_session(self, session_id: str) -> int:
        """Remove every vote and list of one session (privacy); returns the number of rows deleted."""
        with closing(self._connect()) as con, con:
            n = con.execute("DELETE FROM votes WHERE session_id = ?", (str(session_id),)).rowcount
            n += con.execute("DELETE FROM lists WHERE session_id = ?", (str(session_id),)).rowcount
        return int(n)

    # ----- reading ----------------------------------------------------------------------------------
    def votes(self, session_id: str | None = None) -> pd.DataFrame:
        if session_id is None:
            return self._read("SELECT * FROM votes ORDER BY id")
        return self._read("SELECT * FROM votes WHERE session_id = ? ORDER BY id", (str(session_id),))

    def lists(self, session_id: str | None = None) -> pd.DataFrame:
        if session_id is None:
            return self._read("SELECT * FROM lists ORDER BY id")
        return self._read("SELECT * FROM lists WHERE session_id = ? ORDER BY id", (str(session_id),))

    def per_model(self) -> pd.DataFrame:
        """Per model key and parameter hash: lists and courses shown, ups, downs, and rates per course shown."""
        lists = self._read(
            "SELECT model_key, params_hash, COUNT(*) AS lists_shown, SUM(n_shown) AS courses_shown "
            "FROM lists GROUP BY model_key, params_hash"
        )
        votes = self._read(
            "SELECT model_key, params_hash, SUM(vote = 'up') AS up, SUM(vote = 'down') AS down "
            "FROM votes GROUP BY model_key, params_hash"
        )
        out = lists.merge(votes, on=["model_key", "params_hash"], how="outer")
        for col in ("lists_shown", "courses_shown", "up", "down"):
            out[col] = out[col].fillna(0).astype(int)
        shown = out["courses_shown"].where(out["courses_shown"] > 0)
        out["up_rate"] = out["up"] / shown
        out["down_rate"] = out["down"] / shown
        votes_n = (out["up"] + out["down"]).where(lambda v: v > 0)
        out["share_up"] = out["up"] / votes_n
        return out.sort_values(["model_key", "params_hash"], kind="stable").reset_index(drop=True)

    def most_disliked(self, limit: int = 10, model_key: str | None = None) -> pd.DataFrame:
        """Courses with the most thumbs-down (ties: fewer thumbs-up first), optionally for one model."""
        where, params = ("WHERE model_key = ?", (model_key,)) if model_key else ("", ())
        return self._read(
            f"SELECT course_id, SUM(vote = 'down') AS down, SUM(vote = 'up') AS up FROM votes {where} "
            f"GROUP BY course_id HAVING SUM(vote = 'down') > 0 ORDER BY down DESC, up ASC, course_id LIMIT ?",
            (*params, int(limit)),
        )

    def over_time(self, freq: str = "D") -> pd.DataFrame:
        """Per period (pandas frequency, default day) and model: lists shown, ups and downs."""
        votes, lists = self.votes(), self.lists()
        frames = []
        for df, kind in (
            (lists, "lists"),
            (votes[votes["vote"] == "up"], "up"),
            (votes[votes["vote"] == "down"], "down"),
        ):
            if len(df):
                period = pd.to_datetime(df["ts"], utc=True, format="ISO8601").dt.floor(freq)
                frames.append(df.assign(period=period, kind=kind).groupby(["period", "model_key", "kind"]).size())
        if not frames:
            return pd.DataFrame(columns=["period", "model_key", "lists", "up", "down"])
        out = pd.concat(frames).unstack("kind", fill_value=0).reset_index()
        for col in ("lists", "up", "down"):
            if col not in out:
                out[col] = 0
        return (
            out[["period", "model_key", "lists", "up", "down"]]
            .sort_values(["period", "model_key"])
            .reset_index(drop=True)
        )

    def export_csv(self, session_id: str | None = None) -> str:
        """All votes as CSV text, every text cell neutralized against spreadsheet formula injection."""
        df = self.votes(session_id)
        text = [c for c in df.columns if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])]
        df[text] = df[text].apply(lambda col: col.map(neutralize))
        buf = io.StringIO()
        df.to_csv(buf, index=False, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)  # quoted: CR/tab stay in-cell
        return buf.getvalue()
