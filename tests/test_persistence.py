"""Saved models cannot run code, hold learned state only, and are invalidated by any code they depend on."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import stat

import numpy as np
import pytest
from helpers import Payload

from recsys.models import ArtifactError, load_model, make_model, persistence, save_model
from recsys.models.provenance import PACKAGE, dependencies
from recsys.serving.store import ModelStore, code_version


@pytest.fixture(autouse=True)
def own_key(tmp_path, monkeypatch):
    """Each test signs with its own key file (created on first use), never the user's."""
    monkeypatch.delenv(persistence.KEY_ENV, raising=False)
    monkeypatch.setenv(persistence.KEY_FILE_ENV, str(tmp_path / "keys" / "artifact.key"))


def _forge(path, marker):
    """Replace the artifact's state with a pickle payload and fix up every sha256 an attacker can compute."""
    (path / "objects.pkl").write_bytes(pickle.dumps([Payload(marker)]))
    (path / "model.joblib").write_bytes(pickle.dumps(Payload(marker)))
    manifest = json.loads((path / persistence.MANIFEST).read_text())
    manifest["files"] = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in path.iterdir()
        if p.name not in (persistence.MANIFEST, persistence.SIGNATURE)
    }
    manifest["checksum"] = hashlib.sha256("".join(sorted(manifest["files"].values())).encode()).hexdigest()
    (path / persistence.MANIFEST).write_text(json.dumps(manifest))


def test_forged_pickle_with_recomputed_sha256_is_refused_and_never_runs(tiny_dataset, tmp_path):
    path = save_model(make_model("popularity").fit(tiny_dataset), tmp_path / "pop")
    marker = tmp_path / "payload-ran"
    _forge(path, marker)
    with pytest.raises(ArtifactError, match="signature"):
        load_model(path, tiny_dataset)
    assert not marker.exists(), "the forged pickle was unpickled"

    # The same through the store: refused, reported, retrained and rewritten -- the payload still never runs.
    store_root = tmp_path / "store"
    store = ModelStore(store_root)
    store.get_or_train(tiny_dataset, "popularity")
    stored = store.path_for(tiny_dataset, "popularity")
    _forge(stored, marker)
    notes = []
    model, source = ModelStore(store_root).fetch(tiny_dataset, "popularity", notify=notes.append)
    assert source == "trained" and not marker.exists()
    assert len(notes) == 1 and "signature" in notes[0] and str(store_root) not in notes[0]
    assert ModelStore(store_root).fetch(tiny_dataset, "popularity")[1] == "disk", "the artifact was rewritten"


def test_artifact_signed_with_another_key_is_refused(tiny_dataset, tmp_path, monkeypatch):
    path = save_model(make_model("popularity").fit(tiny_dataset), tmp_path / "pop")
    assert load_model(path, tiny_dataset).key == "popularity"
    monkeypatch.setenv(persistence.KEY_ENV, "another-installation-secret")
    with pytest.raises(ArtifactError, match="signature"):
        load_model(path, tiny_dataset)


def test_key_file_is_created_owner_only_and_a_shared_one_is_refused(tiny_dataset, tmp_path):
    save_model(make_model("popularity").fit(tiny_dataset), tmp_path / "pop")
    key = persistence.key_file()
    assert key.is_file() and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert tmp_path / "pop" not in key.parents, "the key lives outside the artifact"
    os.chmod(key, 0o666)
    with pytest.raises(ArtifactError, match="chmod 600"):
        load_model(tmp_path / "pop", tiny_dataset)


def test_state_is_arrays_and_json_without_the_training_matrix(small_dataset, tmp_path):
    for key in ("popularity", "knn", "nmf", "clustering_pca"):
        model = make_model(key, seed=0).fit(small_dataset)
        path = save_model(model, tmp_path / key)
        manifest = json.loads((path / "manifest.json").read_text())
        assert set(manifest["files"]) <= {persistence.STATE, persistence.ARRAYS, persistence.ESTIMATORS}, key
        M = small_dataset.matrix
        with np.load(path / persistence.ARRAYS, allow_pickle=False) as npz:
            stored = [npz[name] for name in npz.files]
        for kept in (M.indices, M.data, M.T.tocsr().indices):  # neither the matrix nor its transpose is stored
            assert not any(a.shape == kept.shape and np.array_equal(a, kept) for a in stored), key
        state = json.loads((path / persistence.STATE).read_text())["state"]
        assert state["train_matrix_"]["$"] == "derived", key
        loaded = load_model(path, small_dataset)
        assert loaded.train_matrix_ is small_dataset.matrix or (loaded.train_matrix_ != small_dataset.matrix).nnz == 0
        H = small_dataset.matrix[:25]
        np.testing.assert_array_equal(loaded.score_histories(H), model.score_histories(H))
        user = small_dataset.user_ids[3]
        assert loaded.recommend_user(user, k=10).equals(model.recommend_user(user, k=10)), key


def test_knn_needs_the_dataset_to_load_but_popularity_does_not(small_dataset, tmp_path):
    knn = save_model(make_model("knn").fit(small_dataset), tmp_path / "knn")
    with pytest.raises(ArtifactError, match="dataset it was trained on"):
        load_model(knn)
    pop = make_model("popularity").fit(small_dataset)
    loaded = load_model(save_model(pop, tmp_path / "pop"))
    assert loaded.recommend(list(small_dataset.item_ids[:2])).equals(pop.recommend(list(small_dataset.item_ids[:2])))


def test_code_version_follows_the_modules_a_model_imports(tiny_dataset, tmp_path):
    sources = tmp_path / "src" / "recsys"
    shutil.copytree(PACKAGE, sources, ignore=shutil.ignore_patterns("__pycache__"))
    files, libraries = dependencies("recsys.models.content.user_profile", sources)
    names = {str(f.relative_to(sources)) for f in files}
    assert "models/content/profiles.py" in names and "models/persistence.py" in names
    assert {"numpy", "sklearn"} <= set(libraries)
    hybrid = {str(f.relative_to(sources)) for f in dependencies("recsys.models.ensemble.hybrid", sources)[0]}
    assert "evaluation/metrics.py" in hybrid and "models/neighbours/knn.py" in hybrid, "imports and locations"
    popularity = {str(f.relative_to(sources)) for f in dependencies("recsys.models.baseline.popularity", sources)[0]}
    assert "models/content/profiles.py" not in popularity

    store = ModelStore(tmp_path / "store", source_root=sources)
    keys = ("popularity", "user_profile")
    before = {k: store.path_for(tiny_dataset, k) for k in keys}
    for k in keys:
        store.get_or_train(tiny_dataset, k)
    assert all(ModelStore(tmp_path / "store", source_root=sources).fetch(tiny_dataset, k)[1] == "disk" for k in keys)
    helper = sources / "models" / "content" / "profiles.py"  # used by the content models, not popularity
    helper.write_bytes(helper.read_bytes() + b"\n# changed\n")
    fresh = ModelStore(tmp_path / "store", source_root=sources)
    assert fresh.path_for(tiny_dataset, "popularity") == before["popularity"]
    assert fresh.fetch(tiny_dataset, "popularity")[1] == "disk"
    assert fresh.path_for(tiny_dataset, "user_profile") != before["user_profile"]
    assert fresh.fetch(tiny_dataset, "user_profile")[1] == "trained"
    assert not before["user_profile"].exists(), "the artifact built by the old code was removed"
    assert code_version("popularity") == code_version("popularity", PACKAGE)


def test_upload_trained_models_stay_in_memory(tiny_dataset, tmp_path):
    uploaded = tiny_dataset.with_ratings(tiny_dataset.ratings)
    uploaded.load_report = {"source": "uploaded files"}
    store = ModelStore(tmp_path / "store")
    model, source = store.fetch(uploaded, "popularity")
    assert source == "trained" and not list((tmp_path).rglob("manifest.json"))
    assert store.fetch(uploaded, "popularity") == (model, "memory")
    store.fetch(uploaded, "user_profile", persist=True)
    assert len(list(tmp_path.rglob("manifest.json"))) == 1, "an explicit opt-in saves"


def test_store_size_cap_removes_least_recently_used(tiny_dataset, tmp_path):
    store = ModelStore(tmp_path / "store")
    store.get_or_train(tiny_dataset, "popularity", {"weight_completions": False})
    old = store.path_for(tiny_dataset, "popularity", {"weight_completions": False})
    one = persistence.artifact_bytes(old)
    os.utime(old / "manifest.json", (1, 1))  # used long ago
    capped = ModelStore(tmp_path / "store", max_bytes=int(one * 1.5))
    capped.get_or_train(tiny_dataset, "popularity", {"weight_completions": True})
    assert not old.exists()
    assert capped.path_for(tiny_dataset, "popularity", {"weight_completions": True}).exists()


def test_persistence_imports_the_model_contract_never_the_reverse():
    """The only former import cycle: base.py (the contract) must not import persistence (the format), at module
    level or inside a function; the store talks to persistence directly."""
    import ast

    from recsys.models.provenance import PACKAGE

    def imported(path):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
        return names

    assert not any("persistence" in n for n in imported(PACKAGE / "models" / "base.py"))
    assert "recsys.models.base" in imported(PACKAGE / "models" / "persistence.py")
    assert "recsys.models.persistence" in imported(PACKAGE / "serving" / "store.py")
    from recsys.models.base import Recommender

    assert not hasattr(Recommender, "save"), "no save/load forwarders on the contract"
