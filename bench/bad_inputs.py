"""Robustness figures: a corpus of bad inputs through the loader's folder and upload routes and the app's
confined folder route, hostile uploads sized to exhaust memory, bad CLI options, bad library requests, hostile
artifacts and key files, a file-swap race while loading, and N simultaneous app sessions (AppTest, threads).

For every case: did it give one clear message (a DatasetError / ValueError / ArtifactError / CLI error line naming
the file, argument or limit), a traceback (any other exception), or an unexpected success; did anything get
written; and for the big uploads, how long and how much memory the refusal took (each in a forked child, so the
memory figure is that case's own growth).

    python bench/bad_inputs.py [--sessions 20] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from recsys.data import DatasetError, generate_dataset, load_dataset  # noqa: E402
from recsys.data.loader import load_dataset_from_files  # noqa: E402

GENRE = "COURSE_ID,TITLE,Database,Python\nC1,intro to sql,1,0\nC2,python basics,0,1\nC3,deep learning,0,1\n"
PROCESSED = "COURSE_ID,TITLE,DESCRIPTION\nC1,intro to sql,select\nC2,python basics,loops\nC3,deep learning,nets\n"
RATINGS = "user,item,rating\n1,C1,3\n1,C2,3\n2,C2,2\n3,C3,3\n"
BASE = {"ratings.csv": RATINGS, "course_genre.csv": GENRE, "course_processed.csv": PROCESSED}


def _ratings(body: str) -> dict:
    return {"ratings.csv": "user,item,rating\n" + body}


def corpus() -> list[tuple[str, dict]]:
    """(name, overrides of BASE: file name -> text/bytes, or None to leave the file out)."""
    cases = [
        ("no ratings.csv", {"ratings.csv": None}),
        ("no course_genre.csv", {"course_genre.csv": None}),
        ("no course_processed.csv", {"course_processed.csv": None}),
        ("empty ratings", {"ratings.csv": ""}),
        ("header only", {"ratings.csv": "user,item,rating\n"}),
        ("blank first line", {"ratings.csv": "\n" + RATINGS}),
        ("missing rating column", {"ratings.csv": "user,item\n1,C1\n"}),
        ("misspelt column", {"ratings.csv": "user,item,ratng\n1,C1,3\n"}),
        ("semicolons", {"ratings.csv": "user;item;rating\n1;C1;3\n"}),
        ("tabs", {"ratings.csv": "user\titem\trating\n1\tC1\t3\n"}),
        ("extra field", _ratings("1,C1,3,9\n")),
        ("unclosed quote", _ratings('1,"C1,3\n')),
        ("unknown course", _ratings("1,C9,3\n")),
        ("case-different course", _ratings("1,c1,3\n")),
        ("empty user", _ratings(",C1,3\n")),
        ("empty item", _ratings("1,,3\n")),
        ("conflicting duplicate", _ratings("1,C1,3\n1,C1,2\n")),
        ("latin-1", {"ratings.csv": b"user,item,rating\n1,C1,3\n" + b"caf\xe9,C2,3\n"}),
        ("utf-16", {"ratings.csv": RATINGS.encode("utf-16")}),
        ("NUL bytes", {"ratings.csv": b"\x00" * 4096}),
        ("NUL inside", {"ratings.csv": RATINGS.encode() + b"4,C1,\x003\n"}),
        ("zip as csv", {"ratings.csv": b"PK\x03\x04" + b"\x00" * 100}),
        ("pdf as csv", {"ratings.csv": b"%PDF-1.7\n..."}),
        ("png as csv", {"ratings.csv": b"\x89PNG\r\n\x1a\n...."}),
        ("elf as csv", {"ratings.csv": b"\x7fELF\x02\x01"}),
        ("gzip as csv", {"ratings.csv": b"\x1f\x8b\x08\x00...."}),
        ("huge header", {"course_genre.csv": "COURSE_ID,TITLE," + "g" * 131_073 + "\nC1,t,1\n"}),
        ("huge cell", {"course_processed.csv": PROCESSED.replace("select", "x" * 131_073)}),
        (
            "1,001 genres",
            {
                "course_genre.csv": "COURSE_ID,TITLE,"
                + ",".join(f"g{i}" for i in range(1001))
                + "\nC1,t,"
                + ",".join("0" * 1001)
                + "\n"
            },
        ),
        ("no genre columns", {"course_genre.csv": "COURSE_ID,TITLE\nC1,t\n"}),
        ("duplicate genre names", {"course_genre.csv": "COURSE_ID,TITLE,A,a\nC1,t,1,0\n"}),
        ("genre flag 2", {"course_genre.csv": GENRE.replace("C1,intro to sql,1,0", "C1,intro to sql,2,0")}),
        ("genre flag text", {"course_genre.csv": GENRE.replace("C1,intro to sql,1,0", "C1,intro to sql,yes,0")}),
        ("duplicate course id", {"course_genre.csv": GENRE + "C1,again,1,0\n"}),
        ("empty course id", {"course_genre.csv": GENRE + ",nameless,1,0\n"}),
        ("empty title", {"course_genre.csv": GENRE + "C4,,1,0\n"}),
        ("unnamed column with values", {"course_genre.csv": "COURSE_ID,TITLE,,Python\nC1,t,5,1\n"}),
        ("descriptions of other courses", {"course_processed.csv": "COURSE_ID,TITLE,DESCRIPTION\nX1,t,d\n"}),
        ("duplicate description id", {"course_processed.csv": PROCESSED + "C1,again,more\n"}),
        ("bad level", {"course_meta.csv": "COURSE_ID,LEVEL,DURATION_HOURS\nC1,Expert,3\n"}),
        ("negative duration", {"course_meta.csv": "COURSE_ID,LEVEL,DURATION_HOURS\nC1,Beginner,-3\n"}),
        ("text duration", {"course_meta.csv": "COURSE_ID,LEVEL,DURATION_HOURS\nC1,Beginner,long\n"}),
        ("meta missing column", {"course_meta.csv": "COURSE_ID,LEVEL\nC1,Beginner\n"}),
        ("bows bad count", {"courses_bows.csv": "doc_index,doc_id,token,bow\n0,C1,sql,-1\n"}),
        ("bows repeated token", {"courses_bows.csv": "doc_index,doc_id,token,bow\n0,C1,sql,1\n0,C1,sql,2\n"}),
        ("bows bad index", {"courses_bows.csv": "doc_index,doc_id,token,bow\nx,C1,sql,1\n"}),
        ("lone CR line endings", {"ratings.csv": RATINGS.replace("\n", "\r")}),
        ("CR in the middle of a line", {"ratings.csv": RATINGS.replace("1,C2,3", "1,C2\r,3")}),
        ("BOM in the middle", {"ratings.csv": (RATINGS + "\ufeff" + RATINGS).encode()}),
        (
            "ratings with 200 columns",
            {
                "ratings.csv": "user,item,rating,"
                + ",".join(f"x{i}" for i in range(197))
                + "\n1,C1,3"
                + ",0" * 197
                + "\n"
            },
        ),
        (
            "meta with 200 columns",
            {
                "course_meta.csv": "COURSE_ID,LEVEL,DURATION_HOURS,"
                + ",".join(f"x{i}" for i in range(197))
                + "\nC1,Beginner,3"
                + ",0" * 197
                + "\n"
            },
        ),
        (
            "bows with 200 columns",
            {
                "courses_bows.csv": "doc_index,doc_id,token,bow,"
                + ",".join(f"x{i}" for i in range(196))
                + "\n0,C1,sql,1"
                + ",0" * 196
                + "\n"
            },
        ),
        ("1,001-char learner id", _ratings("u" * 1001 + ",C1,3\n")),
        ("1,001-char course id", {"course_genre.csv": GENRE + "C" * 1001 + ",t,1,0\n"}),
    ]
    for value in ("abc", "", "inf", "-inf", "nan", "0", "-1", "1e308", "1e-300", "-1e9", "1e7", "3 stars", "0x3"):
        cases.append((f"rating {value!r}", _ratings(f"9,C1,{value}\n")))
    for value in (
        "=cmd|' /C calc'!A0",
        "![x](http://example.invalid/p.png)",
        "<img src=x onerror=alert(1)>",
        "$\\frac{1}{0}$",
        ":red[boom]",
    ):
        cases.append(
            (f"hostile title {value[:12]!r}", {"course_genre.csv": GENRE.replace("intro to sql", f'"{value}"')})
        )
    return cases


SHOULD_LOAD = {"case-different course": False, "ids beyond int64": True}


def classify(fn) -> tuple[str, str]:
    try:
        fn()
    except DatasetError as exc:
        text = str(exc)
        clear = (".csv" in text or "folder" in text or "path" in text) and "Traceback" not in text and len(text) < 2000
        return ("clear" if clear else "unclear"), text
    except Exception as exc:  # noqa: BLE001 - a traceback is what this bench counts
        return "traceback", f"{type(exc).__name__}: {exc}"
    return "loaded", ""


def snapshot(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


def write(folder: Path, overrides: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    files = {**BASE, **overrides}
    for name, content in files.items():
        if content is not None:
            (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())


def run_corpus(tmp: Path) -> dict:
    from recsys.ui import session

    allowed = tmp / "allowed"
    outside = tmp / "outside"
    write(outside, {})
    os.environ[session.ROOTS_ENV] = str(allowed)
    results = []

    def record(route, name, fn, folder=None, expect="clear"):
        before = snapshot(folder) if folder else None
        verdict, message = classify(fn)
        wrote = bool(folder) and snapshot(folder) != before
        results.append(
            {
                "route": route,
                "case": name,
                "verdict": verdict,
                "expected": expect,
                "wrote": wrote,
                "message": message[:300],
            }
        )

    for n, (name, overrides) in enumerate(corpus()):
        folder = allowed / f"case{n}"
        write(folder, overrides)
        expect = "loaded" if name.startswith("hostile title") else "clear"
        record("folder", name, lambda folder=folder: load_dataset(folder), folder, expect)
        files = {
            k: (v if isinstance(v, bytes) else v.encode()) for k, v in {**BASE, **overrides}.items() if v is not None
        }
        record("upload", name, lambda files=files: load_dataset_from_files(files), None, expect)
    # the app's confined folder route
    (allowed / "link").symlink_to(outside, target_is_directory=True)
    linked = allowed / "filelink"
    write(linked, {"ratings.csv": None})
    (linked / "ratings.csv").symlink_to(outside / "ratings.csv")
    (allowed / "dir-named").mkdir()
    write(allowed / "dir-named", {"ratings.csv": None})
    (allowed / "dir-named" / "ratings.csv").mkdir()
    for name, path in [
        ("/etc", "/etc"),
        ("home", "~"),
        ("/proc/self", "/proc/self"),
        ("empty path", ""),
        ("outside folder", str(outside)),
        ("dot-dot escape", str(allowed / ".." / "outside")),
        ("symlinked folder", str(allowed / "link")),
        ("symlinked ratings.csv", str(linked)),
        ("folder named ratings.csv", str(allowed / "dir-named")),
        ("5,000-char path", "/" + "x" * 4999),
        ("NUL in path", "/tmp/\x00x"),
        ("missing inside roots", str(allowed / "nope")),
    ]:
        record("app folder", name, lambda path=path: session.load_folder(path))
    big = "user,item,rating\n" + "".join(f"{2**63 + i},C{i % 3 + 1},3\n" for i in range(4))
    record("folder", "ids beyond int64", lambda: load_dataset(allowed / "big"), _w(allowed / "big", big), "loaded")
    return {"cases": results}


def _w(folder, ratings):
    write(folder, {"ratings.csv": ratings})
    return folder


# ----- uploads sized to exhaust memory: refused in < 5 s and < 500 MB, each measured in a forked child --------
def heavy_uploads():
    """(name, overrides) of uploads sized to exhaust memory, built one at a time (never all in memory at once)."""

    def wide() -> str:
        return ",".join(f"x{i}" for i in range(2_000_000))  # ~16 MB of header

    yield "ratings.csv with 2,000,000 extra columns", {"ratings.csv": "user,item,rating," + wide() + "\n1,C1,3\n"}
    yield (
        "course_processed.csv with 2,000,000 columns",
        {"course_processed.csv": "COURSE_ID,TITLE,DESCRIPTION," + wide() + "\nC1,t,d\n"},
    )
    yield (
        "course_meta.csv with 2,000,000 columns",
        {"course_meta.csv": "COURSE_ID,LEVEL,DURATION_HOURS," + wide() + "\nC1,Beginner,3\n"},
    )
    yield (
        "courses_bows.csv with 2,000,000 columns",
        {"courses_bows.csv": "doc_index,doc_id,token,bow," + wide() + "\n0,C1,sql,1\n"},
    )
    yield (
        "ratings rows with 1,000,000 extra fields each",
        {"ratings.csv": "user,item,rating\n" + "".join(f"{u},C1,3" + ",9" * 1_000_000 + "\n" for u in range(3))},
    )
    yield "50 MB learner id", _ratings("u" * 50_000_000 + ",C1,3\n")
    yield "100 MB of lone-CR lines", {"ratings.csv": "user,item,rating\r" + "1,C1,3\r" * 14_000_000}
    yield "course_genre.csv with 2,000,000 genres", {"course_genre.csv": "COURSE_ID,TITLE," + wide() + "\nC1,t,1\n"}


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def in_child(fn) -> dict:
    """Run `fn` (a refusal) in a forked child: verdict, message, seconds, and the child's peak memory growth."""
    import multiprocessing as mp

    def child(conn):
        start_rss = _rss_mb()
        began = time.perf_counter()
        verdict, message = classify(fn)
        seconds = time.perf_counter() - began
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        conn.send((verdict, message[:300], round(seconds, 2), round(max(0.0, peak - start_rss), 1)))
        conn.close()

    ctx = mp.get_context("fork")
    parent, sub = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=child, args=(sub,))
    proc.start()
    proc.join(120)
    if proc.is_alive():
        proc.kill()
        return {"verdict": "timeout", "message": "", "seconds": 120.0, "peak_mb": None}
    if not parent.poll():
        return {"verdict": "crashed", "message": f"exit code {proc.exitcode}", "seconds": None, "peak_mb": None}
    verdict, message, seconds, peak = parent.recv()
    return {"verdict": verdict, "message": message, "seconds": seconds, "peak_mb": peak}


def run_heavy(tmp: Path) -> list[dict]:
    out = []
    for name, overrides in heavy_uploads():
        files = {k: (v if isinstance(v, bytes) else v.encode()) for k, v in {**BASE, **overrides}.items()}
        size = sum(len(v) for v in files.values())
        row = {"route": "upload", "case": name, "expected": "clear", "wrote": False, "bytes": size}
        row.update(in_child(lambda files=files: load_dataset_from_files(files)))
        out.append(row)
        del files
    # files that are not files, through the folder route (never opened: a FIFO would block forever)
    special = tmp / "special"
    for name, make in [
        ("FIFO as course_meta.csv", lambda p: os.mkfifo(p)),
        ("/dev/zero as course_meta.csv", lambda p: p.symlink_to("/dev/zero")),
        ("folder as course_meta.csv", lambda p: p.mkdir()),
        ("dangling link as course_meta.csv", lambda p: p.symlink_to(tmp / "nowhere.csv")),
    ]:
        folder = special / name.split(" ")[0].strip("/").replace("/", "_")
        write(folder, {})
        make(folder / "course_meta.csv")
        before = {p.name for p in folder.iterdir()}
        row = {"route": "folder", "case": name, "expected": "clear", "bytes": 0}
        row.update(in_child(lambda folder=folder: load_dataset(folder)))
        row["wrote"] = {p.name for p in folder.iterdir()} != before
        out.append(row)
    return out


# ----- CLI options, library requests --------------------------------------------------------------
def run_cli(tmp: Path) -> list[dict]:
    """Each bad command in a subprocess: exit code 2 (or 1 for a history lost after the run), one 'error:' line,
    no traceback, nothing written (the data folder and the working folder are compared before and after)."""
    import subprocess

    work = tmp / "cli"
    data = work / "data"
    generate_dataset(data, seed=1, n_learners=200, n_courses=20)
    (work / "runs-corrupt.sqlite").write_bytes(b"not a database" * 100)
    (work / "out-is-a-folder.json").mkdir()
    course = (data / "course_genre.csv").read_text().splitlines()[1].split(",")[0]
    cases = [
        ("abtest --learners 1000000000", ["abtest", "--models", "popularity,knn", "--learners", "1000000000"]),
        ("abtest --sessions 1000000", ["abtest", "--models", "popularity,knn", "--sessions", "1000000"]),
        ("abtest --position-bias nan", ["abtest", "--models", "popularity,knn", "--position-bias", "nan"]),
        ("abtest --split nan,50", ["abtest", "--data", "data", "--models", "popularity,knn", "--split", "nan,50"]),
        ("compare --resamples 1000000000", ["compare", "--resamples", "1000000000"]),
        ("compare --k beyond the catalogue", ["compare", "--data", "data", "--models", "popularity", "--k", "500"]),
        ("compare --test-learners inf", ["compare", "--test-learners", "inf"]),
        ("compare --activity-bins 1,nan", ["compare", "--data", "data", "--activity-bins", "1,nan"]),
        ("compare --json to a folder", ["compare", "--data", "data", "--json", "out-is-a-folder.json"]),
        (
            "compare with a corrupted runs.sqlite",
            ["compare", "--data", "data", "--models", "popularity", "--db", "runs-corrupt.sqlite"],
        ),
        ("tune --folds 100000", ["tune", "--model", "popularity", "--folds", "100000"]),
        (
            "recommend --k beyond the catalogue",
            ["recommend", "--data", "data", "--model", "popularity", "--courses", course, "--k", "5000"],
        ),
        (
            "recommend --param n_neighbours=nan",
            ["recommend", "--data", "data", "--model", "knn", "--courses", course, "--param", "n_neighbours=nan"],
        ),
        ("generate --learners 10**10", ["generate", "--out", "big", "--learners", "10000000000"]),
        ("course-report --learners 10**9", ["course-report", "--course", course, "--learners", "1000000000"]),
        ("path --goal-weight nan", ["path", "--goal", "x", "--goal-weight", "nan"]),
        ("seed with 40 digits", ["compare", "--seed", "9" * 40]),
    ]
    out = []
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RECSYS_SECRET_KEY_FILE": str(work / "key" / "artifact.key")}
    for name, argv in cases:
        before = snapshot(work)
        began = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "recsys", *argv], cwd=work, env=env, capture_output=True, text=True, timeout=300
        )
        seconds = time.perf_counter() - began
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if "error:" in line]
        if "Traceback" in proc.stderr:
            verdict = "traceback"
        elif proc.returncode == 2 and len(errors) == 1:
            verdict = "clear"
        elif proc.returncode == 0:
            verdict = "loaded"
        else:
            verdict = "unclear"
        out.append(
            {
                "route": "cli",
                "case": name,
                "expected": "clear",
                "verdict": verdict,
                "wrote": snapshot(work) != before,
                "seconds": round(seconds, 2),
                "message": (errors[-1] if errors else proc.stderr[-300:])[:300],
            }
        )
    return out


def run_library(tmp: Path) -> list[dict]:
    from recsys.models import make_model

    dataset = load_dataset(tmp / "cli" / "data")
    model = make_model("popularity").fit(dataset)
    course = str(dataset.item_ids[0])
    cases = [
        ("recommend(None)", lambda: model.recommend(None)),
        ("history as a string", lambda: model.recommend(course)),
        ("NaN rating", lambda: model.recommend({course: float("nan")})),
        ("1e308 rating", lambda: model.recommend({course: 1e308})),
        ("-1e308 rating", lambda: model.recommend({course: -1e308})),
        ("k = 0", lambda: model.recommend([course], k=0)),
        ("k = 2.5", lambda: model.recommend([course], k=2.5)),
        ("liked as a string", lambda: model.recommend([course], liked=course)),
        ("unknown level", lambda: model.recommend([course], filters={"levels": ["Expert"]})),
        ("levels as a string", lambda: model.recommend([course], filters={"levels": "Beginner"})),
        ("genres as a string", lambda: model.recommend([course], filters={"genres": "Python"})),
        ("negative max_duration", lambda: model.recommend([course], filters={"max_duration": -2})),
        ("NaN max_duration", lambda: model.recommend([course], filters={"max_duration": float("nan")})),
        ("unknown filter", lambda: model.recommend([course], filters={"level": ["Beginner"]})),
        ("filters as a list", lambda: model.recommend([course], filters=["Beginner"])),
    ]
    out = []
    for name, fn in cases:
        try:
            fn()
            verdict, message = "loaded", ""
        except ValueError as exc:
            message = str(exc)
            named = message.split(":")[0].split("[")[0] in ("history", "k", "liked", "filters")
            verdict = "clear" if named else "unclear"
        except Exception as exc:  # noqa: BLE001
            verdict, message = "traceback", f"{type(exc).__name__}: {exc}"
        out.append(
            {
                "route": "library",
                "case": name,
                "expected": "clear",
                "verdict": verdict,
                "wrote": False,
                "message": message[:300],
            }
        )
    return out


# ----- artifacts and key files ------------------------------------------------------------------------
def run_artifacts(tmp: Path) -> list[dict]:
    import pickle
    import shutil

    from recsys.models import ArtifactError, load_model, make_model, persistence, save_model
    from recsys.serving.store import ModelStore

    os.environ.pop(persistence.KEY_ENV, None)
    os.environ[persistence.KEY_FILE_ENV] = str(tmp / "keys" / "artifact.key")
    dataset = load_dataset(tmp / "cli" / "data")
    marker = tmp / "payload-ran"
    out = []

    def record(name, fn, folder):
        before = snapshot(folder) if folder.exists() else {}
        began = time.perf_counter()
        try:
            fn()
            verdict, message = "loaded", ""
        except ArtifactError as exc:
            verdict, message = "clear", str(exc)
        except Exception as exc:  # noqa: BLE001
            verdict, message = "traceback", f"{type(exc).__name__}: {exc}"
        wrote = folder.exists() and snapshot(folder) != before
        out.append(
            {
                "route": "artifact",
                "case": name,
                "expected": "clear",
                "verdict": verdict,
                "wrote": wrote,
                "seconds": round(time.perf_counter() - began, 2),
                "message": message[:300],
            }
        )

    root = tmp / "art"
    pop = make_model("popularity").fit(dataset)
    good = save_model(pop, root / "good")

    def variant(name, change):
        folder = root / name
        shutil.copytree(good, folder)
        change(folder)
        record(name, lambda: load_model(folder, dataset), folder)

    variant("forged objects.pkl", lambda f: (f / "objects.pkl").write_bytes(pickle.dumps([os.system])))
    variant("1 GB manifest.sig", lambda f: os.truncate(f / "manifest.sig", 1 << 30))
    variant("FIFO as state.npz", lambda f: ((f / "state.npz").unlink(), os.mkfifo(f / "state.npz")))
    variant(
        "state.json a link to /dev/zero",
        lambda f: ((f / "state.json").unlink(), (f / "state.json").symlink_to("/dev/zero")),
    )
    variant("truncated state.npz", lambda f: (f / "state.npz").write_bytes((f / "state.npz").read_bytes()[:50]))
    stale = save_model(pop, root / "stale-code", code="000000000000")
    record("artifact from other model code", lambda: load_model(stale, dataset), stale)
    store = ModelStore(root / "store")
    store.get_or_train(dataset, "popularity", {"weight_completions": True})
    src = store.path_for(dataset, "popularity", {"weight_completions": True})
    dst = store.path_for(dataset, "popularity", {"weight_completions": False})
    shutil.copytree(src, dst)
    expect = {"key": "popularity", "params": {"weight_completions": False}}
    record("artifact replayed into other parameters' folder", lambda: load_model(dst, dataset, expect=expect), dst)
    key = persistence.key_file()
    for name, make in [
        ("key file is a FIFO", lambda p: os.mkfifo(p, 0o600)),
        ("key file is a folder", lambda p: p.mkdir(mode=0o700)),
        ("key file is empty", lambda p: p.touch(mode=0o600)),
        ("key file is a dangling link", lambda p: p.symlink_to(tmp / "no-such-key")),
    ]:
        saved = key.read_bytes() if key.is_file() else None
        key.unlink() if key.is_file() or key.is_symlink() else key.rmdir() if key.is_dir() else None
        make(key)
        notes: list[str] = []
        record(name, lambda: load_model(src, dataset), src)
        store.clear_memory()
        model, source = store.fetch(dataset, "popularity", {"weight_completions": True}, notify=notes.append)
        out[-1]["store"] = {"source": source, "artifact_kept": (src / "manifest.json").is_file(), "note": notes}
        key.unlink() if not key.is_dir() else key.rmdir()
        if saved is not None:
            key.write_bytes(saved)
            key.chmod(0o600)
    out.append(
        {
            "route": "artifact",
            "case": "payload ran",
            "expected": "clear",
            "verdict": "loaded" if marker.exists() else "clear",
            "wrote": False,
            "message": "",
        }
    )
    return out


def run_race(tmp: Path, loads: int = 200) -> dict:
    """The swap race of issue 23: a thread flips each state file between the genuine bytes and a pickle payload
    while the main thread loads `loads` times; count loads, refusals and payload runs."""
    import pickle

    from recsys.models import ArtifactError, load_model, make_model, save_model

    dataset = load_dataset(tmp / "cli" / "data")
    model = make_model("clustering", seed=0, n_clusters=3).fit(dataset)
    path = save_model(model, tmp / "race" / "clustering")
    marker = tmp / "race" / "payload-ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    payload = pickle.dumps([Payload()])
    names = [p.name for p in path.iterdir() if p.name not in ("manifest.json", "manifest.sig")]
    genuine = {n: (path / n).read_bytes() for n in names}
    stop = threading.Event()

    def swap():
        i = 0
        while not stop.is_set():
            name = names[i % len(names)]
            (path / f".{name}.x").write_bytes(payload)
            os.replace(path / f".{name}.x", path / name)
            (path / f".{name}.y").write_bytes(genuine[name])
            os.replace(path / f".{name}.y", path / name)
            i += 1

    thread = threading.Thread(target=swap, daemon=True)
    thread.start()
    loaded = refused = other = 0
    try:
        for _ in range(loads):
            try:
                load_model(path, dataset)
                loaded += 1
            except ArtifactError:
                refused += 1
            except Exception:  # noqa: BLE001
                other += 1
    finally:
        stop.set()
        thread.join()
    return {
        "loads": loads,
        "loaded": loaded,
        "refused": refused,
        "other_errors": other,
        "payload_ran": marker.exists(),
        "files": names,
    }


def run_sessions(n: int, tmp: Path) -> dict:
    """n AppTest sessions open at once in one server process (shared caches: uploads, datasets, models), each
    uploading its own dataset after all have started; each must keep seeing only its own. AppTest is not
    thread-safe, so the sessions' script runs are interleaved one at a time (a lock), not parallel."""
    from streamlit.testing.v1 import AppTest

    datasets = []
    for i in range(n):
        folder = tmp / f"s{i}"
        generate_dataset(folder, seed=i, n_learners=60 + i, n_courses=14)
        datasets.append((60 + i, [(f.name, f.read_bytes(), "text/csv") for f in sorted(folder.glob("*.csv"))]))
    os.environ.setdefault("RECSYS_DATA_DIR", str(tmp / "s0"))
    os.environ.setdefault("RECSYS_ARTIFACTS_DIR", str(tmp / "artifacts"))
    outcome = [None] * n
    barrier = threading.Barrier(n)
    lock = threading.Lock()

    def run(at):
        with lock:
            at.run()

    def one(i):
        learners, files = datasets[i]
        try:
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
            run(at)
            at.segmented_control(key="home_source_kind").set_value("upload")
            run(at)
            barrier.wait(timeout=600)
            at.file_uploader(key="home_upload").set_value(files)
            run(at)
            barrier.wait(timeout=600)
            for _ in range(2):  # re-render after all the others uploaded: still our own data
                run(at)
            caption = " ".join(c.value for c in at.sidebar.caption)
            outcome[i] = "ok" if f"{learners} learners" in caption and not at.exception else f"wrong: {caption[:80]}"
        except Exception as exc:  # noqa: BLE001
            outcome[i] = f"error: {type(exc).__name__}: {exc}"

    start = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "sessions": n,
        "ok": sum(o == "ok" for o in outcome),
        "problems": [o for o in outcome if o != "ok"],
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sessions = run_sessions(args.sessions, tmp) if args.sessions else None  # first: its peak RSS is its own
        report = run_corpus(tmp)
        heavy = run_heavy(tmp)
        report["cases"] += heavy + run_cli(tmp) + run_library(tmp) + run_artifacts(tmp)
        cases = report["cases"]
        tally = {v: sum(c["verdict"] == v for c in cases) for v in ("clear", "unclear", "traceback", "loaded")}
        as_expected = sum(c["verdict"] == c["expected"] for c in cases)
        print(
            f"bad inputs tried: {len(cases)}; clear messages: {tally['clear']}; unclear: {tally['unclear']}; "
            f"tracebacks: {tally['traceback']}; loaded: {tally['loaded']}; as expected: {as_expected}; "
            f"writes: {sum(c['wrote'] for c in cases)}"
        )
        routes = sorted({c["route"] for c in cases})
        for route in routes:
            mine = [c for c in cases if c["route"] == route]
            print(f"  {route:10} {len(mine):3} cases, {sum(c['verdict'] == c['expected'] for c in mine)} as expected")
        for c in cases:
            if c["verdict"] != c["expected"] or c["wrote"]:
                print(f"  {c['route']:10} {c['case']:32} {c['verdict']:9} {c['message'][:110]}")
        print("big uploads (each refused in a forked child; peak = that child's memory growth):")
        for c in heavy:
            print(
                f"  {c['case']:48} {c['bytes'] / 2**20:7.1f} MB  {c['verdict']:8} {c['seconds']} s  {c['peak_mb']} MB"
            )
        slowest = max((c["seconds"] or 0) for c in heavy)
        largest = max((c["peak_mb"] or 0) for c in heavy)
        print(f"worst big upload: {slowest} s, {largest} MB (targets < 5 s, < 500 MB)")
        report["race"] = run_race(tmp)
        print("swap race:", report["race"])
        if sessions:
            report["concurrency"] = sessions
            print("concurrency:", report["concurrency"])
        report["load_average"] = os.getloadavg()
        print("load average:", report["load_average"])
        if args.out:
            from recsys._json import write_json_atomic

            write_json_atomic(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
