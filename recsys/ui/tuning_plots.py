"""Optuna's own views of a Tune run -- optimisation history, slice or parallel coordinates, parameter importances --
drawn from the stored study, next to the page's metric-vs-parameter plots."""

from __future__ import annotations

import optuna
import streamlit as st

from recsys.ui import plain, session


@st.cache_resource(show_spinner=False, max_entries=8)
def _study_copy(storage_path: str, name: str, trial_numbers: tuple[int, ...]) -> optuna.Study | None:
    """An in-memory study holding exactly the trials the result used (the stored study may hold more)."""
    from recsys.evaluation import studies

    try:
        stored = optuna.load_study(study_name=name, storage=studies.storage(storage_path))
    except KeyError:
        return None
    chosen = [t for t in stored.get_trials(deepcopy=True) if t.number in set(trial_numbers)]
    copy = optuna.create_study(direction=stored.direction)
    copy.add_trials(chosen)
    return copy


def study_charts(result) -> None:
    """Three charts of the run's trials; a caption when the study was not stored."""
    if not result.study_name or result.study_storage in ("", "memory"):
        st.caption("This tuning run kept its trials in memory only: no optimisation history to draw.")
        return
    study = _study_copy(result.study_storage, result.study_name, tuple(int(t) for t in result.table["trial"]))
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE] if study else []
    if len(complete) < 2:
        st.caption("Fewer than two completed trials: no optimisation history to draw.")
        return
    from optuna import visualization as V

    with session.guard("Drawing the tuning charts"):
        left, right = st.columns(2)
        history = V.plot_optimization_history(study, target_name=result.metric)
        left.plotly_chart(plain.figure(_tidy(history, f"{result.metric} by trial")), key="tune_history")
        params = [p for p in result.param_names if result.table[p].nunique() > 1]
        if len(params) >= 2:
            shape = V.plot_parallel_coordinate(study, params=params, target_name=result.metric)
            right.plotly_chart(plain.figure(_tidy(shape, "Every trial across the parameters")), key="tune_parallel")
            importances = V.plot_param_importances(study, params=params, target_name=result.metric)
            st.columns([3, 2])[0].plotly_chart(
                plain.figure(_tidy(importances, "Which parameters mattered (fANOVA importance)")), key="tune_importance"
            )
        elif params:
            shape = V.plot_slice(study, params=params, target_name=result.metric)
            right.plotly_chart(plain.figure(_tidy(shape, f"{result.metric} vs {params[0]}")), key="tune_slice")


def _tidy(fig, title: str):
    fig.update_layout(title=title, height=360, margin=dict(l=10, r=10, t=50, b=10))
    return fig
