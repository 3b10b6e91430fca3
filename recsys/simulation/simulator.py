"""Simulated learners who react to shown lists the way the generator's learners choose courses.

The generator takes courses one at a time with probability proportional to a choice weight (appeal x
interest x readiness). The simulator turns that into a reaction to a shown list:

  * position bias: the course at rank r (1-based) is looked at with probability r ** -position_bias;
  * a looked-at course is enrolled with probability min(1, appetite * share), where share = its weight /
    the learner's total weight over courses not taken yet -- the chance the generator's learner would pick
    exactly this course next. Recommending what the learner would choose anyway scores; a locked advanced
    course or a genre the learner ignores almost never does;
  * an enrolment is completed (rating 3) or audited (rating 2) with the generator's audit chance by level;
    a course enrolled before its previous level was taken is completed only with `unready_completion`.

Enrolments become history (the learner's weights drop the course and unlock the next level), so models
fold them in on the next session. Every random draw comes from a seeded `numpy.random.Generator`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from recsys.simulation.behaviour import BehaviourModel


@dataclass
class Population:
    """Fresh learners from the generator's population law: genre interests and lifetime activity."""

    theta: np.ndarray  # (n, G) interests
    activity: np.ndarray  # (n,) number of courses each learner takes in the generator's process

    def __len__(self) -> int:
        return len(self.activity)

    def subset(self, rows) -> Population:
        return Population(self.theta[rows], self.activity[rows])


def sample_population(model: BehaviourModel, n: int, rng: np.random.Generator) -> Population:
    """n new learners drawn like the generator draws its learners (not the training ones)."""
    n = int(n)
    if n < 1:
        raise ValueError(f"the number of simulated learners must be >= 1, got {n}")
    activity = rng.choice(np.arange(1, len(model.activity_pmf) + 1), n, p=model.activity_pmf)
    theta = rng.dirichlet(model.interest_alpha, n)
    theta = np.nan_to_num(theta, nan=1.0 / len(model.interest_alpha))  # all-underflow rows: no preference
    return Population(theta, activity.astype(np.int64))


class LearnerStates:
    """Mutable state of a batch of simulated learners: ratings so far and current choice weights."""

    def __init__(self, model: BehaviourModel, population: Population):
        self.model = model
        self.base = model.base_weights(population.theta)  # taken courses get 0
        self.weight = self.base * model.start_weight[None, :].astype(np.float32)
        self.ratings = np.zeros(self.base.shape, dtype=np.float32)  # 0 = not taken
        self.unready = np.zeros(self.base.shape, dtype=bool)

    def __len__(self) -> int:
        return self.base.shape[0]

    def histories(self, rows=None) -> sparse.csr_matrix:
        """Ratings of the learners (all, or `rows`) as a CSR batch in catalogue column order."""
        r = self.ratings if rows is None else self.ratings[rows]
        return sparse.csr_matrix(r)

    def take(self, rows: np.ndarray, course: np.ndarray, rating: np.ndarray) -> None:
        """Record that learner rows[i] took course[i] (one course per row in a call) with rating[i]."""
        if len(rows) == 0:
            return
        self.ratings[rows, course] = rating
        self.weight[rows, course] = 0.0
        self.base[rows, course] = 0.0
        opened = self.model.unlocks[course]  # (len, C)
        self.weight[rows] = np.where(opened, self.base[rows], self.weight[rows])

    def choice_share(self, rows: np.ndarray, courses: np.ndarray) -> np.ndarray:
        """Weight of `courses` (rows x K) over each learner's total weight: the generator's next-pick chance."""
        w = self.weight[rows]
        total = w.sum(axis=1, keepdims=True)
        picked = np.take_along_axis(w, courses, axis=1)
        return np.divide(picked, total, out=np.zeros_like(picked), where=total > 0)


@dataclass(frozen=True)
class Reaction:
    """What the learners did with one shown list each."""

    enrolled: np.ndarray  # (n, K) bool
    completed: np.ndarray  # (n, K) bool (subset of enrolled)
    p_enrol: np.ndarray  # (n, K) enrolment probability of each shown course


class Simulator:
    """Reactions of simulated learners to shown lists (see module docstring for the behaviour)."""

    def __init__(
        self,
        model: BehaviourModel,
        *,
        position_bias: float = 0.7,
        appetite: float = 1.0,
        unready_completion: float = 0.5,
    ):
        if position_bias < 0 or appetite <= 0 or not 0 <= unready_completion <= 1:
            raise ValueError("position_bias must be >= 0, appetite > 0 and unready_completion in [0, 1]")
        self.model = model
        self.position_bias, self.appetite = float(position_bias), float(appetite)
        self.unready_completion = float(unready_completion)

    # ----- populations ------------------------------------------------------------------------
    def new_learners(self, n: int, rng: np.random.Generator, start: str = "half") -> tuple[Population, LearnerStates]:
        """n fresh learners; `start`='half' gives each the first half (at least one) of their organic courses,
        'empty' starts them with no history (cold start)."""
        population = sample_population(self.model, n, rng)
        states = LearnerStates(self.model, population)
        if start == "half":
            self.organic(states, np.maximum(1, (population.activity + 1) // 2), rng)
        elif start != "empty":
            raise ValueError(f"start must be 'half' or 'empty', got {start!r}")
        return population, states

    def organic(self, states: LearnerStates, steps: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        """Let learners take `steps[i]` courses on their own, exactly like the generator (one at a time,
        proportional to weight, without replacement). Returns the course taken per step (rows in order)."""
        steps = np.asarray(steps, dtype=np.int64)
        taken = []
        for step in range(int(steps.max(initial=0))):
            rows = np.flatnonzero(steps > step)
            w = states.weight[rows]
            cs = np.cumsum(w, axis=1, dtype=np.float64)
            r = rng.random(len(rows)) * cs[:, -1]
            pick = np.minimum((cs <= r[:, None]).sum(axis=1), self.model.n_courses - 1)
            bad = w[np.arange(len(rows)), pick] <= 0
            pick[bad] = np.argmax(w[bad], axis=1)
            audited = rng.random(len(rows)) < self.model.audit_p[self.model.level[pick]]
            states.take(rows, pick, np.where(audited, 2.0, 3.0).astype(np.float32))
            taken.append(pick)
        return taken

    # ----- reacting to lists --------------------------------------------------------------------
    def examine_probability(self, k: int) -> np.ndarray:
        """Chance that the course at rank 1..k is looked at (users look less far down)."""
        return np.arange(1, int(k) + 1, dtype=np.float64) ** -self.position_bias

    def enrol_probability(self, states: LearnerStates, rows: np.ndarray, shown: np.ndarray) -> np.ndarray:
        """P(enrol) of each shown course (rows x K; -1 marks an empty slot) for learners `rows`."""
        shown = np.asarray(shown)
        valid = shown >= 0
        share = states.choice_share(rows, np.where(valid, shown, 0))
        p = self.examine_probability(shown.shape[1])[None, :] * np.minimum(1.0, self.appetite * share)
        return np.where(valid, p, 0.0)

    def complete_probability(self, states: LearnerStates, rows: np.ndarray, shown: np.ndarray) -> np.ndarray:
        """P(complete | enrol) of each shown course: the audit chance by level, lower when not ready."""
        safe = np.where(shown >= 0, shown, 0)
        p = 1.0 - self.model.audit_p[self.model.level[safe]]
        ready = np.take_along_axis(states.weight[rows], safe, axis=1) >= np.take_along_axis(
            states.base[rows], safe, axis=1
        )
        return np.where(ready, p, p * self.unready_completion)

    def react(self, states: LearnerStates, rows: np.ndarray, shown: np.ndarray, rng: np.random.Generator) -> Reaction:
        """Draw enrolments and completions for one list per learner row and add them to the histories."""
        rows, shown = np.asarray(rows), np.asarray(shown)
        p_enrol = self.enrol_probability(states, rows, shown)
        p_complete = self.complete_probability(states, rows, shown)
        u = rng.random((2, *shown.shape))
        enrolled = u[0] < p_enrol
        completed = enrolled & (u[1] < p_complete)
        for j in range(shown.shape[1]):
            hit = np.flatnonzero(enrolled[:, j])
            states.take(rows[hit], shown[hit, j], np.where(completed[hit, j], 3.0, 2.0).astype(np.float32))
        return Reaction(enrolled, completed, p_enrol)
