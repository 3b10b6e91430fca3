"""The Recommend page's model panel: pick a model and its parameters, train it through the model store, and
remember which trained model the list below shows (`rec_active`: key, parameters, dataset, a note)."""

from __future__ import annotations

import streamlit as st

from recsys.models import MODEL_KEYS
from recsys.ui import catalogue, long_task, session, widgets

ACTIVE = "rec_active"


def _activate(model_key: str, params: dict, dataset, note: str) -> dict:
    active = st.session_state[ACTIVE] = {
        "key": model_key,
        "params": dict(params),
        "fp": dataset.fingerprint,
        "note": note,
    }
    return active


def model_panel(dataset) -> tuple[str | None, dict, dict | None]:
    """Draw the model picker, its parameters and Train model; returns (chosen key, chosen parameters, the
    active model: what the list shows, or None before any training)."""
    ss = st.session_state
    m1, m2 = st.columns([1, 2])
    with m1:
        model_key = widgets.model_picker("Model", "rec_model", list(MODEL_KEYS))
        if model_key:
            st.caption(catalogue.model_description(model_key))
    with m2:
        params = widgets.hyperparam_inputs(model_key, "rec") if model_key else {}

    active = ss.get(ACTIVE)
    train_clicked = st.button(
        "Train model", type="primary", key="rec_train", icon=":material/model_training:", disabled=not model_key
    )
    chosen_is_shown = active and (active["key"], active["params"], active["fp"]) == (
        model_key,
        params,
        dataset.fingerprint,
    )
    if model_key and not train_clicked and not chosen_is_shown:
        # Picking a model (or settings) this server has already trained shows it at once: no Train click.
        if session.model_store().in_memory(dataset, model_key, params, quiet=True) is not None:
            active = _activate(model_key, params, dataset, "already trained in this server")
    # Always drawn, even empty: elements below keep their place in the page between reruns, so the browser
    # does not remount them (a remounted slider loses keyboard focus after each change).
    with st.container():
        if train_clicked and _train(dataset, model_key, params):
            active = ss[ACTIVE]
    return model_key, params, active


def _train(dataset, model_key: str, params: dict) -> bool:
    """Fetch (train, load or reuse) the chosen model in a status box; True when it became the active model."""
    label = catalogue.model_label(model_key)
    notes = {
        "trained": None,
        "disk": "loaded a saved model (same data and parameters)",
        "memory": "already trained in this server",
    }

    def trained(fetched) -> str:
        model, source = fetched
        took = getattr(model, "fit_seconds_", 0.0)
        note = notes[source] or f"trained in {took:.1f} s"
        _activate(model_key, params, dataset, note)
        return f"{label}: {note}"

    return bool(
        long_task.run(
            f"Training {label} ...",
            lambda progress: session.model_store().fetch(
                dataset,
                model_key,
                params,
                notify=lambda note: st.warning(note, icon=":material/gpp_maybe:"),
                progress=progress,
            ),
            what=f"Training {label}",
            hint="Check the parameters, or pick another model.",
            done=trained,
        )
    )
