"""Thompson sampling over the same arms: traffic moves to the arm that earns more enrolments as evidence comes in.

Reward = enrolments per shown list, modelled as Poisson with a Gamma(prior_shape, prior_rate) prior per arm
(conjugate: after E enrolments in L lists the posterior is Gamma(shape + E, rate + L)). Learners arrive in
batches; each learner is assigned by one posterior draw per arm (argmax), keeps that arm for all sessions,
and the posteriors are updated when the batch has finished.

Regret is against the best arm in hindsight: arm means are the per-list enrolment rates measured over the
run (or given, e.g. from a fixed-split A/B test on the same arms), regret(t) = sum over the first t learners
of sessions x (best mean - mean of the arm they got). A fixed equal split is shown for comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from recsys.simulation.abtest import Arm, check_arms, check_sizes
from recsys.simulation.serving import serve
from recsys.simulation.simulator import Simulator


@dataclass
class BanditResult:
    arms: list[str]
    learners: pd.DataFrame  # learner, batch, arm, enrolments, lists
    arm_means: dict[str, float]  # per-list enrolment rate used for regret
    posterior: pd.DataFrame  # arm, shape, rate, mean
    sessions: int

    @property
    def allocation(self) -> pd.DataFrame:
        """Per batch and arm: learners assigned, share of the batch, cumulative share so far."""
        counts = (
            self.learners.groupby(["batch", "arm"])
            .size()
            .unstack(fill_value=0)
            .reindex(columns=self.arms, fill_value=0)
        )
        seen = counts.sum(axis=1).cumsum()
        share = counts.div(counts.sum(axis=1), axis=0)
        cumulative = counts.cumsum().div(seen, axis=0)
        out = []
        for arm in self.arms:
            out.append(
                pd.DataFrame(
                    {
                        "batch": counts.index,
                        "learners": seen.to_numpy(),
                        "arm": arm,
                        "assigned": counts[arm].to_numpy(),
                        "share": share[arm].to_numpy(),
                        "cumulative_share": cumulative[arm].to_numpy(),
                    }
                )
            )
        return pd.concat(out, ignore_index=True)

    @property
    def regret(self) -> pd.DataFrame:
        """Cumulative regret (in enrolments) of Thompson sampling and of a fixed equal split, per learner."""
        means = np.array([self.arm_means[a] for a in self.arms])
        gap = means.max() - means
        index = {a: i for i, a in enumerate(self.arms)}
        per_learner = gap[self.learners["arm"].map(index).to_numpy()] * self.sessions
        n = np.arange(1, len(per_learner) + 1)
        return pd.DataFrame(
            {"learners": n, "thompson": np.cumsum(per_learner), "equal_split": n * gap.mean() * self.sessions}
        )

    @property
    def best_arm(self) -> str:
        return max(self.arms, key=lambda a: self.arm_means[a])

    def final_share(self, last: float = 0.2) -> dict[str, float]:
        """Share of each arm among the last `last` fraction of learners (where the allocation converged to)."""
        tail = self.learners.iloc[int(len(self.learners) * (1 - last)) :]
        return {a: float((tail["arm"] == a).mean()) for a in self.arms}


def run_thompson(
    simulator: Simulator,
    arms: Sequence[Arm],
    *,
    n_learners: int = 1000,
    sessions: int = 5,
    k: int = 10,
    seed: int = 0,
    batch: int | None = None,
    start: str = "half",
    prior: tuple[float, float] = (1.0, 1.0),
    arm_means: Mapping[str, float] | None = None,
    progress=None,
) -> BanditResult:
    """Thompson sampling over `arms` for `n_learners` fresh learners arriving in batches of `batch`."""
    check_arms(arms, None)
    check_sizes(n_learners, sessions, k)
    n, sessions = int(n_learners), int(sessions)
    batch = int(batch or max(10, n // 50))
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if prior[0] <= 0 or prior[1] <= 0:
        raise ValueError("the Gamma prior needs positive shape and rate")
    pop_seq, draw_seq, react_seq = np.random.SeedSequence(int(seed)).spawn(3)
    _, states = simulator.new_learners(n, np.random.default_rng(pop_seq), start=start)
    draw_rng = np.random.default_rng(draw_seq)
    react_rngs = [np.random.default_rng(s) for s in react_seq.spawn(len(arms))]
    shape = np.full(len(arms), float(prior[0]))
    rate = np.full(len(arms), float(prior[1]))
    assigned = np.zeros(n, dtype=np.int64)
    enrolments = np.zeros(n, dtype=np.int64)
    batch_of = np.zeros(n, dtype=np.int64)
    for b, lo in enumerate(range(0, n, batch)):
        rows = np.arange(lo, min(lo + batch, n))
        draws = draw_rng.gamma(shape[None, :], 1.0 / rate[None, :], size=(len(rows), len(arms)))
        choice = draws.argmax(axis=1)
        assigned[rows], batch_of[rows] = choice, b
        for i, arm in enumerate(arms):
            mine = rows[choice == i]
            if len(mine) == 0:
                continue
            served = serve(simulator, arm.model, states, mine, sessions, k, react_rngs[i])
            got = served.enrolments.sum(axis=1)
            enrolments[mine] = got
            shape[i] += got.sum()
            rate[i] += len(mine) * sessions
        if progress:
            progress(min(1.0, (lo + len(rows)) / n), f"batch {b + 1}")
    names = [a.name for a in arms]
    learners = pd.DataFrame(
        {
            "learner": np.arange(n),
            "batch": batch_of,
            "arm": np.array(names)[assigned],
            "enrolments": enrolments,
            "lists": sessions,
        }
    )
    if arm_means is None:
        per_arm = learners.groupby("arm")["enrolments"].sum() / learners.groupby("arm")["lists"].sum()
        # an arm never tried has no hindsight mean: use its prior mean (it was never the evidently better one)
        arm_means = {a: float(per_arm.get(a, prior[0] / prior[1])) for a in names}
    else:
        missing = [a for a in names if a not in arm_means]
        if missing:
            raise ValueError(f"arm_means lacks arm(s): {', '.join(missing)}")
        arm_means = {a: float(arm_means[a]) for a in names}
    posterior = pd.DataFrame({"arm": names, "shape": shape, "rate": rate, "mean": shape / rate})
    return BanditResult(names, learners, arm_means, posterior, sessions)
