"""SQLite set-up shared by the run history and the feedback log: WAL mode and the schema, safe when several
threads or processes open a new database file at the same moment."""

from __future__ import annotations

import sqlite3
import time


def initialise(con: sqlite3.Connection, schema: str, timeout_s: float) -> None:
    """Put the database in WAL mode and create `schema` (`;`-separated statements) in one write transaction.

    Switching a new file to WAL needs an exclusive lock, and SQLite answers "database is locked" at once rather
    than waiting in its busy handler, so a second opener racing the first retries (backing off) until
    `timeout_s`. The schema is created under BEGIN IMMEDIATE, which does wait for the write lock.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.005
    while True:
        try:
            con.execute("PRAGMA journal_mode=WAL").fetchone()
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
    previous = con.isolation_level
    con.isolation_level = None  # explicit transaction control for the schema
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            for statement in schema.split(";"):
                if statement.strip():
                    con.execute(statement)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.isolation_level = previous
