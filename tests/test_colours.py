"""One stable colour per model across every chart (issue 24, item 7): 16 models, 16 distinct colours, and the
same model in the same colour on the leaderboard bars, timings, segments, KPIs, distributions, exposure and the
run-history lines."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from recsys.models import MODEL_KEYS, REGISTRY
from recsys.ui import charts, colours, plain


def test_every_registry_model_has_its_own_colour_dash_and_symbol_pair():
    looks = [colours.style(k) for k in MODEL_KEYS]
    assert len({s["color"] for s in looks}) == len(MODEL_KEYS) == 16
    assert len({(s["dash"], s["symbol"]) for s in looks}) == len(MODEL_KEYS)
    for key in MODEL_KEYS:  # a key, its label, its label with parameters and a second copy are one model
        label = REGISTRY[key].label or key
        assert colours.colour(label) == colours.colour(f"{label} (seed=3)") == colours.colour(f"{key}#2")
        assert colours.colour(label) == colours.colour(key)
    assert colours.colour("equal exposure") is None and colours.colour("target") is None


@pytest.fixture(scope="module")
def result(small_dataset):
    from recsys.evaluation import Experiment

    models = ["popularity", "ease", "user_profile", "course_similarity", "rp3beta"]
    return Experiment(small_dataset, "new_learners", models, k=5, n_resamples=0).run()


def _colours_by_model(fig, seen: dict[str, set]) -> None:
    for trace in fig.data:
        name = trace.name
        if colours.model_index(name) is not None:
            look = trace.marker.color if trace.type in ("bar", "histogram") else trace.line.color
            seen[MODEL_KEYS[colours.model_index(name)]].add(look)
        elif trace.type == "bar" and isinstance(trace.marker.color, tuple):
            for category, colour in zip(trace.y if trace.orientation == "h" else trace.x, trace.marker.color):
                seen[MODEL_KEYS[colours.model_index(category)]].add(colour)


def test_one_colour_per_model_across_charts(result):
    table = result.table
    k = result.k
    exposure = {d.label: np.bincount(d.top[d.top >= 0], minlength=40) for d in result.details.values()}
    runs = pd.DataFrame(
        [
            {"run": r, "model": d.label, "value": v, "created_at": "", "split": "", "params": ""}
            for r, v in ((1, 0.3), (2, 0.4))
            for d in result.details.values()
        ]
    )
    figures = [
        charts.metric_bars(table, f"ndcg@{k}", f"ndcg@{k}_lo", f"ndcg@{k}_hi", label="label"),
        charts.timing_bars(table),
        charts.segment_small_multiples(result.segment_table, f"ndcg@{k}"),
        charts.kpi_small_multiples(result.kpi_table, k),
        charts.per_learner_distribution(result.details, f"ndcg@{k}"),
        charts.exposure_lorenz(exposure),
        charts.runs_metric_chart(runs, f"ndcg@{k}"),
    ]
    seen: dict[str, set] = defaultdict(set)
    for fig in figures:
        _colours_by_model(plain.figure(fig), seen)
    assert set(seen) == set(result.details), seen
    for key, found in seen.items():
        assert found == {colours.colour(key)}, (key, found)
    assert len({next(iter(c)) for c in seen.values()}) == len(seen)  # and no two models share one
