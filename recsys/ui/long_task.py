"""One way to run a long task on a page (train, compare, tune): an `st.status` box with a progress bar,
errors shown as one readable message, and a completion label the caller derives from the result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from recsys._progress import Progress
from recsys.ui import session

T = TypeVar("T")


def run(
    label: str,
    work: Callable[[Progress], T],
    *,
    what: str,
    hint: str = "",
    done: Callable[[T], str],
    line_of: Callable[[str], tuple[str, str] | None] | None = None,
) -> T | None:
    """Run `work(progress)` inside a status box; returns its result, or None after showing the error.

    `what` names the task in the error message ("Training kNN"), `hint` says what to try next (only when there is
    a useful one), and
    `done(result)` gives the label the collapsed box keeps (it may also record the result). `line_of(message)`
    -> (key, text) keeps one line per key under the bar (e.g. per model: "trial 4/20, best so far 0.61").
    """
    with st.status(label, expanded=True) as status:
        bar = st.progress(0.0, text="starting")
        board = st.empty() if line_of else None
        lines: dict[str, str] = {}

        def progress(fraction: float, message: str = "") -> None:
            fraction = float(min(max(fraction, 0.0), 1.0))
            bar.progress(fraction, text=message or f"{fraction:.0%}")
            line = line_of(message) if line_of else None
            if line is not None and board is not None and lines.get(line[0]) != line[1]:
                lines[line[0]] = line[1]
                board.text("\n".join(f"{key}: {text}" for key, text in lines.items()))

        try:
            result = work(progress)
        except Exception as exc:
            status.update(label=f"{what} failed", state="error", expanded=True)  # the reason in sight
            session.show_error(what, exc, hint)
            return None
        status.update(label=done(result), state="complete", expanded=False)
        return result


def run_recorded(
    label: str,
    work: Callable[[Progress], T],
    *,
    kind: str,
    title: Callable[[T], str],
    select: str,
    what: str,
    hint: str = "",
    line_of: Callable[[str], tuple[str, str] | None] | None = None,
) -> T | None:
    """`run` for a comparison or a tuning: the result is recorded in the run history under `title(result)`
    (`session.save_run`, one numbering with the history) and selected on the page (`st.session_state[select]`)."""

    def recorded(result: Any) -> str:
        entry, note = session.save_run(kind, title(result), result)
        st.session_state[select] = entry["id"]
        return f"Done: {note}"

    return run(label, work, what=what, hint=hint, done=recorded, line_of=line_of)
