"""Two-sample statistics for learner-randomised experiments: per-learner means, ratio metrics, always-valid tests.

The unit of randomisation is the learner (all of a learner's sessions go to one arm), so every test works on
per-learner totals -- treating the sessions of one learner as independent would understate the variance.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class Difference:
    """Treatment minus control with a 95% interval and a two-sided p-value."""

    control: float
    treatment: float
    diff: float
    lo: float
    hi: float
    p_value: float
    se: float

    @property
    def relative(self) -> float:
        return self.diff / self.control if self.control else float("nan")


def _nan_diff(c=float("nan"), t=float("nan")) -> Difference:
    nan = float("nan")
    return Difference(c, t, t - c, nan, nan, nan, nan)


def mean_difference(control, treatment) -> Difference:
    """Welch two-sample comparison of per-learner values (unequal variances; t interval): scipy's
    `ttest_ind(equal_var=False)` and its confidence interval. Identical samples give p = 1, no spread p = 0."""
    c, t = np.asarray(control, float), np.asarray(treatment, float)
    if len(c) < 2 or len(t) < 2:
        return _nan_diff(c.mean() if len(c) else float("nan"), t.mean() if len(t) else float("nan"))
    se = float(np.sqrt(c.var(ddof=1) / len(c) + t.var(ddof=1) / len(t)))
    diff = float(t.mean() - c.mean())
    if se == 0:
        return Difference(float(c.mean()), float(t.mean()), diff, diff, diff, 1.0 if diff == 0 else 0.0, 0.0)
    with warnings.catch_warnings():  # near-constant samples: scipy warns about precision, the result stands
        warnings.simplefilter("ignore", RuntimeWarning)
        test = stats.ttest_ind(t, c, equal_var=False)
        lo, hi = test.confidence_interval(0.95)
    return Difference(float(c.mean()), float(t.mean()), diff, float(lo), float(hi), float(test.pvalue), se)


def ratio_estimate(num, den) -> tuple[float, float]:
    """sum(num) / sum(den) over learners and its delta-method variance (ratio metrics such as completion rate)."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    n, mean_den = len(num), den.mean() if len(den) else 0.0
    if n < 2 or mean_den == 0:
        return float("nan"), float("nan")
    r = num.sum() / den.sum()
    cov = np.cov(num, den, ddof=1)
    var = (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (n * mean_den**2)
    return float(r), float(max(var, 0.0))


def ratio_difference(num_c, den_c, num_t, den_t) -> Difference:
    """Difference of two ratio metrics with a normal (delta-method) 95% interval and p-value."""
    rc, vc = ratio_estimate(num_c, den_c)
    rt, vt = ratio_estimate(num_t, den_t)
    if not (np.isfinite(vc) and np.isfinite(vt)):
        return _nan_diff(rc, rt)
    se = float(np.sqrt(vc + vt))
    diff = rt - rc
    if se == 0:
        return Difference(rc, rt, diff, diff, diff, 1.0 if diff == 0 else 0.0, 0.0)
    p = float(2 * stats.norm.sf(abs(diff) / se))
    return Difference(rc, rt, diff, diff - Z95 * se, diff + Z95 * se, p, se)


def msprt(diff: float, var: float, tau: float, alpha: float = 0.05) -> tuple[float, float, float]:
    """Mixture SPRT (Johari et al., 2017) for a difference of means with a N(0, tau^2) mixing prior.

    Returns (likelihood ratio, always-valid interval lo, hi) at this look; the always-valid p-value is
    min over looks so far of 1 / ratio. Valid however often one looks: stop the first time p < alpha.
    """
    if not (np.isfinite(diff) and np.isfinite(var)) or var <= 0:
        return float("nan"), float("nan"), float("nan")
    t2 = tau * tau
    log_lr = 0.5 * np.log(var / (var + t2)) + t2 * diff * diff / (2 * var * (var + t2))
    half = np.sqrt(2 * var * (var + t2) / t2 * (np.log(1 / alpha) + 0.5 * np.log((var + t2) / var)))
    return float(np.exp(min(log_lr, 700.0))), float(diff - half), float(diff + half)
