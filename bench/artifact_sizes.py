"""Artifact size per model on the built-in dataset: the old format (the whole fitted object pickled with
joblib, training matrix included, plus the Keras file) against the current one (learned state only, as
npz + JSON, signed). Also checks that the reloaded model scores exactly like the fitted one.

    python bench/artifact_sizes.py [--data data/builtin] [--models popularity,knn,...] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import joblib  # noqa: E402
import numpy as np  # noqa: E402

from recsys._json import write_json_atomic  # noqa: E402
from recsys.data import load_dataset  # noqa: E402
from recsys.models import MODEL_KEYS, load_model, make_model, save_model  # noqa: E402
from recsys.models.persistence import artifact_bytes  # noqa: E402


def old_format_bytes(model, folder: Path) -> int:
    """What `save` wrote before: joblib.dump of the whole model (+ files of the `_save_extra` hook)."""
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    extra = sum(p.stat().st_size for p in folder.glob("*.keras"))
    return buffer.tell() + extra


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="data/builtin")
    ap.add_argument("--models", default=",".join(MODEL_KEYS))
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)
    dataset = load_dataset(args.data)
    rows = []
    print(f"{'model':22} {'before':>10} {'after':>10} {'ratio':>6}  same scores  fit s")
    for key in [k for k in args.models.split(",") if k]:
        model = make_model(key, seed=0)
        start = time.perf_counter()
        try:
            model.fit(dataset)
        except Exception as exc:  # a model that cannot fit here is reported, not fatal
            print(f"{key:22} fit failed: {exc}")
            continue
        fit = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            path = save_model(model, Path(tmp) / key)
            after = artifact_bytes(path)
            before = old_format_bytes(model, path)
            loaded = load_model(path, dataset)
            H = dataset.matrix[:200]
            same = bool(np.array_equal(loaded.score_histories(H), model.score_histories(H)))
        rows.append(
            {
                "model": key,
                "before_bytes": before,
                "after_bytes": after,
                "same_scores": same,
                "fit_seconds": round(fit, 1),
            }
        )
        print(
            f"{key:22} {before / 1e6:9.2f}M {after / 1e6:9.2f}M {after / before:6.2f}  {same!s:11}  {fit:5.1f}",
            flush=True,
        )
    if args.out:
        write_json_atomic(args.out, {"dataset": repr(dataset), "load_average": os.getloadavg(), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
