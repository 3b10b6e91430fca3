"""A simulated A/B test between fitted models: fresh learners, a traffic split, sessions, per-arm metrics.

Metrics per arm (learner-randomised, so intervals use per-learner totals):
  CTR = enrolments per shown list; completion rate = completions / enrolments; enrolments per learner;
  coverage = share of the catalogue shown at least once.
Each treatment arm is compared with the control (the first arm): difference, 95% interval, p-value
(Welch t for CTR and enrolments per learner, delta method for the completion ratio).

Stopping rule. The fixed-horizon test is valid only once, at the planned number of learners. For peeking,
the sequential view also gives an always-valid mixture SPRT (mSPRT) on CTR: stop at the first look where
its always-valid p-value < alpha; intervals and p-values stay valid at every look.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recsys.simulation.serving import serve
from recsys.simulation.simulator import Simulator
from recsys.simulation.stats import mean_difference, msprt, ratio_difference

METRICS = ("ctr", "completion_rate", "enrolments_per_learner")
METRIC_LABELS = {
    "ctr": "CTR (enrolments per list)",
    "completion_rate": "Completion rate",
    "enrolments_per_learner": "Enrolments per learner",
    "coverage": "Coverage",
}
STOPPING_RULE = (
    "Fixed horizon: the final p-value and interval are valid only at the planned number of "
    "learners (peeking at them inflates false positives). Sequential: always-valid mixture SPRT "
    "(mSPRT, Johari et al. 2017) on CTR -- stop at the first look where its always-valid p < alpha."
)


@dataclass
class Arm:
    """One arm: a display name and a fitted model."""

    name: str
    model: Any


def check_arms(arms: Sequence[Arm], split: Sequence[float] | None) -> np.ndarray:
    """Validate 2-4 uniquely named arms and the traffic split; returns the split as probabilities."""
    if not 2 <= len(arms) <= 4:
        raise ValueError(f"an A/B test needs 2 to 4 arms, got {len(arms)}")
    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise ValueError(f"arm names must be unique, got {names}")
    split = np.ones(len(arms)) if split is None else np.asarray(split, dtype=float)
    if split.shape != (len(arms),) or not np.isfinite(split).all() or (split <= 0).any():
        raise ValueError(f"the traffic split needs one positive share per arm ({len(arms)}), got {list(split)}")
    return split / split.sum()


def check_sizes(n_learners: int, sessions: int, k: int) -> None:
    if int(n_learners) < 2:
        raise ValueError(f"the number of simulated learners must be >= 2, got {n_learners}")
    if not 1 <= int(sessions) <= 100:
        raise ValueError(f"sessions per learner must be between 1 and 100, got {sessions}")
    if not 1 <= int(k) <= 50:
        raise ValueError(f"the list length K must be between 1 and 50, got {k}")


@dataclass
class ABResult:
    """Per-learner outcomes plus the per-arm summary, the comparisons and the sequential view."""

    arms: list[str]
    models: dict[str, str]
    learners: pd.DataFrame  # learner (arrival order), arm, enrolments, completions, lists
    coverage: dict[str, float]
    settings: dict[str, Any]
    alpha: float = 0.05
    tau: float = 0.05
    n_looks: int = 20
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def control(self) -> str:
        return self.arms[0]

    def _arm(self, name: str, upto: int | None = None) -> pd.DataFrame:
        df = self.learners
        if upto is not None:
            df = df[df["learner"] < upto]
        return df[df["arm"] == name]

    @property
    def summary(self) -> pd.DataFrame:
        """One row per arm: learners, lists, enrolments, completions, CTR (+95% interval), completion rate,
        enrolments per learner, coverage."""
        rows = []
        for name in self.arms:
            d = self._arm(name)
            ctr = d["enrolments"] / d["lists"]
            half = 1.96 * ctr.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
            enrolled = d["enrolments"].sum()
            rows.append(
                {
                    "arm": name,
                    "model": self.models[name],
                    "learners": len(d),
                    "lists": int(d["lists"].sum()),
                    "enrolments": int(enrolled),
                    "completions": int(d["completions"].sum()),
                    "ctr": float(ctr.mean()) if len(d) else float("nan"),
                    "ctr_lo": float(ctr.mean() - half),
                    "ctr_hi": float(ctr.mean() + half),
                    "completion_rate": float(d["completions"].sum() / enrolled) if enrolled else float("nan"),
                    "enrolments_per_learner": float(d["enrolments"].mean()) if len(d) else float("nan"),
                    "coverage": self.coverage[name],
                }
            )
        return pd.DataFrame(rows)

    def compare(self, treatment: str, metric: str = "ctr", upto: int | None = None):
        """`Difference` of `metric` between `treatment` and the control (learners arrived before `upto`)."""
        c, t = self._arm(self.control, upto), self._arm(treatment, upto)
        if metric == "ctr":
            return mean_difference(c["enrolments"] / c["lists"], t["enrolments"] / t["lists"])
        if metric == "enrolments_per_learner":
            return mean_difference(c["enrolments"], t["enrolments"])
        if metric == "completion_rate":
            return ratio_difference(c["completions"], c["enrolments"], t["completions"], t["enrolments"])
        raise ValueError(f"unknown metric '{metric}' (known: {', '.join(METRICS)})")

    @property
    def comparisons(self) -> pd.DataFrame:
        """Each treatment arm vs the control for every metric: difference, 95% interval, p-value."""
        rows = []
        for arm in self.arms[1:]:
            for metric in METRICS:
                d = self.compare(arm, metric)
                rows.append(
                    {
                        "arm": arm,
                        "metric": metric,
                        "control": d.control,
                        "treatment": d.treatment,
                        "diff": d.diff,
                        "lo": d.lo,
                        "hi": d.hi,
                        "relative": d.relative,
                        "p_value": d.p_value,
                        "significant": bool(d.p_value < self.alpha) if np.isfinite(d.p_value) else False,
                    }
                )
        return pd.DataFrame(rows)

    @property
    def sequential(self) -> pd.DataFrame:
        """CTR difference vs control after each look (learners in arrival order): the fixed-horizon interval
        (valid only at the end) next to the always-valid mSPRT interval and p-value (valid at every look)."""
        if "sequential" in self._cache:
            return self._cache["sequential"]
        n = int(self.learners["learner"].max()) + 1
        looks = np.unique(np.linspace(0, n, self.n_looks + 1)[1:].round().astype(int))
        rows = []
        for arm in self.arms[1:]:
            p_av = 1.0
            for look, upto in enumerate(looks, start=1):
                d = self.compare(arm, "ctr", upto)
                lr, av_lo, av_hi = msprt(d.diff, d.se**2, self.tau, self.alpha)
                if np.isfinite(lr) and lr > 0:
                    p_av = min(p_av, 1.0 / lr)
                rows.append(
                    {
                        "arm": arm,
                        "look": look,
                        "learners": int(upto),
                        "diff": d.diff,
                        "lo": d.lo,
                        "hi": d.hi,
                        "p_value": d.p_value,
                        "av_lo": av_lo,
                        "av_hi": av_hi,
                        "av_p_value": p_av,
                    }
                )
        self._cache["sequential"] = out = pd.DataFrame(rows)
        return out

    def stopping(self) -> pd.DataFrame:
        """Per treatment arm: where the mSPRT would stop (first look with always-valid p < alpha), else run on."""
        seq, rows = self.sequential, []
        for arm in self.arms[1:]:
            s = seq[seq["arm"] == arm]
            hit = s[s["av_p_value"] < self.alpha]
            final = self.compare(arm, "ctr")
            if len(hit):
                first = hit.iloc[0]
                decision = "better than control" if first["diff"] > 0 else "worse than control"
                rows.append(
                    {
                        "arm": arm,
                        "stopped_at_learners": int(first["learners"]),
                        "decision": decision,
                        "fixed_horizon_p": final.p_value,
                    }
                )
            else:
                rows.append(
                    {
                        "arm": arm,
                        "stopped_at_learners": None,
                        "decision": "no decision: keep running",
                        "fixed_horizon_p": final.p_value,
                    }
                )
        return pd.DataFrame(rows)


def run_abtest(
    simulator: Simulator,
    arms: Sequence[Arm],
    *,
    n_learners: int = 1000,
    sessions: int = 5,
    k: int = 10,
    split: Sequence[float] | None = None,
    seed: int = 0,
    start: str = "half",
    alpha: float = 0.05,
    tau: float = 0.05,
    n_looks: int = 20,
    progress=None,
) -> ABResult:
    """Draw `n_learners` fresh learners, assign each to an arm by `split`, serve `sessions` lists of `k`.

    Seeds: one SeedSequence(seed) gives the population, the assignment and one reaction stream per arm, so the
    same seed gives the same numbers in the app and the CLI.
    """
    probs = check_arms(arms, split)
    check_sizes(n_learners, sessions, k)
    if not 0 < alpha < 1 or tau <= 0:
        raise ValueError("alpha must be in (0, 1) and tau > 0")
    pop_seq, assign_seq, react_seq = np.random.SeedSequence(int(seed)).spawn(3)
    _, states = simulator.new_learners(int(n_learners), np.random.default_rng(pop_seq), start=start)
    assignment = np.random.default_rng(assign_seq).choice(len(arms), int(n_learners), p=probs)
    frames, coverage = [], {}
    for i, (arm, arm_seq) in enumerate(zip(arms, react_seq.spawn(len(arms)))):
        if progress:
            progress(i / len(arms), f"serving {arm.name}")
        rows = np.flatnonzero(assignment == i)
        served = serve(simulator, arm.model, states, rows, int(sessions), int(k), np.random.default_rng(arm_seq))
        coverage[arm.name] = float((served.shown_counts > 0).mean())
        frames.append(
            pd.DataFrame(
                {
                    "learner": rows,
                    "arm": arm.name,
                    "enrolments": served.enrolments.sum(axis=1),
                    "completions": served.completions.sum(axis=1),
                    "lists": int(sessions),
                }
            )
        )
    learners = pd.concat(frames, ignore_index=True).sort_values("learner", kind="stable").reset_index(drop=True)
    if progress:
        progress(1.0, "done")
    models = {a.name: getattr(a.model, "key", type(a.model).__name__) for a in arms}
    settings = {
        "n_learners": int(n_learners),
        "sessions": int(sessions),
        "k": int(k),
        "seed": int(seed),
        "split": [float(p) for p in probs],
        "start": start,
        "position_bias": simulator.position_bias,
        "appetite": simulator.appetite,
    }
    return ABResult([a.name for a in arms], models, learners, coverage, settings, alpha, tau, int(n_looks))
