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
def small_data_dir(tmp_path_factory) -> Path:
    """A small generated IBM-format folder (1,500 learners, 60 courses, seed 1)."""
    from recsys.data import generate_dataset

    out = tmp_path_factory.mktemp("small") / "data"
    generate_dataset(out, seed=1, n_learners=1500, n_courses=60)
    return out


@pytest.fixture(scope="session")
def small_dataset(small_data_dir):
    from recsys.data import load_dataset

    return load_dataset(small_data_dir)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory):
    """A very small generated dataset (300 learners, 30 courses) for slow models such as neural."""
    from recsys.data import generate_dataset, load_dataset

    out = tmp_path_factory.mktemp("tiny") / "data"
    generate_dataset(out, seed=2, n_learners=300, n_courses=30)
    return load_dataset(out)


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
