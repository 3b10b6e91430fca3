"""Serve fitted models to simulated learners, session after session, as production would.

Each session a learner is shown the model's top-K (courses already taken excluded), the simulator reacts, and
the enrolments join the learner's history -- so the next session's list is the model's fold-in of the grown
history. Learners are scored in batches through `score_histories`, the same path the evaluation uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recsys.models.serving import top_k
from recsys.simulation.simulator import LearnerStates, Simulator

CHUNK = 4096  # learners scored together (memory ~ chunk x courses)


@dataclass
class Served:
    """Outcome of serving one arm to some learners: per learner and session, plus what was shown."""

    enrolments: np.ndarray  # (n, sessions) courses enrolled per shown list
    completions: np.ndarray  # (n, sessions) of which completed
    expected: np.ndarray  # (n, sessions) expected enrolments of each list (sum of enrol probabilities)
    shown_counts: np.ndarray  # (C,) how often each course was shown


def serve(
    simulator: Simulator,
    model,
    states: LearnerStates,
    rows,
    sessions: int,
    k: int,
    rng: np.random.Generator,
    chunk: int = CHUNK,
) -> Served:
    """Show `model`'s top-k to learners `rows` for `sessions` sessions; the states are updated in place."""
    rows = np.asarray(rows, dtype=np.int64)
    n, n_c = len(rows), states.model.n_courses
    enrol = np.zeros((n, sessions), dtype=np.int32)
    complete = np.zeros((n, sessions), dtype=np.int32)
    expected = np.zeros((n, sessions))
    shown_counts = np.zeros(n_c, dtype=np.int64)
    for s in range(sessions):
        for lo in range(0, n, chunk):
            part = rows[lo : lo + chunk]
            histories = states.histories(part)
            scores = np.asarray(model.score_histories(histories), dtype=np.float64)
            shown = top_k(scores, k, exclude=histories)
            reaction = simulator.react(states, part, shown, rng)
            enrol[lo : lo + chunk, s] = reaction.enrolled.sum(axis=1)
            complete[lo : lo + chunk, s] = reaction.completed.sum(axis=1)
            expected[lo : lo + chunk, s] = reaction.p_enrol.sum(axis=1)
            shown_counts += np.bincount(shown[shown >= 0], minlength=n_c)
    return Served(enrol, complete, expected, shown_counts)
