"""Display tables for experiment and tuning results (formatting only; the numbers come from recsys.evaluation)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from recsys.evaluation.metrics import LOWER_IS_BETTER


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def tuned_text(tuning) -> str:
    """A model's `tuning` record in words: 'yes', 'defaults kept' (the search did not beat the defaults beyond one
    standard error), 'its members' (a hybrid) or 'no (defaults)'."""
    if "members" in tuning:
        return "its members"
    if not tuning.get("tuned"):
        return "no (defaults)"
    return "defaults kept" if tuning.get("choice") == "defaults" else "yes"


def leaderboard_frame(
    table: pd.DataFrame, metrics: list[str], sort_by: str, tied: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """One row per model: label, parameters, each metric as 'value [lo, hi]' ('n/a' when not applicable), timings.

    Sorted best first by `sort_by` (lower is better for rmse/mae); NaN last. `tied` (name -> best/yes/no, see
    `tied_labels`) adds the "Tied with best" column next to the model.
    """
    ascending = sort_by in LOWER_IS_BETTER
    ordered = table.sort_values(sort_by, ascending=ascending, kind="stable", na_position="last")
    out = pd.DataFrame({"Model": ordered["label"].to_numpy()})
    if tied is not None:
        out["Tied with best"] = [tied.get(n, "n/a") for n in ordered["name"]]
    first = [m for m in metrics if m.startswith(sort_by.split("@")[0])]
    for metric in first + [m for m in metrics if m not in first]:
        values = ordered[metric].to_numpy(dtype=float)
        lo = ordered.get(f"{metric}_lo", pd.Series(np.nan, index=ordered.index)).to_numpy(dtype=float)
        hi = ordered.get(f"{metric}_hi", pd.Series(np.nan, index=ordered.index)).to_numpy(dtype=float)
        out[metric] = [
            "n/a"
            if not np.isfinite(v)
            else (f"{v:.3f} [{a:.3f}, {b:.3f}]" if np.isfinite(a) and np.isfinite(b) else f"{v:.3f}")
            for v, a, b in zip(values, lo, hi)
        ]
    out["Fit (s)"] = ordered["fit_seconds"].round(2).to_numpy()
    out["Recommend (ms/learner)"] = ordered["recommend_ms"].round(3).to_numpy()
    out["Learners"] = ordered["n_learners"].to_numpy()
    out["Parameters"] = ordered["params"].replace("", "defaults").to_numpy()
    if "tuned" in ordered:  # a tuned comparison: what each model was tuned to, from how many trials, how long
        choices = ordered["tuned_choice"] if "tuned_choice" in ordered else [""] * len(ordered)
        tuned = [tuned_text({"tuned": t, "choice": c}) for t, c in zip(ordered["tuned"], choices)]
        out.insert(2 if tied is not None else 1, "Tuned", tuned)
        out["Trials (pruned)"] = [f"{int(t)} ({int(p)})" for t, p in zip(ordered["trials"], ordered["pruned"])]
        out["Tuning (s)"] = ordered["tuning_seconds"].round(1).to_numpy()
    return out


def paired_summary(result, name_a: str, name_b: str, label_a: str, label_b: str, metric: str) -> str:
    """One paragraph reading a PairedTestResult for a reviewer."""
    if result.n == 0:
        return f"No learner has a {metric} value for both models."
    lower = metric.split("@")[0] in LOWER_IS_BETTER
    lo, hi = result.ci
    diff = result.mean_diff
    if lo > 0 or hi < 0:
        better = label_a if (diff > 0) != lower else label_b
        verdict = f"**{better}** is better: the 95% interval of the difference excludes 0"
    else:
        verdict = "No clear difference: the 95% interval of the difference includes 0"
    return (
        f"{verdict}. Mean {metric} difference ({label_a} - {label_b}) = **{diff:+.4f}** "
        f"[{lo:+.4f}, {hi:+.4f}] over {result.n:,} learners; Wilcoxon {p_phrase(result.p_value)}, "
        f"paired-bootstrap {p_phrase(result.p_bootstrap)}."
    )


def tune_table(table: pd.DataFrame, param_names: list[str], metric: str) -> pd.DataFrame:
    """TuneResult.table ordered by rank with readable column names."""
    cols = ["rank", *param_names, "mean", "std", *[c for c in table.columns if c.startswith("fold_")], "fit_seconds"]
    out = table[cols].sort_values("rank", kind="stable").reset_index(drop=True)
    return out.rename(columns={"rank": "Rank", "mean": f"{metric} (mean)", "std": "std", "fit_seconds": "Fit (s)"})


def params_text(params: Mapping[str, Any]) -> str:
    return (
        ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in params.items()) or "defaults"
    )


def top_lists(
    models: Mapping[str, Any], history, k: int, titles: Mapping[str, str]
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Side-by-side top-k titles of several fitted models for one learner history, plus the id lists."""
    lists, columns = {}, {}
    for name, model in models.items():
        recs = model.recommend(history, k=k)
        ids = recs["COURSE_ID"].astype(str).tolist()
        lists[name] = ids
        columns[name] = [titles.get(i, i) for i in ids] + [""] * (k - len(ids))
    frame = pd.DataFrame(columns, index=pd.RangeIndex(1, k + 1, name="Rank"))
    return frame, lists


def history_metrics(history, run_ids, metric: str) -> pd.DataFrame:
    """Long table (run, created_at, split, model, params, value) of `metric` (or product KPI) for stored runs."""
    rows = []
    for run_id in run_ids:
        run = history.load_run(int(run_id))
        for r in run.get("results", []):
            value = {**(r.get("metrics") or {}), **(r.get("kpis") or {})}.get(metric)
            if value is not None:
                rows.append(
                    {
                        "run": int(run_id),
                        "created_at": run.get("created_at"),
                        "split": (run.get("split") or {}).get("name"),
                        "model": r.get("label") or r.get("name"),
                        "params": ", ".join(f"{k}={v}" for k, v in (r.get("params") or {}).items()),
                        "value": float(value),
                    }
                )
    return pd.DataFrame(rows, columns=["run", "created_at", "split", "model", "params", "value"])


def history_metric_names(history, run_ids) -> list[str]:
    names: list[str] = []
    for run_id in run_ids:
        for r in history.load_run(int(run_id)).get("results", []):
            for m in [*(r.get("metrics") or {}), *(r.get("kpis") or {})]:
                if m not in names:
                    names.append(m)
    return names


# ----- corrected comparison, product KPIs, segments (issue 13) ----------------------------------------
# Short headers so the KPI table fits a 1400 px window; the caption under the table explains each one.
KPI_LABELS = {
    "niche_share": "Niche share",
    "level_beginner": "Beginner",
    "level_intermediate": "Intermediate",
    "level_advanced": "Advanced",
    "level_distance": "Level gap",
    "distinct_genres": "Genres/list",
    "aggregate_diversity": "Courses shown",
    "exposure_gini": "Exposure Gini",
    "popularity_percentile": "Popularity pct",
}
_KPI_DIGITS = {"aggregate_diversity": 0, "popularity_percentile": 1, "distinct_genres": 2}


def p_phrase(value) -> str:
    """'p < 0.001' / 'p = 0.042' for prose: a p-value is never shown as 'p = 0'."""
    text = p_text(value)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def p_text(value) -> str:
    """A p-value for a table: '<0.001' rather than zeros, 'n/a' when missing."""
    if value is None or not np.isfinite(value):
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def tied_labels(vs_best: pd.DataFrame, metric: str) -> dict[str, str]:
    """name -> 'best' / 'yes' / 'no' for the "Tied with best" column of `metric`."""
    rows = vs_best[vs_best["metric"] == metric]
    return {r.name: "best" if r.name == r.best else ("yes" if r.tied_with_best else "no") for r in rows.itertuples()}


def vs_best_frame(vs_best: pd.DataFrame, metric: str, labels: Mapping[str, str]) -> pd.DataFrame:
    """Each model against the best on `metric`: difference with interval, effect size, p, Holm p, tied."""
    rows = vs_best[vs_best["metric"] == metric].sort_values("mean", ascending=False, kind="stable")
    return pd.DataFrame(
        {
            "Model": [labels.get(n, n) for n in rows["name"]],
            metric: [_fmt(v, 4) for v in rows["mean"]],
            "Difference to best [95% CI]": [
                "best"
                if n == b
                else f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]"
                if np.isfinite(lo) and np.isfinite(hi)
                else f"{d:+.4f}"
                for n, b, d, lo, hi in zip(rows["name"], rows["best"], rows["mean_diff"], rows["ci_lo"], rows["ci_hi"])
            ],
            "Effect size": [
                "" if n == b else ("n/a" if not np.isfinite(e) else f"{e:+.1%}")
                for n, b, e in zip(rows["name"], rows["best"], rows["effect_size"])
            ],
            "Wilcoxon p": ["" if n == b else p_text(p) for n, b, p in zip(rows["name"], rows["best"], rows["p_value"])],
            "Holm p": ["" if n == b else p_text(p) for n, b, p in zip(rows["name"], rows["best"], rows["p_holm"])],
            "Tied with best": [
                "best" if n == b else ("yes" if t else "no")
                for n, b, t in zip(rows["name"], rows["best"], rows["tied_with_best"])
            ],
            "Learners": rows["n"].to_numpy(),
        }
    )


def pairs_frame(pairs: pd.DataFrame, metric: str, labels: Mapping[str, str]) -> pd.DataFrame:
    """Every pair on `metric` (A - B), Holm-adjusted over all pairs."""
    rows = pairs[pairs["metric"] == metric]
    return pd.DataFrame(
        {
            "Model A": [labels.get(n, n) for n in rows["a"]],
            "Model B": [labels.get(n, n) for n in rows["b"]],
            "A - B [95% CI]": [
                f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]" if np.isfinite(lo) and np.isfinite(hi) else f"{d:+.4f}"
                for d, lo, hi in zip(rows["mean_diff"], rows["ci_lo"], rows["ci_hi"])
            ],
            "Effect size (vs B)": ["n/a" if not np.isfinite(e) else f"{e:+.1%}" for e in rows["effect_size"]],
            "Wilcoxon p": [p_text(p) for p in rows["p_value"]],
            "Holm p": [p_text(p) for p in rows["p_holm"]],
            "Significant": ["yes" if s else "no" for s in rows["significant"]],
        }
    )


def kpi_frame(kpi_table: pd.DataFrame, k: int) -> pd.DataFrame:
    """One row per model, each product KPI with a readable header and sensible rounding."""
    out = pd.DataFrame({"Model": kpi_table["label"].to_numpy()})
    for column in kpi_table.columns[2:]:
        base = column.split("@")[0]
        digits = _KPI_DIGITS.get(base, 3)
        out[KPI_LABELS.get(base, base)] = [_fmt(v, digits) for v in kpi_table[column]]
    return out


def segment_display(segment_table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Models as rows, segments as columns (headed with their learner counts): `metric`'s mean per segment.
    Six segments fit a 1400 px page; sixteen model columns scrolled sideways."""
    if segment_table.empty:
        return pd.DataFrame()
    counts = segment_table.drop_duplicates(["kind", "segment"]).set_index(["kind", "segment"])["n_learners"]
    wide = segment_table.pivot_table(
        index="label", columns=["kind", "segment"], values=metric, sort=False, dropna=False
    )
    wide = wide.reindex(index=list(dict.fromkeys(segment_table["label"])), columns=counts.index)
    out = pd.DataFrame({"Model": wide.index})
    for (kind, seg), n in counts.items():
        name = f"{seg} course{'' if seg == '1' else 's'}" if kind == "activity" else f"{seg} course"
        out[f"{name} ({int(n):,})"] = [_fmt(v, 3) for v in wide[(kind, seg)]]
    return out


def new_course_frame(details: Mapping[str, Any]) -> pd.DataFrame:
    """Per model under the new_courses split: can it score a new course, and how far do new courses reach."""
    rows = [
        {
            "Model": d.label,
            "New courses": "can recommend" if d.new_courses["can_recommend"] else "cannot recommend new courses",
            "Courses reaching a taker": sum(1 for r in d.new_courses.get("per_course", []) if r["reached"] > 0),
            "Reach (share of new courses listed to anyone)": _fmt(d.new_courses["reach"], 3),
            "Learners shown a new course": d.new_courses["learners_shown_a_new_course"],
        }
        for d in details.values()
        if d.new_courses is not None
    ]
    return pd.DataFrame(rows)


def per_new_course_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The per-course table (`ExperimentResult.new_course_table`) wide: one row per new course (most taken
    first, as the chart), its takers, and per model "reached (share of takers)" (the CLI prints the counts)."""
    if table.empty:
        return pd.DataFrame()
    first = table[table["name"] == table["name"].iloc[0]].sort_values("takers", ascending=False, kind="stable")
    out = pd.DataFrame(
        {"Course": first["course"].to_numpy(), "Title": first["title"].to_numpy(), "Takers": first["takers"].to_numpy()}
    )
    for (_name, label), rows in table.groupby(["name", "label"], sort=False):
        rows = rows.set_index("course").reindex(out["Course"])
        out[label] = [
            f"{int(r)} ({s:.0%})" if np.isfinite(s) else f"{int(r)}"
            for r, s in zip(rows["reached"], rows["reached_share"])
        ]
    return out


def failed_models_note(result) -> None:
    """Models of a comparison that failed, each with its reason (the others' results are shown as usual)."""
    failures = getattr(result, "failures", None) or {}
    if not failures:
        return
    import streamlit as st

    from recsys.ui.plain import md

    lines = [f"- **{md(f.get('label') or name)}**: {md(f.get('error', ''))}" for name, f in failures.items()]
    st.warning(
        f"{len(failures)} model(s) could not be evaluated and are not in these results:\n" + "\n".join(lines),
        icon=":material/error:",
    )


def protocol_label(name: str) -> str:
    """'new_learners' -> 'New learners' (the name itself for a protocol without a label, e.g. 'kfold')."""
    from recsys.evaluation.splits import PROTOCOLS

    return PROTOCOLS[name].label if name in PROTOCOLS else {"kfold": "K-fold (tuning)"}.get(name, str(name))


def split_words(name: str, params: Mapping[str, Any] | None = None, *, with_protocol: bool = True) -> str:
    """A split in words for a page: 'New learners (share of learners held out 10%, ...)', not its repr."""
    from recsys.evaluation.splits import PROTOCOLS

    protocol = PROTOCOLS.get(str(name))
    if protocol is None:
        return str(name)
    params = dict(params or {})
    parts = []
    for p in protocol.params:
        if p.name not in params:
            continue
        value = params[p.name]
        label = (p.label or p.help.split(" (default")[0]).lower()
        is_share = isinstance(value, float) and 0 < value < 1 and p.kind in ("share", "count_or_share")
        parts.append(f"{label} {value:.0%}" if is_share else f"{label} {value:g}")
    if not with_protocol:
        return ", ".join(parts)
    return protocol.label + (f" ({', '.join(parts)})" if parts else "")


_SPLIT_REPR = __import__("re").compile(r"^(\w+)\((.*)\)$")


def _split_from_repr(text: str) -> str:
    """'new_learners(test_share=0.1, fold_in=0.8, min_ratings=2, seed=0)' -> words (seed left out)."""
    match = _SPLIT_REPR.match(str(text or ""))
    if not match:
        return str(text or "")
    params: dict[str, Any] = {}
    for item in match.group(2).split(","):
        key, _, value = item.strip().partition("=")
        try:
            params[key] = float(value) if "." in value else int(value)
        except ValueError:
            params[key] = value
    params.pop("seed", None)
    return split_words(match.group(1), params, with_protocol=False)


def runs_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """The run history as a page shows it: readable headers, times to the minute, splits in words."""

    when = pd.to_datetime(runs["created_at"], errors="coerce", utc=True)
    shown = pd.DataFrame(
        {
            "Run": runs["id"],
            "When (UTC)": [t.strftime("%Y-%m-%d %H:%M") if t is not pd.NaT and t == t else "" for t in when],
            "Kind": runs["kind"].str.capitalize(),
            "Dataset": runs["dataset"],
            "Protocol": [protocol_label(p) if p else "" for p in runs["protocol"]],
            "Split parameters": [_split_from_repr(s) for s in runs["split"]],
            "K": runs["k"],
            "Seed": runs["seed"],
            "Models": runs["models"].fillna(""),
            "Summary": runs["summary"].fillna(""),
        }
    )
    return shown
