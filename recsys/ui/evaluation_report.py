"""Compare-page sections for the benchmarking questions: the split protocol inputs, each model against the
best (Holm-corrected), product KPIs, segments and new-course reach. Kept out of views/compare.py so the page
stays thin; the numbers all come from `ExperimentResult` (the CLI prints the same ones)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from recsys.evaluation.metrics import DEFAULT_HEAD_SHARE, DEFAULT_LEVEL_TARGET
from recsys.evaluation.segments import DEFAULT_ACTIVITY_BINS
from recsys.evaluation.splits import PROTOCOLS
from recsys.ui import catalogue, charts, plain, results

PROTOCOL_LABELS = {name: protocol.label for name, protocol in PROTOCOLS.items()}
PROTOCOL_HELP = (
    "New learners (default): 10% of learners are removed from training and folded in from 80% of "
    "their courses, like a learner on the Recommend page. Holdout: hide courses of known learners. "
    "Ratio: hide a share of all ratings. New courses: 10% of courses lose every training rating."
)
_KEYS = {"test_share": "cmp_test_learners", "fold_in": "cmp_fold_in", "n": "cmp_n", "min_ratings": "cmp_min"}
_KEYS |= {"test_size": "cmp_test_size", "course_share": "cmp_new_courses"}
_HELP = {
    "test_share": "Removed from training entirely (learners with >= 2 courses)",
    "fold_in": "Folded in as the learner's history; the rest is asked for",
    "min_ratings": "Learners with fewer courses stay in training only",
    "course_share": "These courses lose every training rating",
}


def split_inputs(split_column, param_columns) -> tuple[str, dict]:
    """The protocol control and its parameters, from the protocol registry (the CLI reads the same one)."""
    split = split_column.segmented_control(
        "Split",
        list(PROTOCOL_LABELS),
        default="new_learners",
        required=True,
        key="cmp_split",
        format_func=PROTOCOL_LABELS.get,
        help=PROTOCOL_HELP,
        persist_state="session",
    )
    shown = [p for p in PROTOCOLS[split].params if p.label]
    values = {}
    for column, param in zip(param_columns, shown):
        key, help_text = _KEYS[param.name], _HELP.get(param.name)
        if param.kind == "share":
            value = column.slider(
                param.label,
                param.low,
                param.high,
                param.default,
                param.step,
                key=key,
                persist_state="session",
                help=help_text,
            )
            values[param.name] = float(value)
        else:
            value = column.number_input(
                param.label,
                int(param.low),
                int(param.high),
                int(param.default),
                key=key,
                persist_state="session",
                help=help_text,
            )
            values[param.name] = int(value)
    return split, values


def tuning_inputs():
    """'Tune every model first' and its budget: the same trials (and/or minutes) for every model. Returns the
    Experiment's `tune` argument (None when off)."""
    from recsys.evaluation.tuned import TuneBudget

    with st.container(border=True):
        on = st.toggle(
            "Tune every model first",
            key="cmp_tune",
            persist_state="session",
            help="Each model's parameters are searched (Optuna, TPE, seeded) with the same budget on a validation "
            "split made from the training part only -- the test part is never seen while tuning -- and the "
            "leaderboard compares what each chose. Studies are stored, so a repeated run reuses its trials.",
        )
        if not on:
            return None
        c1, c2, _ = st.columns([1, 1, 2])
        trials = c1.number_input("Trials per model", 1, 200, 20, key="cmp_tune_trials", persist_state="session")
        minutes = c2.number_input(
            "Minutes per model (0 = no limit)", 0.0, 120.0, 0.0, 0.5, key="cmp_tune_minutes", persist_state="session"
        )
        return TuneBudget(int(trials), float(minutes) or None)


def tuning_line(message: str) -> tuple[str, str] | None:
    """Per-model progress line of a tuned comparison: ('ease', 'trial 4/20, best so far 0.6123')."""
    name, sep, rest = message.partition(" tuning: ")
    return (name, rest) if sep else None


def tuning_caption(result) -> None:
    """Say how the models were tuned, and list each model's chosen parameters (hybrids: their members')."""
    from recsys.evaluation.tuned import budget_text

    info = result.split["tuning"]
    budget = budget_text(info)
    st.caption(
        f"Every model was tuned first with the same budget ({budget} per model, {info['sampler'].upper()} sampler) "
        f"on a {info['validation']}; the test part was never seen while tuning."
    )
    rows = []
    for d in result.details.values():
        t = d.tuning or {}
        params = t.get("params") or {}
        if "member_params" in params:
            chosen = "; ".join(
                f"{catalogue.model_label(k)}: {results.params_text(v)}"
                for k, v in (params["member_params"] or {}).items()
            )
        else:
            chosen = results.params_text(params)
        rows.append(
            {
                "Model": d.label,
                "Tuned": results.tuned_text(t),
                "Chosen parameters": chosen or "defaults",
                "Trials": int(t.get("trials") or 0),
                "Pruned": int(t.get("pruned") or 0),
                "Tuning time (s)": round(float(t.get("seconds") or 0.0), 1),
            }
        )
    with st.expander("Tuned parameters per model", icon=":material/tune:"):
        plain.table(pd.DataFrame(rows), hide_index=True)
        st.caption(
            "One-standard-error rule: the best trial replaces the defaults only when it beats them by more than one "
            'standard error (paired over the validation learners); otherwise the defaults are kept ("defaults kept").'
        )


def report_options() -> dict:
    """Segment and KPI settings; the defaults are the evaluation library's (as for the CLI)."""
    with st.expander("Segments, KPI targets and pairwise tests", icon=":material/tune:"):
        c1, c2, c3, c4 = st.columns([2, 1, 2, 1])
        bins = c1.text_input(
            "Activity segment upper bounds",
            ",".join(f"{b:g}" for b in DEFAULT_ACTIVITY_BINS),
            key="cmp_bins",
            persist_state="session",
            help="Training courses per learner: 1,3,10 gives 1, 2-3, 4-10, >10",
        )
        head = c2.number_input(
            "Head share",
            0.05,
            0.95,
            DEFAULT_HEAD_SHARE,
            0.05,
            key="cmp_head",
            persist_state="session",
            help="Head courses hold this share of all enrolments; the rest is niche",
        )
        target = c3.text_input(
            "Target level mix (Beginner, Intermediate, Advanced)",
            ",".join(f"{100 * v:g}" for v in DEFAULT_LEVEL_TARGET),
            key="cmp_target",
            persist_state="session",
        )
        pairs = c4.segmented_control(
            "Pairs",
            ["best", "all"],
            default="best",
            required=True,
            key="cmp_pairs",
            persist_state="session",
            help="best: each model vs the best; all: every pair",
        )
    return {
        "activity_bins": _numbers(bins, "Activity segment upper bounds"),
        "head_share": float(head),
        "level_target": _numbers(target, "Target level mix"),
        "pairs": pairs,
    }


def _numbers(text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{what}: expected comma-separated numbers, got '{text}'") from None


def corrected_comparison(result, metric: str) -> None:
    """Each model against the best on `metric` (and every pair when the run asked for it)."""
    labels = {n: d.label for n, d in result.details.items()}
    plain.table(results.vs_best_frame(result.vs_best(), metric, labels), hide_index=True)
    n_other = max(len(result.details) - 1, 0)
    st.caption(
        f"Paired per-learner differences to the best model on the same test learners: 95% bootstrap interval, "
        f"Wilcoxon signed-rank p, and Holm-adjusted p over the {n_other} comparisons with the best. Effect size "
        "= difference relative to the best model's mean. Tied with best = Holm p >= 0.05."
    )
    if result.pairs == "all" and len(result.details) > 2:
        with st.expander("Every pair (Holm-adjusted over all pairs)", icon=":material/compare_arrows:"):
            plain.table(results.pairs_frame(result.all_pairs(), metric, labels), hide_index=True)


def kpis(result) -> None:
    """Product KPI table next to the leaderboard."""
    frame = results.kpi_frame(result.kpi_table, result.k)
    narrow = {c: st.column_config.Column(width="small") for c in frame.columns if c != "Model"}
    plain.table(frame, hide_index=True, column_config=narrow)  # ten columns fit 1400 px without scrolling
    target = "/".join(f"{v:.0%}" for v in result.split["level_target"].values())
    st.caption(
        f"Over every test learner's top-{result.k} list. Targets: niche share >= 25% (niche = outside the "
        f"{result.split['head_courses']} head courses holding {result.split['head_share']:.0%} of enrolments), "
        f"about 6 distinct genres per list (Genres/list), level mix {target} (Level gap: distance to it, 0 = on "
        "target). Courses shown: distinct courses recommended to anyone. Lower exposure Gini = exposure spread "
        "more evenly over the catalogue; lower Popularity pct (mean popularity percentile) = less mainstream "
        "lists."
    )


def segments(result, metric: str) -> None:
    """Leaderboard by learner-activity and course-popularity segment: a table and small multiples."""
    table = result.segment_table
    if table.empty:
        st.caption("No segments for this run.")
        return
    shown = results.segment_display(table, metric)
    narrow = {c: st.column_config.Column(width="small") for c in shown.columns if c != "Model"}
    plain.table(shown, hide_index=True, column_config=narrow)
    st.plotly_chart(plain.figure(charts.segment_small_multiples(table, metric)), key="cmp_segments")
    st.caption(
        "Columns: learners by their number of training (fold-in) courses, then by whether the held-out course is a "
        "head or a tail (niche) course; (n) = learners. Each learner is scored against the held-out courses of that "
        "segment."
    )


def new_courses(result) -> None:
    """Under the new_courses split: which models can surface a brand-new course."""
    frame = results.new_course_frame(result.details)
    if frame.empty:
        return
    st.subheader("New courses")
    plain.table(frame, hide_index=True)
    st.caption(
        f"{len(result.split.get('new_courses', []))} courses had every training rating removed. A model can "
        "recommend new courses only when its scores for them vary across learners or across the courses; a "
        "constant or -inf score cannot place them. Reach = share of the new courses listed to anyone."
    )
    table = result.new_course_table
    if table.empty:
        return
    st.plotly_chart(plain.figure(charts.new_course_reach(table)), key="cmp_new_course_reach")
    plain.table(results.per_new_course_frame(table), hide_index=True, key="cmp_new_course_table")
    st.caption(
        f"Per new course: Takers = test learners who took it (held out); per model, how many of them got it "
        f"in their top-{result.k} (share of takers)."
    )
