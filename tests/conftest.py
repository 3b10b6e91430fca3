"""Shared fixtures: small generated datasets (our own generator) and the path to the real catalogue."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recsys.models import MODEL_KEYS, make_model

ROOT = Path(__file__).resolve().parents[1]
SHARED_IBM = ROOT.parent / "shared" / "datasets" / "ibm-course"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# App tests load folders from pytest's temporary folders: allow them (the app confines folder loading).
os.environ.setdefault("RECSYS_DATA_ROOTS", __import__("tempfile").gettempdir())
# Tests never write into the checkout's artifacts folder (stored tuning studies, saved models, run history).
os.environ.setdefault("RECSYS_ARTIFACTS_DIR", __import__("tempfile").mkdtemp(prefix="recsys-test-artifacts-"))


@pytest.fixture(scope="session")
def generated_data(tmp_path_factory):
    """`generated_data(seed, n_learners, n_courses)`: a generated IBM-format folder, made once per test session."""
    from recsys.data import generate_dataset

    made: dict[tuple[int, int, int], Path] = {}

    def folder(seed: int, n_learners: int, n_courses: int) -> Path:
        key = (seed, n_learners, n_courses)
        if key not in made:
            made[key] = tmp_path_factory.mktemp(f"data_{seed}_{n_learners}_{n_courses}") / "data"
            generate_dataset(made[key], seed=seed, n_learners=n_learners, n_courses=n_courses)
        return made[key]

    return folder


@pytest.fixture(scope="session")
def small_data_dir(generated_data) -> Path:
    """A small generated IBM-format folder (1,500 learners, 60 courses, seed 1)."""
    return generated_data(1, 1500, 60)


@pytest.fixture(scope="session")
def small_dataset(small_data_dir):
    from recsys.data import load_dataset

    return load_dataset(small_data_dir)


@pytest.fixture(scope="session")
def tiny_dataset(generated_data):
    """A very small generated dataset (300 learners, 30 courses) for slow models such as neural."""
    from recsys.data import load_dataset

    return load_dataset(generated_data(2, 300, 30))


@pytest.fixture(scope="module")
def app_env(request, tmp_path_factory):
    """Point the app (and the CLI's model store) at a small generated dataset and a private artifacts folder,
    once per test module; a module sets APP_COURSES for another catalogue size (default 30)."""
    from helpers import app_environment

    n_courses = getattr(request.module, "APP_COURSES", 30)
    with app_environment(tmp_path_factory.mktemp("app"), n_courses=n_courses) as env:
        yield env


@pytest.fixture(scope="session")
def shared_catalogue() -> Path:
    """The real IBM catalogue files in ../shared; skips with a reason where CI does not have them."""
    if not (SHARED_IBM / "course_genre.csv").is_file():
        pytest.skip(f"real IBM catalogue not found at {SHARED_IBM} (../shared is absent on this machine)")
    return SHARED_IBM


@pytest.fixture(scope="module", params=MODEL_KEYS)
def fitted(request, tiny_dataset):
    """(key, model) for every registry key, fitted on the tiny dataset (fast settings for the slow families)."""
    from helpers import FAST_PARAMS

    key = request.param
    return key, make_model(key, **FAST_PARAMS.get(key, {})).fit(tiny_dataset)
