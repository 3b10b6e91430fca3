"""Model-specific plots for the Evaluation page, drawn from what a model reports in `Recommender.diagnostics()`
(so the page never probes models with hasattr)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from recsys.ui import charts, plain, session


def draw(model, seed: int) -> int:
    """Draw the model's diagnostics; returns how many plot groups were drawn."""
    info = model.diagnostics()
    shown = 0
    if info.get("chosen_params"):
        shown += 1
        _chosen(info["chosen_params"])
    if "cluster_sizes" in info:
        shown += 1
        with session.guard("Drawing the cluster plots"):
            _clusters(model, info, seed)
    if "course_similarity" in info:
        shown += 1
        with session.guard("Drawing the course similarity"):
            _similarity(model, info)
    return shown


def _chosen(chosen: dict) -> None:
    """Parameters set to "auto": the value fit chose from this training data, and the rule it used."""
    rows = [
        {"parameter": name, "given": str(c["given"]), "used": f"{float(c['used']):.4g}", "rule": c["rule"]}
        for name, c in chosen.items()
    ]
    st.markdown("**Values chosen from the data** (parameters set to auto; a number given is used as is)")
    plain.table(pd.DataFrame(rows), hide_index=True)


def _clusters(model, info: dict, seed: int) -> None:
    left, right = st.columns(2)
    left.plotly_chart(plain.figure(charts.cluster_sizes(info["cluster_sizes"])), key="ev_sizes")
    if "explained_variance" in info:
        right.plotly_chart(plain.figure(charts.variance_ratio(info["explained_variance"])), key="ev_evr")
    if "learner_map" in info:
        rows = model.train_matrix_
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(rows.shape[0], size=min(3000, rows.shape[0]), replace=False))
        features, labels = info["learner_map"](rows[sample])
        st.plotly_chart(plain.figure(charts.learner_scatter(features, labels, seed=seed)), key="ev_scatter")


def _similarity(model, info: dict) -> None:
    n_top = st.columns([1, 2])[0].slider("Most-enrolled courses shown", 5, 40, 20, key="ev_sim_n")
    enrol = np.bincount(model.train_matrix_.indices, minlength=model.train_matrix_.shape[1])
    top = np.argsort(-enrol, kind="stable")[:n_top]
    similarity = info["course_similarity"]
    block = similarity[np.ix_(top, top)]
    block = np.asarray(block.todense() if hasattr(block, "todense") else block)
    titles = model.catalogue_["TITLE"].astype(str).to_numpy()[top].tolist()
    label = info.get("similarity_label", "similarity")
    st.plotly_chart(
        plain.figure(
            charts.similarity_heatmap(
                block, titles, f"Course similarity of the {n_top} most-enrolled courses ({label})"
            )
        ),
        key="ev_sim",
    )
