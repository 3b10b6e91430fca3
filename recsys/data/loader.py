"""Read an IBM "course recommender" folder (or the same files uploaded as bytes) into a `Dataset`.

Files: `ratings.csv` (user, item, rating), `course_genre.csv` (COURSE_ID, TITLE, then one 0/1 column per
genre), `course_processed.csv` (COURSE_ID, [TITLE,] DESCRIPTION); optional `course_meta.csv`
(COURSE_ID, LEVEL, DURATION_HOURS) and `courses_bows.csv` (doc_index, doc_id, token, bow).

Every problem raises ONE `DatasetError` naming the file, the column, the first offending rows (up to 5, plus
the count) and what was expected. Row numbers are spreadsheet rows: the header is row 1, the first data
row is row 2 (a CSV line number only differs when a quoted cell spans several lines). Encoding problems
give the line and byte offset instead.

Policies (deliberate, tested):
- The catalogue is `course_genre.csv`, in its order; TITLE comes from it (kept as written, e.g. lower case).
- A course with no row in `course_processed.csv` gets an empty DESCRIPTION; descriptions (and metadata,
  bag-of-words rows) for ids not in the catalogue are ignored and counted in `load_report` -- extra text
  cannot corrupt anything -- unless none of them match, which means the files do not belong together.
- Ratings naming an unknown course are an error (they would silently vanish from the matrix).
- Duplicate (user, item) pairs: exact repeats (same rating) are collapsed to one and counted in
  `load_report["duplicates_collapsed"]`; the same pair with different ratings is an error listing them.
- Ratings must be finite and > 0 (0 means "not rated" in the matrix). With `rating_scale=(lo, hi)` they
  must lie in [lo, hi]; without it the scale is inferred as (min, max), or (0, max) if all ratings are
  equal (so the top of the scale still means "completed").
- Headers match ignoring case and surrounding whitespace when that is unambiguous; cells are stripped; a
  UTF-8 BOM is accepted; blank lines are skipped; integer learner ids stay int64, others stay strings.
- Nothing is ever written to the folder.

Bounds (each breach is one `DatasetError` naming the file): a file is at most `max_file_bytes()` (setting
RECSYS_MAX_FILE_MB, default 500), text (no NUL bytes or known binary signatures), with cells of at most
MAX_FIELD_CHARS characters (ids: MAX_ID_CHARS), at most MAX_GENRES genre columns and MAX_COLUMNS columns in the
other files, LF or CRLF line endings and a byte-order mark only at the start; ratings lie in RATING_RANGE in magnitude;
learner ids too large for int64 stay text. With `allowed_roots`, the folder and every file it supplies must
resolve (symlinks followed) inside one of those roots, and a refusal says nothing about the path.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import os
import re
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from recsys._files import NotARegularFile, kind, read_capped
from recsys.data.dataset import LEVELS, Dataset
from recsys.data.errors import DatasetError

RATINGS, GENRE, PROCESSED, META, BOWS = (
    "ratings.csv",
    "course_genre.csv",
    "course_processed.csv",
    "course_meta.csv",
    "courses_bows.csv",
)
REQUIRED_FILES = (RATINGS, GENRE, PROCESSED)
OPTIONAL_FILES = (META, BOWS)
ROWS_NOTE = "spreadsheet rows; the header is row 1"
SHOW = 5
MAX_GENRES = 1_000  # genre columns in course_genre.csv
MAX_COLUMNS = 100  # columns in every other file (each expects 3-4; a few extra are ignored)
MAX_FIELD_CHARS = 100_000  # characters in one header name or cell
MAX_ID_CHARS = 1_000  # characters in one learner or course id
MAX_PATH_CHARS = 4_096  # characters in a folder path (Linux PATH_MAX)
RATING_RANGE = (1e-6, 1e6)  # |rating| outside this makes sums, means and products unsafe in float math
FILE_LIMIT_ENV = "RECSYS_MAX_FILE_MB"
_BINARY_SIGNATURES = {
    b"PK\x03\x04": "a zip file or Excel workbook",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\x7fELF": "a program (ELF binary)",
    b"GIF8": "a GIF image",
    b"\xff\xd8\xff": "a JPEG image",
    b"\x1f\x8b": "a gzip archive",
    b"SQLite format": "a SQLite database",
}
FOLDER_REFUSED = (
    "not a folder this server may load data from: datasets can only be loaded from the data folders "
    "the operator allowed (RECSYS_DATA_ROOTS); upload the files instead"
)


def max_file_bytes() -> int:
    """Largest accepted data file in bytes (setting RECSYS_MAX_FILE_MB, default 500 MB)."""
    try:
        return int(float(os.environ.get(FILE_LIMIT_ENV) or 500) * 1024 * 1024)
    except ValueError:
        return 500 * 1024 * 1024


def inside_roots(path: Path, roots) -> bool:
    """True if `path` (symlinks resolved) is one of `roots` or below one of them (each resolved too)."""
    try:
        real = Path(os.path.realpath(path))
    except (OSError, ValueError):
        return False
    for root in roots:
        try:
            if real.is_relative_to(Path(os.path.realpath(root))):
                return True
        except (OSError, ValueError):
            continue
    return False


# ----- public entry points ------------------------------------------------------------------------
def load_dataset(path, *, rating_scale=None, name: str | None = None, allowed_roots=None) -> Dataset:
    """Load an IBM-format folder. Reads bytes only; the folder is never modified.

    `allowed_roots` (a list of folders; None = anywhere, for the CLI) confines the folder and each file in it,
    after resolving symlinks; anything outside gets one message that reveals nothing about it.
    """
    text = str(path)
    if len(text) > MAX_PATH_CHARS:
        raise DatasetError(f"the folder path is {len(text):,} characters long; expected at most {MAX_PATH_CHARS:,}")
    if "\x00" in text:
        raise DatasetError("the folder path contains a NUL character; expected a plain folder path")
    folder = Path(path)
    if allowed_roots is not None and (not text.strip() or not inside_roots(folder, allowed_roots)):
        raise DatasetError(FOLDER_REFUSED)
    try:
        is_dir = folder.is_dir()
    except OSError as exc:
        raise DatasetError(
            f"the folder path cannot be used ({exc.strerror or 'invalid path'}); expected a folder "
            f"containing {_file_list()}"
        ) from None
    if not is_dir:
        raise DatasetError(
            f"dataset folder {str(folder)!r} does not exist or is not a folder; "
            f"expected a folder containing {_file_list()}"
        )
    present, folders = set(), set()
    for fname in REQUIRED_FILES + OPTIONAL_FILES:  # look up only the expected names: never list the folder
        candidate = folder / fname
        try:
            mode = os.stat(candidate).st_mode  # never opens: a FIFO cannot block here
        except FileNotFoundError:
            if os.path.lexists(candidate):
                raise DatasetError(
                    f"{fname} is a link to a file that does not exist; expected a CSV text file"
                ) from None
            continue
        except OSError as exc:
            raise DatasetError(f"{fname}: cannot be read ({exc.strerror or exc})") from None
        if stat.S_ISDIR(mode):
            folders.add(fname)
        elif stat.S_ISREG(mode):
            present.add(fname)
        else:  # a FIFO, /dev/zero, a socket: refused by name, never opened, never silently dropped
            raise DatasetError(f"{fname} is {kind(mode)}, not a regular file; expected a CSV text file")
    for fname in OPTIONAL_FILES:
        if fname in folders:  # an optional file that is a folder is a mistake, not an absent file
            raise DatasetError(f"{fname} is a folder, not a file; expected a CSV text file (or no {fname} at all)")
    missing = [f for f in REQUIRED_FILES if f not in present]
    if missing:
        shapes = [f"{f} is a folder, not a file" for f in missing if f in folders]
        raise DatasetError(
            f"dataset folder {str(folder)!r} is missing {', '.join(missing)}"
            + (f" ({'; '.join(shapes)})" if shapes else "")
            + f"; it must contain {_file_list()}. Present: {', '.join(sorted(present)) or 'none of these'}"
            + _case_hints(folder, missing)
        )
    files = {}
    limit = max_file_bytes()
    for fname in REQUIRED_FILES + OPTIONAL_FILES:
        if fname in present:
            file = folder / fname
            if allowed_roots is not None and not inside_roots(file, allowed_roots):
                raise DatasetError(f"{fname}: {FOLDER_REFUSED} (the file links outside them)")
            try:
                size = file.stat().st_size
                if size > limit:
                    raise DatasetError(_too_large(fname, size, limit))
                files[fname] = (fname, read_capped(file, limit, follow_links=True))  # the bytes checked are parsed
            except NotARegularFile as exc:
                raise DatasetError(
                    f"{fname}: {str(exc).replace(str(file), 'the file')}; expected a CSV text file"
                ) from None
            except OSError as exc:
                raise DatasetError(f"{fname}: cannot be read ({exc.strerror or exc})") from None
    return _build(files, rating_scale, name or folder.name, source=str(folder))


def _case_hints(folder: Path, missing) -> str:
    """Expected files present under another letter case (only those names are ever reported)."""
    wanted, hints = {m.lower(): m for m in missing}, []
    try:
        for n, entry in enumerate(os.scandir(folder)):
            if n > 10_000:
                break
            if entry.name.lower() in wanted and entry.name != wanted[entry.name.lower()]:
                hints.append(f"{entry.name!r} -> {wanted[entry.name.lower()]!r}")
    except OSError:
        return ""
    return f". Rename: {', '.join(hints)}?" if hints else ""


def _too_large(label: str, size: int, limit: int) -> str:
    def amount(n: int) -> str:
        return f"{n / 2**20:,.1f} MB" if n >= 2**20 // 10 else f"{n:,} bytes"

    return f"{label} is {amount(size)}; the limit is {amount(limit)} per file (setting {FILE_LIMIT_ENV})"


def load_dataset_from_files(files: Mapping[str, bytes], *, rating_scale=None, name: str = "uploaded") -> Dataset:
    """Load uploaded CSV bytes keyed by file name (any folder prefix and letter case are ignored)."""
    chosen: dict[str, tuple[str, bytes]] = {}
    ignored = []
    limit = max_file_bytes()
    for key, data in files.items():
        base = re.split(r"[\\/]", str(key))[-1].strip()
        canonical = base.lower()
        if canonical not in REQUIRED_FILES + OPTIONAL_FILES:
            ignored.append(base)
            continue
        if canonical in chosen:
            raise DatasetError(
                f"two uploaded files are both {canonical}: {chosen[canonical][0]!r} and {base!r}; upload each file once"
            )
        if len(data) > limit:
            raise DatasetError(_too_large(f"uploaded {base}", len(data), limit))
        chosen[canonical] = (f"uploaded {base}", bytes(data))
    missing = [f for f in REQUIRED_FILES if f not in chosen]
    if missing:
        got = sorted([v[0].removeprefix("uploaded ") for v in chosen.values()] + ignored)
        raise DatasetError(
            f"uploaded files are missing {', '.join(missing)}; upload {_file_list()}. "
            f"Uploaded: {', '.join(got) or 'nothing'}{_suggest_names(missing, got)}"
        )
    ds = _build(chosen, rating_scale, name, source="uploaded files")
    if ignored:
        ds.load_report["notes"].append(f"ignored uploaded files with unknown names: {', '.join(sorted(ignored))}")
    return ds


# ----- the one code path -------------------------------------------------------------------------
def _build(files: dict[str, tuple[str, bytes]], rating_scale, name: str, source: str) -> Dataset:
    scale = _check_scale(rating_scale)
    report = {
        "source": source,
        "files": sorted(files),
        "rows": {},
        "blank_rows_skipped": 0,
        "duplicates_collapsed": 0,
        "courses_without_description": [],
        "notes": [],
    }

    def table(fname: str, str_columns=None) -> _Table:
        t = _Table(fname, *files[fname], str_columns=str_columns)
        report["rows"][fname] = len(t.df)
        report["blank_rows_skipped"] += t.blank_rows
        return t

    courses, genres = _read_catalogue(table(GENRE))
    ids = pd.Index(courses["COURSE_ID"])
    _attach_descriptions(courses, ids, table(PROCESSED), report)
    courses["LEVEL"] = pd.Series([None] * len(courses), dtype=object)
    courses["DURATION_HOURS"] = np.full(len(courses), np.nan)
    if META in files:
        _attach_meta(courses, ids, table(META), report)
    bows = _read_bows(table(BOWS), ids, report) if BOWS in files else None
    ratings = _read_ratings(table(RATINGS, str_columns=("item",)), ids, scale, report)
    report["rating_scale_inferred"] = scale is None
    if scale is None:
        lo, hi = float(ratings["rating"].min()), float(ratings["rating"].max())
        if lo == hi:
            lo = 0.0
            report["notes"].append(f"all ratings equal {hi:g}; rating scale inferred as (0, {hi:g})")
        scale = (lo, hi)
    report["rating_scale"] = scale
    ds = Dataset(ratings, courses, genres, rating_scale=scale, bows=bows, name=name)
    ds.load_report = report
    return ds


def _check_scale(rating_scale):
    if rating_scale is None:
        return None
    try:
        lo, hi = (float(v) for v in rating_scale)
    except (TypeError, ValueError):
        raise DatasetError(f"rating_scale must be two numbers (low, high), got {rating_scale!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo < hi):
        raise DatasetError(f"rating_scale must be finite numbers with 0 <= low < high, got {rating_scale!r}")
    return lo, hi


# ----- the files ---------------------------------------------------------------------------------
def _read_catalogue(t: _Table) -> tuple[pd.DataFrame, list[str]]:
    cid, title = t.require("COURSE_ID", "TITLE")
    df = t.df
    after = list(df.columns[list(df.columns).index(title) + 1 :])
    genres = [c for c in after if c != cid]
    if not genres:
        raise DatasetError(
            f"{t.label}: no genre columns after TITLE; expected COURSE_ID, TITLE and then one 0/1 "
            f"column per genre (found columns: {', '.join(t.found)})"
        )
    seen: dict[str, str] = {}
    for g in genres:
        if g.casefold() in seen:
            raise DatasetError(
                f"{t.label}: genre columns {seen[g.casefold()]!r} and {g!r} have the same name; "
                f"expected each genre once"
            )
        seen[g.casefold()] = g
    ids = t.nonempty(cid, "a course id")
    t.unique(ids, cid)
    titles = t.nonempty(title, "a course title")
    # one step for all genre columns (one DataFrame column at a time is quadratic in the number of genres)
    raw = df[genres].to_numpy(dtype=object)
    flags = np.zeros(raw.shape, dtype=np.int64)
    flags[raw == "1"] = 1
    odd = ~((raw == "0") | (raw == "1"))
    if odd.any():  # '1.0', ' 1' and the like: parse only those cells
        cols = np.flatnonzero(odd.any(axis=0))
        for j in cols:
            num = pd.to_numeric(df[genres[j]], errors="coerce")
            t.check(genres[j], ~num.isin([0, 1]).to_numpy(), df[genres[j]], "a genre flag that is not 0 or 1", "0 or 1")
            flags[:, j] = num.astype(np.int64).to_numpy()
    base = pd.DataFrame({"COURSE_ID": ids.to_numpy(), "TITLE": titles.to_numpy(), "DESCRIPTION": ""})
    courses = pd.concat([base, pd.DataFrame(flags, columns=genres)], axis=1)
    return courses, genres


def _attach_descriptions(courses: pd.DataFrame, ids: pd.Index, t: _Table, report: dict) -> None:
    cid, desc = t.require("COURSE_ID", "DESCRIPTION")
    pid = t.nonempty(cid, "a course id")
    t.unique(pid, cid)
    pos = ids.get_indexer(pid)
    _check_overlap(t, cid, pid, pos, "descriptions")
    known = pos >= 0
    courses.loc[pos[known], "DESCRIPTION"] = t.df[desc].to_numpy()[known]
    courses["DESCRIPTION"] = courses["DESCRIPTION"].astype(str)
    _note_extra(report, t, pid[~known], "descriptions")
    missing = courses["COURSE_ID"][courses["DESCRIPTION"] == ""].tolist()
    report["courses_without_description"] = missing
    if missing:
        report["notes"].append(f"{len(missing)} course(s) have no description in {PROCESSED}")


def _attach_meta(courses: pd.DataFrame, ids: pd.Index, t: _Table, report: dict) -> None:
    cid, level, hours = t.require("COURSE_ID", "LEVEL", "DURATION_HOURS")
    mid = t.nonempty(cid, "a course id")
    t.unique(mid, cid)
    raw_level = t.df[level]
    canon = {lv.casefold(): lv for lv in LEVELS}
    lv = raw_level.str.casefold().map(canon)
    t.check(
        level,
        (lv.isna() & (raw_level != "")).to_numpy(),
        raw_level,
        "an unknown LEVEL",
        f"one of {', '.join(LEVELS)} (or empty if unknown)",
    )
    raw_hours = t.df[hours]
    num = pd.to_numeric(raw_hours, errors="coerce").to_numpy(np.float64)
    given = (raw_hours != "").to_numpy()
    t.check(
        hours,
        given & ~np.isfinite(num),
        raw_hours,
        "a non-numeric DURATION_HOURS",
        "a number of hours (or empty if unknown)",
    )
    t.check(hours, given & (num < 0), raw_hours, "a negative DURATION_HOURS", "a number of hours >= 0")
    pos = ids.get_indexer(mid)
    _check_overlap(t, cid, mid, pos, "metadata")
    known = pos >= 0
    levels = np.full(len(courses), None, dtype=object)
    levels[pos[known]] = lv.to_numpy(dtype=object)[known]
    courses["LEVEL"] = pd.Series([None if pd.isna(v) else v for v in levels], dtype=object)
    dur = courses["DURATION_HOURS"].to_numpy(np.float64).copy()
    dur[pos[known]] = num[known]
    courses["DURATION_HOURS"] = dur
    _note_extra(report, t, mid[~known], "metadata rows")


def _read_bows(t: _Table, ids: pd.Index, report: dict) -> pd.DataFrame:
    dix, did, tok, bow = t.require("doc_index", "doc_id", "token", "bow")
    doc_id = t.nonempty(did, "a course id")
    token = t.nonempty(tok, "a token")
    index = pd.to_numeric(t.df[dix], errors="coerce").to_numpy(np.float64)
    t.check(
        dix,
        ~(np.isfinite(index) & (index >= 0) & (index == np.round(index))),
        t.df[dix],
        "a doc_index that is not a whole number >= 0",
        "a whole number >= 0",
    )
    counts = pd.to_numeric(t.df[bow], errors="coerce").to_numpy(np.float64)
    t.check(
        bow, ~(np.isfinite(counts) & (counts >= 0)), t.df[bow], "a bow count that is not a number >= 0", "a count >= 0"
    )
    pairs = pd.DataFrame({"d": doc_id.to_numpy(), "t": token.to_numpy()})
    dup = pairs.duplicated(keep=False).to_numpy()
    t.check(tok, dup, doc_id + " / " + token, "a repeated (doc_id, token) pair", "each token once per course")
    pos = ids.get_indexer(doc_id)
    _check_overlap(t, did, doc_id, pos, "bag-of-words rows")
    known = pos >= 0
    _note_extra(report, t, doc_id[~known], "bag-of-words rows")
    out = pd.DataFrame(
        {
            "doc_index": index.astype(np.int64),
            "doc_id": doc_id.to_numpy(),
            "token": token.to_numpy(),
            "bow": counts.astype(np.int64) if (counts == np.round(counts)).all() else counts,
        }
    )
    return out[known].reset_index(drop=True)


def _read_ratings(t: _Table, ids: pd.Index, scale, report: dict) -> pd.DataFrame:
    ucol, icol, rcol = t.require("user", "item", "rating")
    df = t.df
    users = t.user_ids(ucol)
    items = df[icol].str.strip()
    t.check(icol, (items.isna() | (items == "")).to_numpy(), items, "an empty course id", "a course id")
    t.short_ids(icol, items)
    raw = df[rcol]
    rating = (
        raw.to_numpy(np.float64)
        if pd.api.types.is_float_dtype(raw) or pd.api.types.is_integer_dtype(raw)
        else pd.to_numeric(raw.astype(str).str.strip(), errors="coerce").to_numpy(np.float64)
    )
    t.check(rcol, ~np.isfinite(rating), raw, "an empty, non-numeric or non-finite rating", "a finite number")
    lo, hi = RATING_RANGE
    t.check(
        rcol,
        (np.abs(rating) > hi) | ((rating != 0) & (np.abs(rating) < lo)),
        raw,
        "a rating too large or too small for safe arithmetic",
        f"ratings between {lo:g} and {hi:g} in magnitude",
    )
    if scale is None:
        t.check(rcol, rating <= 0, raw, "a rating <= 0", "a rating > 0 (0 means 'not rated' in the matrix)")
    else:
        t.check(
            rcol,
            (rating < scale[0]) | (rating > scale[1]) | (rating <= 0),
            raw,
            "a rating outside the declared scale",
            f"a rating in [{scale[0]:g}, {scale[1]:g}] (the rating_scale argument) and > 0",
        )
    # unknown courses: factorize first so the catalogue lookup runs on the few distinct ids
    codes, uniq = pd.factorize(items)
    upos = ids.get_indexer(uniq)
    bad = upos[codes] < 0
    if bad.any():
        unknown = pd.Index(uniq[upos < 0])
        fold = {str(c).casefold(): c for c in ids}
        hint = [f"{u!r} -> {fold[u.casefold()]!r}" for u in unknown[:SHOW] if u.casefold() in fold]
        raise DatasetError(
            f"{t.label}, column '{icol}': {len(unknown)} course id(s) not in {GENRE}: "
            f"{', '.join(repr(u) for u in unknown[:SHOW])}{' ...' if len(unknown) > SHOW else ''}; "
            f"{t.rows_text(bad, items)}. Expected every rated course to be listed in {GENRE}"
            + (f" (letter case differs: {', '.join(hint)})" if hint else "")
        )
    item_pos = upos[codes].astype(np.int64)
    out = pd.DataFrame({"user": users, "item": items.astype("str"), "rating": rating})
    return _collapse_duplicates(t, out, item_pos, len(ids), ucol, report)


def _collapse_duplicates(t, out, item_pos, n_items, ucol, report) -> pd.DataFrame:
    users = out["user"]
    if pd.api.types.is_integer_dtype(users) and (int(users.max()) - int(users.min()) + 1) * n_items < 2**62:
        ucode = users.to_numpy(np.int64) - int(users.min())  # no hashing needed for integer ids
    else:
        ucode = pd.factorize(users)[0].astype(np.int64)
    key = ucode * n_items + item_pos
    sk = np.sort(key)
    if not (sk[1:] == sk[:-1]).any():  # the common case: one unstable sort, no argsort
        return out
    order = np.argsort(key, kind="stable")
    sk = key[order]
    same = sk[1:] == sk[:-1]
    rating = out["rating"].to_numpy()
    conflict_pairs = same & (rating[order][1:] != rating[order][:-1])
    if conflict_pairs.any():
        bad_keys = np.unique(sk[1:][conflict_pairs])
        mask = np.isin(key, bad_keys)
        label = out["user"].astype(str) + " / " + out["item"] + " = " + out["rating"].map("{:g}".format)
        raise DatasetError(
            f"{t.label}, columns '{ucol}', 'item', 'rating': {len(bad_keys)} (user, item) pair(s) rated more than "
            f"once with different ratings; {t.rows_text(mask, label)}. Expected one rating per learner and course "
            f"(exact repeats are merged, conflicting ones cannot be)"
        )
    dup = np.zeros(len(out), dtype=bool)
    dup[order[1:][same]] = True
    report["duplicates_collapsed"] = int(dup.sum())
    report["notes"].append(f"collapsed {int(dup.sum())} exactly repeated rating row(s) in {RATINGS}")
    return out[~dup].reset_index(drop=True)


def _check_overlap(t, col, ids, pos, what) -> None:
    if len(pos) and not (pos >= 0).any():
        raise DatasetError(
            f"{t.label}, column '{col}': none of its {len(pos)} course ids are in {GENRE} "
            f"(first: {', '.join(repr(i) for i in ids[:SHOW])}); expected the {what} of the "
            f"catalogue's courses -- are these files from the same dataset?"
        )


def _note_extra(report, t, extra, what) -> None:
    if len(extra):
        uniq = pd.unique(np.asarray(extra, dtype=object))
        report["notes"].append(
            f"ignored {len(extra)} {what} in {t.label} for {len(uniq)} course id(s) not in "
            f"{GENRE}: {', '.join(map(str, uniq[:SHOW]))}{' ...' if len(uniq) > SHOW else ''}"
        )


# ----- one CSV file ------------------------------------------------------------------------------
class _Table:
    """A parsed CSV file plus what error messages need: its label, header as written, spreadsheet rows."""

    def __init__(self, fname: str, label: str, data: bytes, str_columns: Sequence[str] | None):
        self.fname, self.label, self.data = fname, label, data
        _check_binary(label, data)
        _check_utf8(label, data)
        data = self._body()
        _check_line_endings(label, data)
        if not re.search(rb"\S", data):
            raise DatasetError(f"{label} is empty (no header, no data rows); expected {_EXPECTED[fname]}")
        if not data.split(b"\n", 1)[0].strip():
            raise DatasetError(f"{label}: line 1 is blank; expected the header ({_EXPECTED[fname]}) on line 1")
        line = data[: data.find(b"\n") if b"\n" in data else None]
        cap = MAX_GENRES + 2 if fname == GENRE else MAX_COLUMNS
        if b'"' not in line and line.count(b",") + 1 > cap:  # no quotes: the commas count the columns exactly
            _too_many_columns(label, fname, line.count(b",") + 1)
        first = line.decode()
        del line
        try:
            header = next(csv.reader(io.StringIO(first)), [])
        except csv.Error:  # e.g. a header cell longer than the csv module's field limit
            header = [first[: MAX_FIELD_CHARS + 1]]
        if any(len(h) > MAX_FIELD_CHARS for h in header):
            raise DatasetError(
                f"{label}: a header name is longer than {MAX_FIELD_CHARS:,} characters; expected {_EXPECTED[fname]}"
            )
        if len(header) > cap:
            _too_many_columns(label, fname, len(header))
        _check_first_row_width(label, data, len(header), MAX_GENRES + 2 if fname == GENRE else MAX_COLUMNS)
        self.found = [h.strip().lstrip("\ufeff") for h in header]
        if len(self.found) == 1 and re.search(r"[;\t|]", self.found[0]):
            sep = re.search(r"[;\t|]", self.found[0]).group()
            raise DatasetError(
                f"{label}: the header {header[0]!r} is one column separated by {sep!r}; expected "
                f"comma-separated {_EXPECTED[fname]} (re-save as CSV with commas)"
            )
        dtype = None
        if str_columns is None:
            dtype = str
        elif str_columns:
            want = {c.casefold() for c in str_columns}
            dtype = {raw: str for raw, clean in zip(header, self.found) if clean.casefold() in want}
        try:
            df = pd.read_csv(
                io.BytesIO(data),
                dtype=dtype,
                keep_default_na=False,
                na_values=[""],
                skip_blank_lines=False,
                skipinitialspace=True,
            )
        except pd.errors.ParserError as exc:
            raise DatasetError(f"{label} could not be parsed as CSV: {_parser_message(exc)}") from None
        except pd.errors.EmptyDataError:
            raise DatasetError(f"{label} is empty (no header, no data rows); expected {_EXPECTED[fname]}") from None
        if not isinstance(df.index, pd.RangeIndex):  # every row has more fields than the header: pandas made an index
            raise DatasetError(
                f"{label} could not be parsed as CSV: the data rows have more fields than the header "
                f"({len(header)}); expected {len(header)} comma-separated fields per row "
                f"(quote cells that contain commas)"
            )
        if len(self.found) != len(df.columns):  # e.g. blank lines above the header
            self.found = [str(c).strip() for c in df.columns]
        df.columns = self.found
        self._drop_unnamed(df)
        if str_columns is None:
            df = df.fillna("").apply(lambda s: s.str.replace("\r\n", "\n").str.strip())
            blank = (df == "").all(axis=1).to_numpy()
            if len(df.columns) and len(data) > MAX_FIELD_CHARS:  # only a file this large can hold a huge cell
                longest = df.apply(lambda s: s.str.len()).max()
                if longest.max() > MAX_FIELD_CHARS:
                    col = longest.idxmax()
                    raise DatasetError(
                        f"{label}, column '{col}': a cell is {int(longest.max()):,} characters long; "
                        f"expected at most {MAX_FIELD_CHARS:,} characters per cell"
                    )
        else:
            blank = df.isna().all(axis=1).to_numpy()
        self.row_numbers = np.arange(len(df), dtype=np.int64) + 2
        self.blank_rows = int(blank.sum())
        if self.blank_rows:
            df, self.row_numbers = df[~blank].reset_index(drop=True), self.row_numbers[~blank]
        if not len(df):
            raise DatasetError(
                f"{label} has a header but no data rows; expected {_EXPECTED[fname]} "
                f"with at least one row below the header"
            )
        self.df = df

    def _drop_unnamed(self, df: pd.DataFrame) -> None:
        names = list(df.columns)
        for i, n in enumerate(names):
            if n == "":
                col = df.iloc[:, i]
                if col.isna().all() or (col.astype(str).str.strip().fillna("") == "").all():
                    continue
                raise DatasetError(
                    f"{self.label}: column {i + 1} has no name in the header but holds values "
                    f"(e.g. {col.dropna().iloc[0]!r}); expected {_EXPECTED[self.fname]}"
                )
        keep = [i for i, n in enumerate(names) if n != ""]
        self.positions = dict(zip((names[i] for i in keep), keep))
        if len(keep) < len(names):
            df.drop(columns=[""], inplace=True)
            self.found = [names[i] for i in keep]

    def require(self, *expected: str) -> list[str]:
        """The actual column names for `expected`, matched ignoring case and surrounding whitespace."""
        out = []
        for want in expected:
            hits = [c for c in self.found if c.casefold() == want.casefold()]
            if len(hits) > 1:
                raise DatasetError(
                    f"{self.label}: columns {', '.join(repr(h) for h in hits)} all match {want!r}; "
                    f"expected exactly one {want} column"
                )
            if not hits:
                close = difflib.get_close_matches(want.casefold(), [c.casefold() for c in self.found], n=1, cutoff=0.6)
                guess = [c for c in self.found if close and c.casefold() == close[0]]
                raise DatasetError(
                    f"{self.label}: missing column {want!r}. Found columns: {', '.join(map(repr, self.found))}; "
                    f"expected {_EXPECTED[self.fname]}" + (f". Did you mean {guess[0]!r}?" if guess else "")
                )
            out.append(hits[0])
        return out

    def nonempty(self, col: str, what: str) -> pd.Series:
        values = self.df[col]
        self.check(col, (values == "").to_numpy(), values, f"an empty cell instead of {what}", what)
        if what == "a course id":
            self.short_ids(col, values)
        return values

    def short_ids(self, col: str, values: pd.Series) -> None:
        """Ids are names, not documents: at most MAX_ID_CHARS characters (a 50 MB id is an attack or an error)."""
        lengths = values.astype(str).str.len().to_numpy()
        self.check(
            col,
            lengths > MAX_ID_CHARS,
            values,
            f"an id longer than {MAX_ID_CHARS:,} characters",
            f"ids of at most {MAX_ID_CHARS:,} characters",
        )

    def unique(self, values: pd.Series, col: str) -> None:
        dup = values.duplicated(keep=False).to_numpy()
        if dup.any():
            ids = pd.unique(values[dup].to_numpy())
            raise DatasetError(
                f"{self.label}, column '{col}': {len(ids)} course id(s) appear more than once "
                f"({', '.join(map(repr, ids[:SHOW]))}{' ...' if len(ids) > SHOW else ''}); "
                f"{self.rows_text(dup, values)}. Expected each course once"
            )

    def user_ids(self, col: str) -> pd.Series:
        """Learner ids: int64 when every id is a whole number, else stripped strings."""
        s = self.df[col]
        if pd.api.types.is_signed_integer_dtype(s):
            return s.astype(np.int64)
        raw = pd.read_csv(
            io.BytesIO(self._body()),
            usecols=[self._position(col)],
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
        ).iloc[:, 0]
        raw = raw.iloc[self.row_numbers - 2].reset_index(drop=True).str.strip()
        self.check(col, (raw == "").to_numpy(), raw, "an empty learner id", "a learner id")
        self.short_ids(col, raw)
        whole = raw.str.fullmatch(r"[+-]?(0|[1-9][0-9]{0,17})(\.0*)?")
        if whole.all():  # '12' and '12.0' (a float column written by a spreadsheet) are the same learner
            return raw.str.replace(r"\.0*$", "", regex=True).astype(np.int64)
        return raw.astype("str")

    def _body(self) -> bytes:
        return self.data[len(codecs.BOM_UTF8) :] if self.data.startswith(codecs.BOM_UTF8) else self.data

    def _position(self, col: str) -> int:
        return self.positions[col]

    def check(self, col: str, bad: np.ndarray, values, problem: str, expected: str) -> None:
        bad = np.asarray(bad, dtype=bool)
        if bad.any():
            n = int(bad.sum())
            raise DatasetError(
                f"{self.label}, column '{col}': {problem} in {n} row{'s' if n != 1 else ''}: "
                f"{self.rows_text(bad, values)}. Expected {expected}"
            )

    def rows_text(self, bad: np.ndarray, values) -> str:
        idx = np.flatnonzero(bad)
        vals = pd.Series(values).iloc[idx[:SHOW]].tolist()
        shown = ", ".join(f"row {self.row_numbers[i]} ({_show(v)})" for i, v in zip(idx, vals))
        more = f" and {len(idx) - SHOW} more" if len(idx) > SHOW else ""
        return f"{shown}{more} ({ROWS_NOTE})"


_EXPECTED = {
    RATINGS: "columns user, item, rating",
    GENRE: "columns COURSE_ID, TITLE, then one 0/1 column per genre",
    PROCESSED: "columns COURSE_ID, TITLE, DESCRIPTION",
    META: "columns COURSE_ID, LEVEL, DURATION_HOURS",
    BOWS: "columns doc_index, doc_id, token, bow",
}


def _file_list() -> str:
    return f"{', '.join(REQUIRED_FILES)} (optional: {', '.join(OPTIONAL_FILES)})"


def _suggest_names(missing, present) -> str:
    tips = []
    for m in missing:
        close = difflib.get_close_matches(m.lower(), [p.lower() for p in present], n=1, cutoff=0.7)
        if close:
            real = next(p for p in present if p.lower() == close[0])
            tips.append(f"{real!r} -> {m!r}")
    return f". Rename: {', '.join(tips)}?" if tips else ""


def _show(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip()):
        return "empty"
    text = f"{v:g}" if isinstance(v, (float, np.floating)) else str(v)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _check_binary(label: str, data: bytes) -> None:
    """Refuse binary files before parsing them (a 1 GB file of NUL bytes would otherwise be parsed as CSV)."""
    for magic, what in _BINARY_SIGNATURES.items():
        if data.startswith(magic):
            raise DatasetError(f"{label} is {what}, not a CSV text file; expected comma-separated UTF-8 text")
    nul = data.find(b"\x00", 0, 1 << 20)
    if nul < 0 and len(data) > 1 << 20:
        nul = data.find(b"\x00")
    if nul >= 0 and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DatasetError(
            f"{label} contains NUL bytes (first at byte offset {nul}): it is a binary file, not CSV "
            f"text; expected comma-separated UTF-8 text"
        )


def _check_line_endings(label: str, data: bytes) -> None:
    """LF or CRLF line endings and a BOM only at the start. A lone CR (classic Mac line endings, or a stray one
    mid-line) or a BOM mid-file (two files pasted together) would otherwise surface as a baffling row error."""
    bom = data.find(codecs.BOM_UTF8)
    if bom >= 0:
        line = data.count(b"\n", 0, bom) + 1
        raise DatasetError(
            f"{label}: a UTF-8 byte-order mark (BOM) in the middle of the file, at line {line} (byte "
            f"offset {bom}; were two files pasted together?); expected a BOM only at the very start"
        )
    if b"\r" not in data:
        return
    lone = re.search(rb"\r(?!\n)", data)
    if lone is None:
        return
    if b"\n" not in data:
        raise DatasetError(
            f"{label} uses lone carriage returns (CR, classic Mac) as line endings; expected LF or "
            f"CRLF line endings (re-save it as 'CSV UTF-8')"
        )
    line = data.count(b"\n", 0, lone.start()) + 1
    raise DatasetError(
        f"{label}: line {line} holds a carriage return (CR) that does not end the line (byte offset "
        f"{lone.start()}); expected lines ending in LF or CRLF only"
    )


def _too_many_columns(label: str, fname: str, n: int) -> None:
    if fname == GENRE:
        raise DatasetError(
            f"{label} has {n - 2:,} genre columns; at most {MAX_GENRES:,} genres are "
            f"supported (expected COURSE_ID, TITLE, then one 0/1 column per genre)"
        )
    raise DatasetError(
        f"{label} has {n:,} columns in its header; at most {MAX_COLUMNS} are supported (expected {_EXPECTED[fname]})"
    )


def _check_first_row_width(label: str, data: bytes, width: int, cap: int) -> None:
    """If every data row has more fields than the header, pandas turns the extra ones into a row index; with
    millions of extra fields per row that costs gigabytes. The first data row tells: refuse it above `cap`."""
    start = data.find(b"\n") + 1
    while 0 < start < len(data) and data[start : start + 1] in (b"\n", b"\r"):
        start += 1
    if start <= 0 or start >= len(data):
        return
    end = data.find(b"\n", start)
    line = data[start : end if end >= 0 else None]
    if line.count(b",") < cap:  # an upper bound on the fields: nothing to parse
        return
    try:
        fields = len(next(csv.reader(io.StringIO(line.decode("utf-8", "replace"))), []))
    except csv.Error:
        fields = line.count(b",") + 1
    if fields > cap:
        raise DatasetError(
            f"{label}: the first data row has {fields:,} fields but the header has {width}; at most "
            f"{cap} columns are supported (expected {width} comma-separated fields per row)"
        )


def _check_utf8(label: str, data: bytes) -> None:
    if data.isascii():
        return
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            hint = "it looks like UTF-16 text"
        elif data[:4] == b"PK\x03\x04":
            hint = "it looks like an Excel workbook or zip file, not CSV"
        else:
            hint = "probably Latin-1/Windows-1252 text"
        raise DatasetError(
            f"{label} is not UTF-8 text: byte 0x{data[exc.start]:02X} at line {line}, character "
            f"{col} (byte offset {exc.start}); {hint}. Expected UTF-8 (save as 'CSV UTF-8')"
        ) from None


def _parser_message(exc: Exception) -> str:
    text = str(exc).strip()
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", text)
    if m:
        return (
            f"row {m.group(2)} has {m.group(3)} fields but the header has {m.group(1)} ({ROWS_NOTE}); "
            f"expected {m.group(1)} comma-separated fields per row (quote cells that contain commas)"
        )
    m = re.search(r"EOF inside string starting at row (\d+)", text)
    if m:
        return (
            f"a quoted cell starting at row {int(m.group(1)) + 1} is never closed ({ROWS_NOTE}); "
            f"expected a closing double quote"
        )
    return f"{text}; expected comma-separated rows with a header"
