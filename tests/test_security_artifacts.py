"""Artifacts are verified from the bytes that are loaded, refuse replays, and fail safe on a bad key."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import threading
import warnings

import pytest
from helpers import Payload

from recsys.models import ArtifactError, load_model, make_model, persistence, save_model
from recsys.models.persistence import ESTIMATORS, MANIFEST, SIGNATURE, KeyFileError
from recsys.serving.store import ModelStore


@pytest.fixture(autouse=True)
def own_key(tmp_path, monkeypatch):
    monkeypatch.delenv(persistence.KEY_ENV, raising=False)
    monkeypatch.setenv(persistence.KEY_FILE_ENV, str(tmp_path / "keys" / "artifact.key"))


@pytest.fixture(scope="module")
def clustering(tiny_dataset):
    """A model whose artifact holds scikit-learn estimators (KMeans, StandardScaler) in estimators.skops."""
    return make_model("clustering", seed=0).fit(tiny_dataset)


def test_sklearn_estimators_are_stored_with_skops_and_nothing_is_pickled(clustering, tiny_dataset, tmp_path):
    path = save_model(clustering, tmp_path / "clu")
    manifest = json.loads((path / MANIFEST).read_text())
    assert ESTIMATORS in manifest["files"]
    assert not any(name.endswith((".pkl", ".joblib")) for name in manifest["files"])
    assert manifest["libraries"]["sklearn"] and manifest["key"] == "clustering" and manifest["code"]
    loaded = load_model(path, tiny_dataset)
    H = tiny_dataset.matrix[:20]
    assert (loaded.score_histories(H) == clustering.score_histories(H)).all()


def test_swapping_files_during_loads_never_runs_a_payload(clustering, tiny_dataset, tmp_path):
    """The race of issue 23: a thread flips each state file between the genuine bytes and a payload while the
    main thread loads 200 times. Every load either returns the genuine model or is refused; nothing runs."""
    path = save_model(clustering, tmp_path / "clu")
    marker = tmp_path / "payload-ran"
    payload = pickle.dumps([Payload(marker)])
    names = [persistence.STATE, persistence.ARRAYS, ESTIMATORS]
    genuine = {name: (path / name).read_bytes() for name in names}
    stop = threading.Event()

    def swap():
        i = 0
        while not stop.is_set():
            name = names[i % len(names)]
            forged, tmp = path / f".{name}.x", path / f".{name}.y"
            forged.write_bytes(payload)
            os.replace(forged, path / name)
            tmp.write_bytes(genuine[name])
            os.replace(tmp, path / name)
            i += 1

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    loaded = refused = 0
    try:
        for _ in range(200):
            try:
                model = load_model(path, tiny_dataset)
            except ArtifactError as exc:
                assert "checksum" in str(exc) or "unexpected file" in str(exc)
                refused += 1
            else:
                assert model.key == "clustering"
                loaded += 1
    finally:
        stop.set()
        thread.join()
    assert loaded + refused == 200 and refused > 0, "the swapping thread never hit a load"
    assert not marker.exists(), "a swapped file was deserialized"


def test_a_copied_artifact_is_refused_as_a_replay(tiny_dataset, tmp_path):
    store = ModelStore(tmp_path / "store")
    store.get_or_train(tiny_dataset, "popularity", {"weight_completions": True})
    genuine = store.path_for(tiny_dataset, "popularity", {"weight_completions": True})
    other = store.path_for(tiny_dataset, "popularity", {"weight_completions": False})
    shutil.copytree(genuine, other)  # a validly signed artifact, in the folder of other parameters
    notes: list[str] = []
    model, source = ModelStore(tmp_path / "store").fetch(
        tiny_dataset, "popularity", {"weight_completions": False}, notify=notes.append
    )
    assert source == "trained" and model.weight_completions is False
    assert len(notes) == 1 and "replayed or stale" in notes[0] and str(tmp_path) not in notes[0]
    with pytest.raises(ArtifactError, match="replayed or stale"):
        load_model(genuine, tiny_dataset, expect={"params": {"weight_completions": False}})


def test_an_artifact_from_other_model_code_is_refused_as_stale(tiny_dataset, tmp_path):
    path = save_model(make_model("popularity").fit(tiny_dataset), tmp_path / "pop", code="0123456789ab")
    with pytest.raises(ArtifactError, match="replayed or stale.*code"):
        load_model(path, tiny_dataset)


def test_sklearn_version_mismatch_is_refused(clustering, monkeypatch):
    """skops restores estimators through scikit-learn's own __setstate__, so its version check still runs."""
    import sklearn.base
    import skops.io as sio

    monkeypatch.setattr(sklearn.base, "__version__", "0.0.1")
    data = sio.dumps([clustering.kmeans_])
    monkeypatch.undo()
    with warnings.catch_warnings(), pytest.raises(ArtifactError, match="stale"):
        persistence._load_estimators(data)


def test_untrusted_types_in_the_estimators_file_are_refused():
    import skops.io as sio

    data = sio.dumps([ArtifactError("not an estimator")])
    with pytest.raises(ArtifactError, match="trusted list"):
        persistence._load_estimators(data)


def test_a_huge_signature_file_is_refused_without_reading_it(tiny_dataset, tmp_path):
    path = save_model(make_model("popularity").fit(tiny_dataset), tmp_path / "pop")
    with open(path / SIGNATURE, "wb") as fh:
        fh.truncate(1 << 30)  # sparse: 1 GB on paper
    with pytest.raises(ArtifactError, match="limit"):
        load_model(path, tiny_dataset)


def test_a_fifo_in_the_artifact_is_refused_not_waited_on(tiny_dataset, tmp_path):
    path = save_model(make_model("popularity").fit(tiny_dataset), tmp_path / "pop")
    (path / persistence.STATE).unlink()
    os.mkfifo(path / persistence.STATE)
    with pytest.raises(ArtifactError, match="FIFO"):
        load_model(path, tiny_dataset)


def test_save_signs_the_bytes_it_wrote(tiny_dataset, tmp_path):
    path = save_model(make_model("popularity").fit(tiny_dataset), tmp_path / "pop")
    manifest = json.loads((path / MANIFEST).read_text())
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((path / name).read_bytes()).hexdigest() == digest
    assert oct((path / MANIFEST).stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("kind", ["fifo", "folder", "empty", "unreadable"])
def test_a_bad_key_file_fails_safe_and_never_deletes_a_valid_artifact(kind, tiny_dataset, tmp_path):
    store = ModelStore(tmp_path / "store")
    store.get_or_train(tiny_dataset, "popularity")
    saved = store.path_for(tiny_dataset, "popularity")
    key = persistence.key_file()
    key.unlink()
    if kind == "fifo":
        os.mkfifo(key, 0o600)
    elif kind == "folder":
        key.mkdir(mode=0o700)
    elif kind == "empty":
        key.touch(mode=0o600)
    else:
        key.write_text("x" * 64)
        key.chmod(0o000)
        if os.access(key, os.R_OK):  # root reads anything: make it unreadable another way
            key.unlink()
            key.symlink_to(tmp_path / "missing-target")
    with pytest.raises(KeyFileError) as info:
        persistence.secret_key()
    assert str(key) in str(info.value) and "\n" not in str(info.value)
    notes: list[str] = []
    model, source = ModelStore(tmp_path / "store").fetch(tiny_dataset, "popularity", notify=notes.append)
    assert source == "trained" and model.key == "popularity"
    assert saved.is_dir() and (saved / MANIFEST).is_file(), "a valid artifact was deleted"
    assert len(notes) == 1 and "could not be saved" in notes[0] and "trained again and saved" not in notes[0]


def test_orphaned_temporary_folders_are_swept_and_counted_by_the_cap(tiny_dataset, tmp_path):
    store = ModelStore(tmp_path / "store")
    store.get_or_train(tiny_dataset, "popularity")
    saved = store.path_for(tiny_dataset, "popularity")
    dead = saved.parent / f".{saved.name}{persistence.TEMP_MARK}999999999-abc"  # no such process
    live = saved.parent / f".{saved.name}{persistence.TEMP_MARK}{os.getpid()}-def"
    for folder in (dead, live):
        folder.mkdir()
        (folder / "state.npz").write_bytes(b"\0" * 50_000)
    temporary = {f: orphan for f, _, orphan in store.temporary_folders()}
    assert temporary == {dead: True, live: False}
    assert store.sweep_orphans() == [dead] and not dead.exists() and live.exists()
    capped = ModelStore(tmp_path / "store", max_bytes=40_000)  # the live save alone is over the cap
    flipped = {"weight_completions": not make_model("popularity").weight_completions}
    assert capped.fetch(tiny_dataset, "popularity", flipped)[1] == "trained"
    assert not saved.exists(), "the bytes of a save in progress count against the cap"
