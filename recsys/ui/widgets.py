"""Streamlit widgets generated from declarations: one function turns any model's `hyperparams` into inputs."""

from __future__ import annotations

from typing import Any

import streamlit as st

from recsys.models import MODEL_KEYS, REGISTRY
from recsys.models.params import AUTO, HyperParam
from recsys.ui.catalogue import model_label


def pretty(name: str) -> str:
    """'n_neighbours' -> 'Number of neighbours', 'implicit_alpha' -> 'Implicit alpha'."""
    if name.startswith("n_"):
        name = "number_of_" + name[2:]
    return name.replace("_", " ").capitalize()


def param_key(prefix: str, model_key: str, name: str) -> str:
    """Session-state key of a hyperparameter widget (Tune writes these to hand parameters to Recommend)."""
    return f"{prefix}.{model_key}.{name}"


def _float_format(p: HyperParam) -> str:
    step = p.step or 0.0
    if p.log or (step and step < 0.001):
        return "%g"  # sprintf.js: shortest form, e.g. 0.0001 or 1e-05
    if step and step < 0.01:
        return "%.3f"
    return "%.2f"


def auto_key(key: str) -> str:
    """Session-state key of the "auto" toggle next to a parameter that can be chosen from the data."""
    return f"{key}.auto"


def hyperparam_input(p: HyperParam, key: str, container=None) -> Any:
    """One widget for one HyperParam (kind, range, step, choices, help); the value persists in the session.

    A parameter with an auto rule gets an "auto" toggle above its number (on by default when the default is
    "auto"); while it is on, the value is "auto" and the number is greyed out."""
    c = container or st
    if p.allows_auto:
        box = c.container()
        seeded_auto = auto_key(key) in st.session_state
        auto = box.toggle(
            f"{pretty(p.name)}: auto",
            **({} if seeded_auto else {"value": p.is_auto(p.default)}),
            key=auto_key(key),
            help=f"Chosen from the data when fitting: {p.auto}. Off = use the number below exactly.",
            persist_state="session",
        )
        number = _number_input(p, key, box, disabled=auto)
        return AUTO if auto else number
    return _number_input(p, key, c)


def _number_input(p: HyperParam, key: str, c, disabled: bool = False) -> Any:
    label = pretty(p.name)
    seeded = key in st.session_state  # value set earlier (by the user or by Tune): don't also pass a default
    common = dict(key=key, help=p.help or None, persist_state="session")
    if disabled:
        common["disabled"] = True
    if p.kind == "bool":
        return c.toggle(label, **({} if seeded else {"value": bool(p.default)}), **common)
    if p.kind == "choice":
        choices = list(p.choices)
        index = choices.index(p.default) if p.default in choices else 0
        return c.selectbox(label, choices, **({} if seeded else {"index": index}), **common)
    default = p.typical()  # a number also for a parameter whose default is "auto"
    if p.kind == "int":
        lo = int(p.low) if p.low is not None else None
        hi = int(p.high) if p.high is not None else None
        step = int(p.step or 1)
        if lo is not None and hi is not None and (hi - lo) / step <= 100:
            return c.slider(label, lo, hi, **({} if seeded else {"value": int(default)}), step=step, **common)
        return c.number_input(
            label, min_value=lo, max_value=hi, **({} if seeded else {"value": int(default)}), step=step, **common
        )
    lo = float(p.low) if p.low is not None else None
    hi = float(p.high) if p.high is not None else None
    if lo is not None and hi is not None and p.step and not p.log and (hi - lo) / p.step <= 200:
        return c.slider(
            label,
            lo,
            hi,
            **({} if seeded else {"value": float(default)}),
            step=float(p.step),
            format=_float_format(p),
            **common,
        )
    step = float(p.step) if p.step else (float(default) / 10 if default else 0.01)
    return c.number_input(
        label,
        min_value=lo,
        max_value=hi,
        **({} if seeded else {"value": float(default)}),
        step=step,
        format=_float_format(p),
        **common,
    )


def changed_params(model_key: str, values: dict[str, Any]) -> dict[str, Any]:
    """The values that differ from the declared defaults: what the user set (a tuned comparison searches the rest;
    the numbers are the same either way, since unset parameters take their defaults)."""
    spec = REGISTRY[model_key].param_spec()
    return {name: v for name, v in values.items() if name not in spec or spec[name].default != v}


def hyperparam_inputs(model_key: str, prefix: str, columns: int = 2) -> dict[str, Any]:
    """Widgets for every declared hyperparameter of `model_key`; returns name -> value.

    Parameters that change the ranked list come first; those that only change predicted ratings (role
    "rating") are grouped in a box that says so, so nobody tunes them expecting another list.
    """
    params = [p for p in REGISTRY[model_key].hyperparams if p.kind != "mapping"]  # set by code, not by hand
    if not params:
        st.caption("This model has no parameters.")
        return {}
    ranking = [p for p in params if p.role != "rating"]
    rating_only = [p for p in params if p.role == "rating"]
    values = _laid_out(ranking, model_key, prefix, columns, {})
    if rating_only:
        with st.container(border=True):  # not an expander: pages may already hold these inputs in one
            st.caption(
                "**Predicted ratings only** -- these parameters change predicted ratings (RMSE/MAE), "
                "not the ranked list"
            )
            values.update(_laid_out(rating_only, model_key, prefix, columns, values))
    return {p.name: values[p.name] for p in params}


def applies(model_key: str, name: str, chosen: dict[str, Any]) -> bool:
    """Whether parameter `name` is used given the values `chosen` for the others (a value, or a list of values
    that may be tried). Models declare `param_conditions = {name: (other parameter, values it is used for)}`,
    e.g. n_estimators only with a tree estimator; a parameter without a condition always applies."""
    cls = REGISTRY[model_key]
    condition = getattr(cls, "param_conditions", {}).get(name)
    if not condition:
        return True
    other, allowed = condition
    value = chosen.get(other, cls.param_spec()[other].default)
    values = value if isinstance(value, (list, tuple, set)) else [value]
    return any(v in allowed for v in values)


def _laid_out(
    params: list[HyperParam], model_key: str, prefix: str, columns: int, known: dict[str, Any]
) -> dict[str, Any]:
    """Widgets for `params` in columns; a parameter that does not apply to the values chosen so far is not
    shown (it keeps its last value, or its default)."""
    if not params:
        return {}
    cols = st.columns(min(columns, len(params)))
    values, shown = {}, 0
    for p in params:
        key = param_key(prefix, model_key, p.name)
        if not applies(model_key, p.name, {**known, **values}):
            auto = p.allows_auto and st.session_state.get(auto_key(key), p.is_auto(p.default))
            values[p.name] = AUTO if auto else st.session_state.get(key, p.typical())
            continue
        values[p.name] = hyperparam_input(p, key, cols[shown % len(cols)])
        shown += 1
    return values


def set_params(prefix: str, model_key: str, params: dict[str, Any]) -> None:
    """Put parameter values into the widgets of `prefix` (e.g. Tune -> Recommend); "auto" switches a
    parameter's auto toggle on, a number switches it off and fills the number in."""
    spec = REGISTRY[model_key].param_spec()
    for name, value in params.items():
        key = param_key(prefix, model_key, name)
        p = spec.get(name)
        if p is not None and p.allows_auto:
            st.session_state[auto_key(key)] = p.is_auto(value)
            if p.is_auto(value):
                continue
        st.session_state[key] = value


def runnable_models(models: list[str] | None = None, *, note: bool = True) -> list[str]:
    """The models (default: the registry) that can run on this server; the others are never offered, and with
    `note` a caption says which are missing, why, and the command that installs them."""
    from recsys.models import available_models

    wanted = list(models) if models is not None else list(MODEL_KEYS)
    infos = {i.key: i for i in available_models()}
    missing = [infos[m] for m in wanted if m in infos and not infos[m].available]
    if note and missing:
        from recsys.ui.plain import md

        st.caption(
            "Not available on this server: "
            + "; ".join(f"{md(model_label(i.key).split(' -- ')[0])} ({md(i.note)})" for i in missing),
        )
    return [m for m in wanted if m not in infos or infos[m].available]


def model_picker(label: str, key: str, models: list[str] | None = None, default: str | None = None) -> str | None:
    """Selectbox over the registry models that can run here, labelled by their display names."""
    models = runnable_models(models, note=False)
    if not models:
        st.warning("No model can be loaded right now.")
        return None
    if key in st.session_state and st.session_state[key] not in models:
        del st.session_state[key]
    kwargs = {} if key in st.session_state else {"index": models.index(default) if default in models else 0}
    return st.selectbox(label, models, format_func=model_label, key=key, persist_state="session", **kwargs)


def learner_picker(dataset, key: str) -> tuple[dict[str, float], str]:
    """Choose one learner: the courses picked on Recommend, a persona, or a learner of the dataset.

    Returns (history course id -> rating, description); an empty history if nothing usable was chosen.
    """
    from recsys.stories.personas import PERSONAS, persona_history

    learner = st.session_state.get("rec_learner")
    picked = (
        learner.combined(dataset.rating_scale)
        if learner is not None and learner.fingerprint == dataset.fingerprint
        else {}
    )
    options = (["picked"] if picked else []) + [p.key for p in PERSONAS] + ["dataset"]
    names = {
        "picked": f"Courses picked on Recommend ({len(picked)})",
        "dataset": "A learner from the dataset",
        **{p.key: f"Persona: {p.name}" for p in PERSONAS},
    }
    if st.session_state.get(key) not in options:
        st.session_state.pop(key, None)
    c1, c2 = st.columns([2, 1])
    choice = c1.selectbox("Learner", options, format_func=names.get, key=key)
    if choice == "picked":
        return picked, names["picked"]
    if choice == "dataset":
        text = c2.text_input("Learner id", value=str(dataset.user_ids[0]), key=f"{key}_id")
        try:
            uid = dataset.find_learner(text)
        except KeyError as exc:
            st.warning(str(exc.args[0]))
            return {}, "unknown learner"
        return dataset.user_history(uid), f"dataset learner {uid}"
    persona = next(p for p in PERSONAS if p.key == choice)
    return {cid: dataset.rating_scale[1] for cid in persona_history(dataset, persona)}, names[choice]
