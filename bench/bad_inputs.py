"""Robustness figures: a corpus of bad inputs through the loader's folder and upload routes and the app's
confined folder route, and N simultaneous app sessions (Streamlit AppTest, threads) for cross-talk.

For every case: did it give one clear message (a DatasetError naming the file, the folder rule or the limit),
a traceback (any other exception), or an unexpected success; and did anything get written to the folder.

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
        report = run_corpus(tmp)
        cases = report["cases"]
        tally = {v: sum(c["verdict"] == v for c in cases) for v in ("clear", "unclear", "traceback", "loaded")}
        as_expected = sum(c["verdict"] == c["expected"] for c in cases)
        print(
            f"bad inputs tried: {len(cases)}; clear messages: {tally['clear']}; unclear: {tally['unclear']}; "
            f"tracebacks: {tally['traceback']}; loaded: {tally['loaded']}; as expected: {as_expected}; "
            f"writes: {sum(c['wrote'] for c in cases)}"
        )
        for c in cases:
            if c["verdict"] != c["expected"]:
                print(f"  {c['route']:10} {c['case']:32} {c['verdict']:9} {c['message'][:110]}")
        if args.sessions:
            report["concurrency"] = run_sessions(args.sessions, tmp)
            print("concurrency:", report["concurrency"])
        report["load_average"] = os.getloadavg()
        print("load average:", report["load_average"])
        if args.out:
            from recsys._json import write_json_atomic

            write_json_atomic(args.out, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
