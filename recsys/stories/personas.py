"""Sample learners described by rules over the catalogue, so they work on any dataset in the IBM format.

A persona is a few clauses "take up to N courses having any of these genres (at these levels)"; the
courses are chosen from the catalogue of the dataset in use (most-enrolled first, catalogue order on ties),
never hard-coded ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Clause:
    """Up to `count` courses having at least one of `genres` (and, if the catalogue has levels, a level in `levels`)."""

    genres: tuple[str, ...]
    count: int
    levels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Persona:
    key: str
    name: str
    description: str
    clauses: tuple[Clause, ...]


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "ml_beginner",
        "Machine-learning beginner",
        "Took introductory Python and machine-learning courses.",
        (Clause(("Python",), 1, ("Beginner",)), Clause(("MachineLearning",), 2, ("Beginner",))),
    ),
    Persona(
        "analyst_to_big_data",
        "Data analyst moving to big data",
        "Knows data analysis and databases; started on big data.",
        (
            Clause(("DataAnalysis",), 2, ("Beginner", "Intermediate")),
            Clause(("Database",), 1),
            Clause(("BigData",), 1, ("Beginner",)),
        ),
    ),
    Persona(
        "cloud_developer",
        "Cloud/containers developer",
        "A back-end developer working with cloud platforms and containers.",
        (
            Clause(("BackendDev",), 1),
            Clause(("CloudComputing",), 2, ("Beginner", "Intermediate")),
            Clause(("Containers",), 1),
        ),
    ),
    Persona(
        "vision_researcher",
        "Computer-vision enthusiast",
        "Has done deep learning and image-recognition courses.",
        (Clause(("MachineLearning",), 1, ("Intermediate", "Advanced")), Clause(("ComputerVision",), 2)),
    ),
)


def get_persona(key: str) -> Persona:
    for p in PERSONAS:
        if p.key == key:
            return p
    raise ValueError(f"unknown persona '{key}' (known: {', '.join(p.key for p in PERSONAS)})")


def persona_history(dataset, persona: Persona | str) -> list[str]:
    """Course ids the persona has completed in `dataset`'s catalogue (may be shorter if few courses match).

    Within a clause the most-enrolled matching courses come first, so the persona looks like a typical
    learner; clauses never pick the same course twice. Genres the catalogue lacks are ignored.
    """
    if isinstance(persona, str):
        persona = get_persona(persona)
    courses = dataset.courses
    enrolments = (
        np.bincount(dataset.matrix.indices, minlength=dataset.n_items) if dataset.n_users else np.zeros(dataset.n_items)
    )
    order = np.argsort(-enrolments, kind="stable")
    taken: list[int] = []
    for clause in persona.clauses:
        genres = [g for g in clause.genres if g in courses.columns]
        if not genres:
            continue
        mask = courses[genres].to_numpy().sum(axis=1) > 0
        if clause.levels and "LEVEL" in courses.columns:
            level_mask = mask & courses["LEVEL"].isin(clause.levels).to_numpy()
            if level_mask.any():  # a catalogue without those levels still gets the genre courses
                mask = level_mask
        picks = [int(i) for i in order if mask[i] and int(i) not in taken][: clause.count]
        taken.extend(picks)
    return [str(dataset.item_ids[i]) for i in taken]
