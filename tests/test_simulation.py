"""The simulator: the generator's behaviour model read back from a generated folder, and reactions to lists."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from recsys.data import generate_dataset, load_dataset
from recsys.simulation import (
    BEHAVIOUR_FILE,
    NoSimulatorError,
    Simulator,
    load_behaviour,
    sample_population,
    simulator_for_folder,
)
from recsys.simulation.simulator import LearnerStates


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A generated folder big enough for stable marginals (8,000 learners, 80 courses)."""
    out = tmp_path_factory.mktemp("sim") / "data"
    summary = generate_dataset(out, seed=11, n_learners=8000, n_courses=80)
    return out, summary, load_dataset(out)


def _marginals(users: np.ndarray, items: np.ndarray, ratings: np.ndarray, level: np.ndarray, n_courses: int) -> dict:
    _, per_user = np.unique(users, return_counts=True)
    pop = np.bincount(items, minlength=n_courses)
    by_level = np.bincount(level[items], minlength=3) / len(items)
    return {
        "share_one_course": (per_user == 1).mean(),
        "share_over_10": (per_user > 10).mean(),
        "mean_courses": per_user.mean(),
        "top20_share": np.sort(pop)[::-1][:20].sum() / pop.sum(),
        "completed_share": (ratings == 3.0).mean(),
        "beginner": by_level[0],
        "advanced": by_level[2],
        "popularity": pop / pop.sum(),
    }


def test_fresh_population_reproduces_the_generators_marginals(generated):
    folder, summary, dataset = generated
    sim = simulator_for_folder(folder, dataset)
    rng = np.random.default_rng(123)  # another stream than the generator's: fresh learners
    population, states = sim.new_learners(8000, rng, start="empty")
    taken = sim.organic(states, population.activity, rng)
    assert len(taken) == population.activity.max()
    rows, cols = np.nonzero(states.ratings)
    sim_stats = _marginals(rows, cols, states.ratings[rows, cols], sim.model.level, dataset.n_items)

    r = dataset.ratings
    level = sim.model.level
    gen_stats = _marginals(r["user"].to_numpy(), dataset.item_codes, r["rating"].to_numpy(), level, dataset.n_items)
    assert gen_stats["share_one_course"] == pytest.approx(summary["share_one_course"])
    for name, tol in [
        ("share_one_course", 0.02),
        ("share_over_10", 0.02),
        ("top20_share", 0.03),
        ("completed_share", 0.006),
        ("beginner", 0.03),
        ("advanced", 0.02),
    ]:
        assert sim_stats[name] == pytest.approx(gen_stats[name], abs=tol), name
    assert sim_stats["mean_courses"] == pytest.approx(gen_stats["mean_courses"], rel=0.05)
    # the same courses are popular: course shares agree closely
    corr = np.corrcoef(sim_stats["popularity"], gen_stats["popularity"])[0, 1]
    assert corr > 0.97
    # and they are not the training learners: a fresh population differs in its exact course counts
    assert not np.array_equal(
        np.bincount(cols, minlength=dataset.n_items), np.bincount(dataset.item_codes, minlength=dataset.n_items)
    )


def test_behaviour_file_is_plain_json_matching_the_catalogue(generated):
    folder, _, dataset = generated
    raw = json.loads((folder / BEHAVIOUR_FILE).read_text())
    assert raw["course_ids"] == [str(c) for c in dataset.item_ids]
    model = load_behaviour(folder)
    assert model.n_courses == dataset.n_items and (model.appeal > 0).all()
    levels = dataset.courses["LEVEL"].map({"Beginner": 0, "Intermediate": 1, "Advanced": 2}).to_numpy()
    assert np.array_equal(model.level, levels)
    assert np.array_equal(model.genre_flags, dataset.genre_matrix)


def test_other_datasets_say_there_is_no_simulator(generated, tmp_path):
    folder, _, dataset = generated
    plain = tmp_path / "plain"
    shutil.copytree(folder, plain)
    (plain / BEHAVIOUR_FILE).unlink()
    with pytest.raises(NoSimulatorError, match="no simulator for this dataset"):
        simulator_for_folder(plain)
    (plain / BEHAVIOUR_FILE).write_text("{not json")
    with pytest.raises(NoSimulatorError, match="no simulator for this dataset.*unreadable"):
        load_behaviour(plain)
    raw = json.loads((folder / BEHAVIOUR_FILE).read_text())
    raw["appeal"] = raw["appeal"][:-1]
    (plain / BEHAVIOUR_FILE).write_text(json.dumps(raw))
    with pytest.raises(NoSimulatorError, match="different lengths"):
        load_behaviour(plain)
    other = tmp_path / "other"
    generate_dataset(other, seed=1, n_learners=50, n_courses=30)
    with pytest.raises(NoSimulatorError, match="catalogue differs"):
        simulator_for_folder(other, dataset)


def test_same_seed_same_reactions(generated):
    folder, _, dataset = generated
    sim = simulator_for_folder(folder, dataset)

    def run(seed):
        rng = np.random.default_rng(seed)
        _, states = sim.new_learners(300, rng)
        shown = np.tile(np.arange(10), (300, 1))
        return sim.react(states, np.arange(300), shown, rng).enrolled, states.ratings

    (a, ra), (b, rb), (c, _) = run(5), run(5), run(6)
    assert np.array_equal(a, b) and np.array_equal(ra, rb)
    assert not np.array_equal(a, c)


def test_position_bias_and_level_readiness(generated):
    folder, _, dataset = generated
    model = load_behaviour(folder).aligned_to(dataset.item_ids)
    sim = Simulator(model, position_bias=1.0)
    rng = np.random.default_rng(0)
    population = sample_population(model, 4000, rng)
    # the same course for everyone at rank 1 and at rank 5: enrolments fall with rank (users look less far down)
    beginner = int(np.argmax(np.where(model.level == 0, model.appeal, 0)))
    others = [c for c in np.argsort(-model.appeal) if c != beginner][:4]
    rates = []
    for rank in (0, 4):
        states = LearnerStates(model, population)
        shown = np.array(others[:rank] + [beginner] + others[rank:], dtype=np.int64)[None, :].repeat(4000, 0)
        rates.append(sim.react(states, np.arange(4000), shown, rng).enrolled[:, rank].mean())
    assert rates[1] < 0.35 * rates[0] + 0.01
    # an advanced course is almost never taken before its genre's earlier levels; once unlocked it is
    adv = np.flatnonzero(model.level == 2)
    states = LearnerStates(model, population)
    rows = np.arange(4000)
    course = adv[np.argmax(model.appeal[adv])]
    p_locked = sim.enrol_probability(states, rows, np.full((4000, 1), course)).mean()
    g = model.main_genre[course]
    for lv in (0, 1):
        prereq = np.flatnonzero((model.main_genre == g) & (model.level == lv))[0]
        states.take(rows, np.full(4000, prereq), np.full(4000, 3.0, dtype=np.float32))
    p_open = sim.enrol_probability(states, rows, np.full((4000, 1), course)).mean()
    assert p_open > 50 * p_locked
    # enrolled courses join the history and are never enrolled again
    shown = np.full((4000, 1), course)
    reaction = sim.react(states, rows, shown, rng)
    took = reaction.enrolled[:, 0]
    assert took.any() and (states.ratings[took, course] > 0).all()
    assert (sim.enrol_probability(states, rows[took], shown[took]) == 0).all()
    assert set(np.unique(states.ratings[took, course])) <= {2.0, 3.0}


def test_bad_simulator_settings_raise():
    with pytest.raises(ValueError, match="position_bias"):
        Simulator(None, position_bias=-1)
