"""The Experiments page's parts: the simulator of the dataset in use, running an A/B test (and Thompson sampling,
and the offline-vs-online check) in a status box, and the results."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from recsys.ui import experiment_charts, plain, session


def dataset_folder() -> Path | None:
    """The folder of the dataset in use (None for uploaded files: they carry no behaviour model)."""
    source = session.dataset_source()
    if source["kind"] == "builtin":
        return session.builtin_dir()
    if source["kind"] == "folder":
        return Path(source["path"])
    return None  # uploaded files carry no behaviour model


def simulator_for(dataset, position_bias: float):
    """The simulator of the dataset in use; NoSimulatorError says why there is none."""
    from recsys.simulation import NoSimulatorError, simulator_for_folder

    folder = dataset_folder()
    if folder is None:
        raise NoSimulatorError(
            "no simulator for this dataset: uploaded files carry no behaviour model -- use the "
            "built-in dataset or a folder made by `python -m recsys generate`"
        )
    return simulator_for_folder(folder, dataset, position_bias=position_bias)


def run(dataset, arms, params, n_learners, sessions, k, seed, bias, with_bandit, with_offline) -> None:
    """Fit the arms (model store), run the A/B test and, if asked, Thompson sampling and the offline check, in a
    status box; the result goes to `exp_result`, an error is shown as one message."""
    from recsys.simulation import agreement, build_arms, offline_ndcg, run_abtest, run_thompson

    with st.status("Running the experiment ...", expanded=True) as status:
        bar = st.progress(0.0, text="fitting the arms")
        try:
            simulator = simulator_for(dataset, bias)
            spec = [(key, params.get(i, {})) for i, (key, _) in enumerate(arms)]
            built = build_arms(
                spec, lambda key, p: session.model_store().get_or_train(dataset, key, {"seed": seed, **p}), seed=seed
            )
            step = lambda lo, width: (lambda f, m: bar.progress(min(1.0, lo + width * f), text=m))  # noqa: E731
            ab = run_abtest(
                simulator,
                built,
                n_learners=n_learners,
                sessions=sessions,
                k=k,
                split=[share for _, share in arms],
                seed=seed,
                progress=step(0.1, 0.4),
            )
            out = {"fp": dataset.fingerprint, "ab": ab, "bandit": None, "agreement": None}
            if with_bandit:
                means = dict(zip(ab.summary["arm"], ab.summary["ctr"]))
                out["bandit"] = run_thompson(
                    simulator,
                    built,
                    n_learners=n_learners,
                    sessions=sessions,
                    k=k,
                    seed=seed,
                    arm_means=means,
                    progress=step(0.5, 0.3),
                )
            if with_offline:
                offline = offline_ndcg(
                    dataset,
                    [(a.name, key, p) for a, (key, p) in zip(built, spec)],
                    k=k,
                    seed=seed,
                    progress=step(0.8, 0.2),
                )
                out["agreement"] = agreement(offline, dict(zip(ab.summary["arm"], ab.summary["ctr"])))
        except Exception as exc:
            status.update(label="The experiment failed", state="error")
            session.show_error("The experiment", exc, "Change the arms or sizes and run again.")
            return
        st.session_state["exp_result"] = out
        status.update(label="Experiment finished", state="complete", expanded=False)


def show(result, stopping_rule: str) -> None:
    """The A/B table, differences to control, the sequential view, the bandit and the offline agreement."""
    ab = result["ab"]
    s = ab.settings
    st.subheader("A/B test")
    st.caption(
        f"{s['n_learners']:,} fresh simulated learners x {s['sessions']} sessions, top-{s['k']}, split "
        f"{', '.join(f'{p:.0%}' for p in s['split'])}, seed {s['seed']}. Control: **{ab.control}**. "
        "CTR = enrolments per shown list; intervals are 95%, over learners (the randomisation unit)."
    )
    summary = ab.summary
    plain.table(
        summary,
        hide_index=True,
        key="exp_summary",
        column_config={
            "arm": st.column_config.TextColumn("Arm"),
            "model": st.column_config.TextColumn("Model"),
            "learners": st.column_config.NumberColumn("Learners"),
            "lists": st.column_config.NumberColumn("Lists shown"),
            "enrolments": st.column_config.NumberColumn("Enrolments"),
            "completions": st.column_config.NumberColumn("Completions"),
            "ctr": st.column_config.NumberColumn("CTR", format="%.4f"),
            "ctr_lo": st.column_config.NumberColumn("CTR low", format="%.4f"),
            "ctr_hi": st.column_config.NumberColumn("CTR high", format="%.4f"),
            "completion_rate": st.column_config.NumberColumn("Completion rate", format="%.4f"),
            "enrolments_per_learner": st.column_config.NumberColumn("Enrolments / learner", format="%.3f"),
            "coverage": st.column_config.NumberColumn("Coverage", format="percent"),
        },
    )
    st.markdown("**Difference to control** (treatment minus control, 95% interval, two-sided p)")
    plain.table(
        ab.comparisons,
        hide_index=True,
        key="exp_comparisons",
        column_config={
            c: st.column_config.NumberColumn(c.capitalize(), format="%.4f") for c in ("control", "treatment")
        }
        | {
            "arm": st.column_config.TextColumn("Arm"),
            "metric": st.column_config.TextColumn("Metric"),
            "diff": st.column_config.NumberColumn("Difference", format="%.4f"),
            "lo": st.column_config.NumberColumn("95% low", format="%.4f"),
            "hi": st.column_config.NumberColumn("95% high", format="%.4f"),
            "relative": st.column_config.NumberColumn("Relative", format="percent"),
            "p_value": st.column_config.NumberColumn("p-value", format="%.3g"),
            "significant": st.column_config.CheckboxColumn("Significant"),
        },
    )

    st.subheader("Sequential view")
    st.info(f"**Stopping rule.** {stopping_rule}", icon=":material/rule:")
    treatments = ab.arms[1:]
    arm = st.selectbox("Arm vs control", treatments, key="exp_seq_arm") if len(treatments) > 1 else treatments[0]
    st.plotly_chart(plain.figure(experiment_charts.sequential(ab.sequential, arm, ab.alpha)), key="exp_seq_chart")
    stopping = ab.stopping()
    stopping["stopped_at_learners"] = [  # a dash, not "None", for an arm the mSPRT would keep running
        "–" if n is None or n != n else f"{int(n):,}" for n in stopping["stopped_at_learners"]
    ]
    plain.table(
        stopping,
        hide_index=True,
        key="exp_stopping",
        column_config={
            "arm": st.column_config.TextColumn("Arm"),
            "stopped_at_learners": st.column_config.TextColumn("mSPRT stops after (learners)"),
            "decision": st.column_config.TextColumn("Decision"),
            "fixed_horizon_p": st.column_config.NumberColumn("Fixed-horizon p (at the end)", format="%.3g"),
        },
    )

    bandit = result.get("bandit")
    if bandit is not None:
        st.subheader("Thompson sampling")
        st.caption(
            "Each arriving learner gets the arm with the highest draw from its Gamma posterior of enrolments "
            "per list; regret is measured against the best arm in hindsight, using the A/B test's arm means."
        )
        left, right = st.columns(2)
        left.plotly_chart(plain.figure(experiment_charts.allocation(bandit.allocation)), key="exp_alloc_chart")
        right.plotly_chart(plain.figure(experiment_charts.regret(bandit.regret)), key="exp_regret_chart")
        share = bandit.final_share()
        st.caption("Share of the last 20% of learners: " + ", ".join(f"{a} {share[a]:.0%}" for a in bandit.arms))

    agree = result.get("agreement")
    if agree is not None:
        table, tau, p = agree
        st.subheader("Does offline agree with online?")
        from recsys.simulation.agreement import MIN_ARMS_FOR_TAU, orders_agree

        same = "the same order" if orders_agree(table) else "different orders"
        if len(table) < MIN_ARMS_FOR_TAU:
            tau_text = f"Kendall's tau needs three or more arms; with two, the orders only agree or not: {same}"
        elif tau != tau:
            tau_text = f"Kendall's tau: n/a (a tie in one order); {same}"
        else:
            tau_text = f"**Kendall's tau = {tau:.2f}** (p = {p:.2g})"
        st.markdown(
            f"Offline NDCG@{s['k']} (per-learner holdout) rank order next to the simulated CTR order -- {tau_text}."
        )
        shown = table.rename(
            columns={
                "arm": "Arm",
                "offline_ndcg": f"Offline NDCG@{s['k']}",
                "online_ctr": "Online CTR",
                "offline_rank": "Offline rank",
                "online_rank": "Online rank",
            }
        )
        plain.table(shown, hide_index=True, key="exp_agreement")
