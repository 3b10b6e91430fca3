"""CLI: a corrupted or forged saved model is reported, never read, trained again and saved in its place."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(args, cwd, env):
    return subprocess.run(
        [sys.executable, "-m", "recsys", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_cli_retrains_a_corrupted_artifact_once_and_never_runs_a_forged_one(tmp_path):
    env = {
        "RECSYS_SECRET_KEY_FILE": str(tmp_path / "key" / "artifact.key"),
        "RECSYS_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
    }
    out = run(["generate", "--out", "data", "--seed", "3", "--learners", "200", "--courses", "20"], tmp_path, env)
    assert out.returncode == 0, out.stderr
    assert run(["train", "--data", "data", "--model", "popularity"], tmp_path, env).returncode == 0
    (manifest,) = (tmp_path / "artifacts" / "models" / "popularity").rglob("manifest.json")
    artifact = manifest.parent
    course = (tmp_path / "data" / "course_genre.csv").read_text().splitlines()[1].split(",")[0]
    recommend = ["recommend", "--data", "data", "--model", "popularity", "--courses", course, "--k", "3"]

    state = artifact / "state.npz"
    state.write_bytes(state.read_bytes()[:100])  # truncated
    first = run(recommend, tmp_path, env)
    assert first.returncode == 0, first.stderr
    assert "could not be used" in first.stderr and "source: trained" in first.stderr, first.stderr
    second = run(recommend, tmp_path, env)
    assert second.returncode == 0 and "source: disk" in second.stderr, second.stderr
    assert second.stdout == first.stdout

    marker = tmp_path / "payload-ran"
    (artifact / "objects.pkl").write_bytes(pickle.dumps([_Payload(str(marker))]))
    third = run(recommend, tmp_path, env)
    assert third.returncode == 0 and "could not be used" in third.stderr and not marker.exists()
    assert third.stdout == first.stdout
