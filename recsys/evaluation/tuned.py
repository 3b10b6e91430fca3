"""The tuning phase of a tuned comparison (nested validation): every model searched with the same budget on the
comparison's training part only, then compared on the untouched test part with what it chose.

The inner validation is the comparison's own protocol applied to the training part (`tuning.inner_split`), with
the comparison's seed, so no held-out rating is ever seen while tuning. Under `new_learners` and `new_courses` the
learners of the outer test part are never inner test learners either (under `new_learners` they are not in the
training part at all); under `holdout` and `ratio` every learner keeps training courses, and only those are used. A hybrid is not searched itself: its members are tuned once (also those not in the
comparison) and it uses their chosen parameters, learning its blend weights on its own validation split of the
training part as always.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from recsys._progress import Progress, sub_progress
from recsys.evaluation.lanes import run_jobs
from recsys.evaluation.specs import ModelSpec
from recsys.evaluation.splits import Split
from recsys.evaluation.tuning import TuningSummary, check_budget, check_sampler, inner_split, tune_on_split

HYBRID = "hybrid"
NETWORK_OWNER = "neural"  # the model whose tuned network the embedding models reuse
LEARNER_PROTOCOLS = ("new_learners", "new_courses")  # protocols whose test part is a set of learners or courses


@dataclass(frozen=True)
class TuneBudget:
    """The same budget for every model: `trials` per model and/or `minutes` per model."""

    trials: int | None = None
    minutes: float | None = None
    sampler: str = "tpe"

    def __post_init__(self):
        trials, minutes = check_budget(self.trials, self.minutes, "trials per model")
        if trials is None and minutes is None:
            raise ValueError("a tuning budget needs trials per model, minutes per model, or both")
        object.__setattr__(self, "trials", trials)
        object.__setattr__(self, "minutes", minutes)
        check_sampler(self.sampler)

    def describe(self) -> dict[str, Any]:
        return {"trials_per_model": self.trials, "minutes_per_model": self.minutes, "sampler": self.sampler}


def budget_text(info: Mapping[str, Any]) -> str:
    """'20 trials and 2 minutes' from a run's split["tuning"] (`TuneBudget.describe`)."""
    parts = []
    if info.get("trials_per_model"):
        parts.append(f"{info['trials_per_model']} trials")
    if info.get("minutes_per_model"):
        parts.append(f"{info['minutes_per_model']:g} minutes")
    return " and ".join(parts)


def hybrid_members(spec: ModelSpec) -> list[str]:
    return [key for key, _ in spec.model.chosen_members()] if spec.key == HYBRID else []


def tune_models(
    specs: list[ModelSpec],
    split: Split,
    budget: TuneBudget,
    seed: int,
    k: int,
    n_jobs: int,
    storage=None,
    progress: Progress | None = None,
) -> tuple[list[ModelSpec], dict[str, dict[str, Any]]]:
    """Tune every model of `specs` on an inner split of `split.train`; returns the specs to compare (built with
    the chosen parameters) and per spec name the tuning report (`TuningSummary.to_json()`, hybrids: members)."""
    outer_test = pd.concat([split.test["user"], *([split.fold_in["user"]] if split.fold_in is not None else [])])
    protocol = {"name": split.name, **{k_: v for k_, v in split.params.items() if k_ != "seed"}}
    params = {k_: v for k_, v in split.params.items() if k_ != "seed"}
    if split.name == "kfold" or split.name not in ("new_learners", "holdout", "ratio", "new_courses"):
        raise ValueError(f"a tuned comparison needs a named protocol, not '{split.name}'")
    # new_learners / new_courses hold out learners / courses: their outer test learners are never inner test learners.
    # holdout / ratio hold out ratings of learners who all stay in training: the held-out ratings are never seen.
    excluded = pd.unique(outer_test) if split.name in LEARNER_PROTOCOLS else ()
    inner = inner_split(split.train, split.name, params, seed, exclude_users=excluded)
    protocol["inner_test_ratings"] = int(len(inner.test))

    # What to tune: each non-hybrid spec (with the parameters its user fixed), every hybrid member once, and the
    # neural network once for the embedding models (they search only their own estimator on top of it).
    targets: dict[str, tuple[str, dict]] = {}
    for spec in specs:
        if spec.key != HYBRID:
            targets[spec.name] = (spec.key, dict(spec.given))
    for spec in specs:
        for key in hybrid_members(spec):
            if _owner(targets, key) is None:
                targets[f"{key} (hybrid member)"] = (key, {})
    if any(_network_params(key) for key, _ in targets.values()) and _owner(targets, NETWORK_OWNER) is None:
        targets[f"{NETWORK_OWNER} (network of the embedding models)"] = (NETWORK_OWNER, {})

    def job_for(name: str, fixed_extra: Mapping[str, Any] | None = None):
        key, fixed = targets[name]

        def job(report: Progress) -> TuningSummary:
            return tune_on_split(
                inner,
                key,
                budget.trials,
                budget.minutes,
                seed,
                k=k,
                sampler=budget.sampler,
                fixed={**dict(fixed_extra or {}), **fixed},
                storage=storage,
                progress=sub_progress(report, 0.0, 1.0, f"{name} tuning"),
                protocol=protocol,
            )

        return job

    from recsys.models import model_class

    first = [n for n in targets if not _network_params(targets[n][0])]
    later = [n for n in targets if n not in first]
    share = len(first) / max(1, len(targets))
    costs = [model_class(targets[n][0]).fit_cost for n in first]
    jobs = [job_for(n) for n in first]
    summaries = dict(zip(first, run_jobs(jobs, n_jobs, sub_progress(progress, 0.0, share), cost=costs)))
    shared: dict[str, dict[str, Any]] = {}
    if later:
        network = summaries[_owner(targets, NETWORK_OWNER)]
        shared = {n: _network_values(targets[n][0], network) for n in later}
        jobs = [job_for(n, shared[n]) for n in later]
        done = run_jobs(jobs, n_jobs, sub_progress(progress, share, 1.0 - share), cost=[1.0] * len(later))
        summaries.update(zip(later, done))
    reports: dict[str, dict[str, Any]] = {}
    tuned_specs: list[ModelSpec] = []
    for spec in specs:
        if spec.key == HYBRID:
            members = _member_params(spec, targets, summaries)
            reports[spec.name] = _hybrid_report(spec, members, summaries, targets)
            given = dict(spec.given)
            if "member_params" not in given and members:
                given["member_params"] = members
            tuned_specs.append(_rebuilt(spec, given, seed))
        else:
            summary = summaries[spec.name]
            network = {k_: v for k_, v in shared.get(spec.name, {}).items() if k_ not in spec.given}
            reports[spec.name] = summary.to_json()
            if network:
                reports[spec.name]["params"] = {**network, **reports[spec.name]["params"]}
                own = reports[spec.name]["note"]
                reports[spec.name]["note"] = f"{own}; network parameters from the tuned {NETWORK_OWNER} model"
            tuned_specs.append(_rebuilt(spec, {**network, **spec.given, **summary.params}, seed))
    return tuned_specs, reports


def _owner(targets, key: str) -> str | None:
    """The target tuning `key` with no parameter fixed by its user (whose choice others may reuse)."""
    return next((n for n, (k_, fixed) in targets.items() if k_ == key and not fixed), None)


def _network_params(key: str) -> tuple[str, ...]:
    from recsys.models import model_class

    return tuple(getattr(model_class(key), "network_params", ()))


def _network_values(key: str, network: TuningSummary) -> dict[str, Any]:
    """The embedding model's network parameters as the tuned neural model chose them (else its defaults)."""
    from recsys.models import model_class

    spec = model_class(key).param_spec()
    return {name: network.params.get(name, spec[name].default) for name in _network_params(key)}


def _member_params(spec: ModelSpec, targets, summaries: Mapping[str, TuningSummary]) -> dict[str, dict]:
    out = {}
    for key in hybrid_members(spec):
        name = _owner(targets, key)
        if summaries[name].params:
            out[key] = dict(summaries[name].params)
    return out


def _hybrid_report(spec, members, summaries, targets) -> dict[str, Any]:
    used = {}
    for key in hybrid_members(spec):
        used[key] = summaries[_owner(targets, key)].to_json()
    return {
        "tuned": bool(members),
        "params": {"member_params": members},
        "trials": 0,
        "pruned": 0,
        "new_trials": 0,
        "seconds": round(sum(s["seconds"] for s in used.values()), 3),
        "members": used,
        "note": "members tuned with the same budget; blend weights learned on a validation split of the training part",
    }


def _rebuilt(spec: ModelSpec, params: Mapping[str, Any], seed: int) -> ModelSpec:
    from recsys.models import make_model

    return replace(spec, model=make_model(spec.key, **{"seed": seed, **dict(params)}))
