"""The IBM-format loader: real and generated folders load; every bad input is one clear DatasetError.

Every failing case also checks that the folder is byte-identical afterwards (the loader never writes).
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data import GENRES, LEVELS, DatasetError, load_dataset
from recsys.data.loader import load_dataset_from_files

GENRE_CSV = """COURSE_ID,TITLE,Database,Python,MachineLearning
C1,intro to sql,1,0,0
C2,python basics,0,1,0
C3,machine learning with python,0,1,1
C4,deep learning,0,1,1
C5,data bases advanced,1,0,0
"""
PROCESSED_CSV = """COURSE_ID,TITLE,DESCRIPTION
C1,intro to sql,learn select and join
C2,python basics,"variables, loops
and functions"
C3,machine learning with python,regression and classification
C4,deep learning,neural networks
C5,data bases advanced,indexes and transactions
"""
META_CSV = """COURSE_ID,LEVEL,DURATION_HOURS
C1,Beginner,4
C2,Beginner,6
C3,Intermediate,12
C4,Advanced,20
C5,Intermediate,
"""
BOWS_CSV = """doc_index,doc_id,token,bow
0,C1,sql,2
0,C1,join,1
1,C2,python,3
2,C3,regression,1
"""
RATINGS_CSV = """user,item,rating
1,C1,3.0
1,C2,3.0
2,C2,2.0
2,C3,3.0
3,C4,3.0
3,C1,2.0
4,C2,3.0
"""
BASE = {
    "course_genre.csv": GENRE_CSV,
    "course_processed.csv": PROCESSED_CSV,
    "course_meta.csv": META_CSV,
    "courses_bows.csv": BOWS_CSV,
    "ratings.csv": RATINGS_CSV,
}


def write_folder(root: Path, **overrides) -> Path:
    """A valid folder; overrides map 'ratings' etc. to replacement text/bytes, or None to omit the file."""
    root.mkdir(parents=True, exist_ok=True)
    for fname, text in BASE.items():
        key = fname.removesuffix(".csv")
        content = overrides.get(key, text)
        if content is None:
            continue
        (root / fname).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return root


def folder_state(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir())}


def load_failing(root: Path, **kwargs) -> str:
    """Load, expect DatasetError, assert the folder did not change; return the message."""
    before = folder_state(root)
    with pytest.raises(DatasetError) as info:
        load_dataset(root, **kwargs)
    assert folder_state(root) == before
    return str(info.value)


def replace_line(text: str, line_no: int, new: str) -> str:
    """Replace 1-based line `line_no` (the header is line 1)."""
    lines = text.splitlines()
    lines[line_no - 1] = new
    return "\n".join(lines) + "\n"


# ----- valid input ------------------------------------------------------------------------------
def test_valid_folder_builds_courses_and_ratings(tmp_path):
    root = write_folder(tmp_path / "d")
    before = folder_state(root)
    ds = load_dataset(root)
    assert folder_state(root) == before
    c = ds.courses
    assert list(c["COURSE_ID"]) == ["C1", "C2", "C3", "C4", "C5"]
    assert list(c.columns) == [
        "COURSE_ID",
        "TITLE",
        "DESCRIPTION",
        "Database",
        "Python",
        "MachineLearning",
        "LEVEL",
        "DURATION_HOURS",
    ]
    assert ds.genres == ["Database", "Python", "MachineLearning"]
    assert c["Python"].tolist() == [0, 1, 1, 1, 0] and c["Python"].dtype == np.int64
    assert c.loc[1, "DESCRIPTION"] == "variables, loops\nand functions"  # quoted multi-line cell
    assert c["LEVEL"].tolist() == ["Beginner", "Beginner", "Intermediate", "Advanced", "Intermediate"]
    assert c.loc[3, "DURATION_HOURS"] == 20 and np.isnan(c.loc[4, "DURATION_HOURS"])
    assert ds.ratings["user"].dtype == np.int64
    assert len(ds.ratings) == 7 and ds.rating_scale == (2.0, 3.0)
    assert ds.load_report["rating_scale_inferred"] is True
    assert ds.bows["token"].tolist() == ["sql", "join", "python", "regression"]
    assert ds.name == "d"


def test_optional_files_absent_gives_unknown_level_and_duration(tmp_path):
    ds = load_dataset(write_folder(tmp_path / "d", course_meta=None, courses_bows=None))
    assert ds.courses["LEVEL"].isna().all() and ds.courses["DURATION_HOURS"].isna().all()
    assert ds.bows is None


def test_bom_whitespace_and_header_case_are_tolerated(tmp_path):
    genre = (
        "\ufeff course_id , Title ,Database, Python ,MachineLearning\n"
        "  C1 ,  intro to sql  , 1,0 ,0\nC2,python basics,0,1,0\nC3,machine learning with python,0,1,1\n"
        "C4,deep learning,0,1,1\nC5,data bases advanced,1,0,0\n"
    )
    ratings = "\ufeffUser , ITEM,Rating \n 1 , C1 , 3.0 \n2,C2 ,2\n\n3,  C3,3\n"
    meta = "course_id,level,duration_hours\nC1, beginner ,4\nC2,ADVANCED, 2.5 \n"
    ds = load_dataset(write_folder(tmp_path / "d", course_genre=genre, ratings=ratings, course_meta=meta))
    assert list(ds.courses["COURSE_ID"]) == ["C1", "C2", "C3", "C4", "C5"]
    assert ds.courses.loc[0, "TITLE"] == "intro to sql"
    assert ds.genres == ["Database", "Python", "MachineLearning"]
    assert ds.ratings["user"].tolist() == [1, 2, 3] and ds.ratings["user"].dtype == np.int64
    assert ds.ratings["item"].tolist() == ["C1", "C2", "C3"]
    assert ds.courses["LEVEL"].tolist()[:3] == ["Beginner", "Advanced", None]
    assert ds.courses["DURATION_HOURS"].tolist()[:2] == [4.0, 2.5]
    assert ds.load_report["blank_rows_skipped"] == 1


def test_string_user_ids_stay_strings(tmp_path):
    ratings = "user,item,rating\nu7,C1,3\n 12 ,C2,2\nu7,C3,3\n"
    ds = load_dataset(write_folder(tmp_path / "d", ratings=ratings))
    assert ds.ratings["user"].tolist() == ["u7", "12", "u7"]
    assert all(isinstance(u, str) for u in ds.ratings["user"])
    assert ds.user_history("u7") == {"C1": 3.0, "C3": 3.0}


def test_whole_number_user_ids_written_as_floats_are_ints(tmp_path):
    ds = load_dataset(write_folder(tmp_path / "d", ratings="user,item,rating\n1.0,C1,3\n\n2,C2,3\n1,C3,2\n"))
    assert ds.ratings["user"].tolist() == [1, 2, 1] and ds.ratings["user"].dtype == np.int64


def test_windows_line_endings_load_the_same(tmp_path):
    lf = load_dataset(write_folder(tmp_path / "lf"))
    crlf = load_dataset(
        write_folder(tmp_path / "crlf", **{k.removesuffix(".csv"): v.replace("\n", "\r\n") for k, v in BASE.items()})
    )
    assert crlf.courses.loc[1, "DESCRIPTION"] == "variables, loops\nand functions"
    assert crlf.fingerprint == lf.fingerprint


def test_declared_rating_scale_is_kept(tmp_path):
    ds = load_dataset(write_folder(tmp_path / "d"), rating_scale=(1, 5))
    assert ds.rating_scale == (1.0, 5.0) and ds.load_report["rating_scale_inferred"] is False


def test_all_equal_ratings_infer_scale_from_zero(tmp_path):
    ds = load_dataset(write_folder(tmp_path / "d", ratings="user,item,rating\n1,C1,3\n2,C2,3\n"))
    assert ds.rating_scale == (0.0, 3.0)


def test_exact_duplicates_collapse_and_are_counted(tmp_path):
    ratings = RATINGS_CSV + "1,C1,3.0\n2,C2,2\n1,C1,3\n"
    ds = load_dataset(write_folder(tmp_path / "d", ratings=ratings))
    assert len(ds.ratings) == 7
    assert ds.load_report["duplicates_collapsed"] == 3
    assert ds.ratings.duplicated(["user", "item"]).sum() == 0
    assert ds.matrix[ds.user_index.get_loc(1), ds.item_index.get_loc("C1")] == 3.0  # not summed to 9


def test_conflicting_duplicates_raise_listing_them(tmp_path):
    ratings = RATINGS_CSV + "2,C2,3.0\n"  # row 3 says 2.0, row 9 says 3.0
    msg = load_failing(write_folder(tmp_path / "d", ratings=ratings))
    assert "ratings.csv" in msg and "different ratings" in msg
    assert "row 4 ('2 / C2 = 2')" in msg and "row 9 ('2 / C2 = 3')" in msg


def test_courses_missing_description_get_empty_text(tmp_path):
    processed = "COURSE_ID,TITLE,DESCRIPTION\nC1,intro to sql,learn sql\nC3,ml,models\n"
    ds = load_dataset(write_folder(tmp_path / "d", course_processed=processed))
    assert ds.courses["DESCRIPTION"].tolist() == ["learn sql", "", "models", "", ""]
    assert ds.load_report["courses_without_description"] == ["C2", "C4", "C5"]


def test_descriptions_and_meta_for_unknown_courses_are_ignored_with_a_note(tmp_path):
    processed = PROCESSED_CSV + "X9,ghost course,not in the catalogue\n"
    meta = META_CSV + "X9,Beginner,3\n"
    ds = load_dataset(write_folder(tmp_path / "d", course_processed=processed, course_meta=meta))
    assert ds.n_items == 5 and "X9" not in set(ds.courses["COURSE_ID"])
    notes = " ".join(ds.load_report["notes"])
    assert "X9" in notes and "course_processed.csv" in notes and "course_meta.csv" in notes


def test_titles_come_from_course_genre(tmp_path):
    processed = PROCESSED_CSV.replace("C1,intro to sql,", "C1,Another Title,")
    ds = load_dataset(write_folder(tmp_path / "d", course_processed=processed))
    assert ds.courses.loc[0, "TITLE"] == "intro to sql"


def test_uploaded_files_match_folder_load(tmp_path):
    root = write_folder(tmp_path / "d")
    files = {p.name: p.read_bytes() for p in root.iterdir()}
    up = load_dataset_from_files(files)
    folder = load_dataset(root)
    assert up.fingerprint == folder.fingerprint
    assert up.name == "uploaded"
    assert up.courses.equals(folder.courses) and up.ratings.equals(folder.ratings)
    # names are matched ignoring case and any folder prefix
    renamed = {f"some/dir/{k.upper()}": v for k, v in files.items()}
    assert load_dataset_from_files(renamed).fingerprint == folder.fingerprint


def test_uploaded_errors_name_the_uploaded_file(tmp_path):
    files = {k: v.encode() for k, v in BASE.items()}
    files["ratings.csv"] = b"user,item,rating\n1,C1,abc\n"
    with pytest.raises(DatasetError, match=r"uploaded ratings\.csv, column 'rating'.*row 2 \('abc'\)"):
        load_dataset_from_files(files)
    del files["ratings.csv"]
    with pytest.raises(DatasetError, match=r"missing ratings\.csv") as info:
        load_dataset_from_files({**files, "rating.csv": b"user,item,rating\n"})
    assert "'rating.csv' -> 'ratings.csv'" in str(info.value)


def test_fingerprint_is_stable_and_tracks_content(tmp_path):
    a = write_folder(tmp_path / "a")
    fp = load_dataset(a).fingerprint
    assert load_dataset(a).fingerprint == fp
    b = write_folder(tmp_path / "b", ratings=RATINGS_CSV.replace("2,C3,3.0", "2,C3,2.0"))
    c = write_folder(tmp_path / "c", course_genre=GENRE_CSV.replace("deep learning", "deep learning ii"))
    assert load_dataset(b).fingerprint != fp
    assert load_dataset(c).fingerprint != fp
    # row order and the dataset name do not matter
    lines = RATINGS_CSV.splitlines()
    d = write_folder(tmp_path / "d", ratings="\n".join([lines[0]] + lines[1:][::-1]) + "\n")
    assert load_dataset(d, name="other").fingerprint == fp


# ----- bad input: one DatasetError naming file, column, rows, expectation -------------------------
BAD_CASES = {
    # name: (overrides, load kwargs, substrings the message must contain)
    "renamed column": (
        {"ratings": RATINGS_CSV.replace("rating\n", "ratings\n", 1)},
        {},
        ["ratings.csv", "missing column 'rating'", "'user', 'item', 'ratings'", "Did you mean 'ratings'?"],
    ),
    "ambiguous header": (
        {"ratings": "user,User,item,rating\n1,1,C1,3\n"},
        {},
        ["ratings.csv", "'user', 'User' all match 'user'"],
    ),
    "header only": ({"ratings": "user,item,rating\n"}, {}, ["ratings.csv", "no data rows"]),
    "zero bytes": ({"course_processed": b""}, {}, ["course_processed.csv", "is empty"]),
    "blank first line": ({"ratings": "\n" + RATINGS_CSV}, {}, ["ratings.csv", "line 1 is blank", "header"]),
    "blank lines only": ({"ratings": "user,item,rating\n\n\n"}, {}, ["ratings.csv", "no data rows"]),
    "latin-1 bytes": (
        {"course_genre": GENRE_CSV.replace("deep learning", "d\xe9ep").encode("latin-1")},
        {},
        ["course_genre.csv", "not UTF-8", "0xE9", "line 5", "byte offset"],
    ),
    "utf-16": ({"ratings": RATINGS_CSV.encode("utf-16")}, {}, ["ratings.csv", "not UTF-8", "UTF-16"]),
    "too many fields": (
        {"ratings": replace_line(RATINGS_CSV, 4, "2,C2,2.0,extra")},
        {},
        ["ratings.csv", "row 4 has 4 fields", "header has 3"],
    ),
    "unclosed quote": (
        {"course_processed": replace_line(PROCESSED_CSV, 5, 'C4,deep learning,"neural')},
        {},
        ["course_processed.csv", "row 4", "never closed"],
    ),
    "semicolons": ({"ratings": RATINGS_CSV.replace(",", ";")}, {}, ["ratings.csv", "';'", "comma"]),
    "non-numeric rating": (
        {"ratings": replace_line(RATINGS_CSV, 3, "1,C2,three")},
        {},
        ["ratings.csv", "column 'rating'", "row 3 ('three')", "in 1 row:", "a finite number"],
    ),
    "empty rating": (
        {"ratings": replace_line(RATINGS_CSV, 5, "2,C3,")},
        {},
        ["ratings.csv", "column 'rating'", "row 5 (empty)"],
    ),
    "infinite rating": (
        {"ratings": replace_line(RATINGS_CSV, 2, "1,C1,inf")},
        {},
        ["ratings.csv", "column 'rating'", "row 2 ('inf')", "non-finite"],
    ),
    "negative rating": (
        {"ratings": replace_line(RATINGS_CSV, 6, "3,C4,-1")},
        {},
        ["ratings.csv", "column 'rating'", "row 6", "> 0"],
    ),
    "zero rating": (
        {"ratings": replace_line(RATINGS_CSV, 6, "3,C4,0")},
        {},
        ["ratings.csv", "column 'rating'", "row 6 ('0')", "not rated"],
    ),
    "outside declared scale": (
        {"ratings": replace_line(RATINGS_CSV, 7, "3,C1,7")},
        {"rating_scale": (1, 5)},
        ["ratings.csv", "column 'rating'", "row 7 ('7')", "[1, 5]", "rating_scale"],
    ),
    "empty user": (
        {"ratings": replace_line(RATINGS_CSV, 8, ",C2,3")},
        {},
        ["ratings.csv", "column 'user'", "row 8 (empty)", "learner id"],
    ),
    "empty item": (
        {"ratings": replace_line(RATINGS_CSV, 8, "4,,3")},
        {},
        ["ratings.csv", "column 'item'", "row 8 (empty)"],
    ),
    "unknown course": (
        {"ratings": RATINGS_CSV + "5,ZZ1,3\n5,c1,3\n"},
        {},
        [
            "ratings.csv",
            "column 'item'",
            "'ZZ1'",
            "'c1'",
            "row 9 ('ZZ1')",
            "row 10 ('c1')",
            "course_genre.csv",
            "'c1' -> 'C1'",
        ],
    ),
    "genre not 0/1": (
        {"course_genre": replace_line(GENRE_CSV, 3, "C2,python basics,0,2,0")},
        {},
        ["course_genre.csv", "column 'Python'", "row 3 ('2')", "0 or 1"],
    ),
    "genre empty": (
        {"course_genre": replace_line(GENRE_CSV, 4, "C3,machine learning,0,1,")},
        {},
        ["course_genre.csv", "column 'MachineLearning'", "row 4 (empty)", "0 or 1"],
    ),
    "no genre columns": (
        {"course_genre": "COURSE_ID,TITLE\nC1,a\n"},
        {},
        ["course_genre.csv", "no genre columns", "TITLE"],
    ),
    "duplicate course id": (
        {"course_genre": GENRE_CSV + "C3,ml again,0,0,1\n"},
        {},
        ["course_genre.csv", "column 'COURSE_ID'", "'C3'", "row 4 ('C3')", "row 7 ('C3')", "each course once"],
    ),
    "empty course id": (
        {"course_genre": replace_line(GENRE_CSV, 2, " ,intro to sql,1,0,0")},
        {},
        ["course_genre.csv", "column 'COURSE_ID'", "row 2 (empty)"],
    ),
    "renamed genre id column": (
        {"course_genre": GENRE_CSV.replace("COURSE_ID", "COURSEID")},
        {},
        ["course_genre.csv", "missing column 'COURSE_ID'", "Did you mean 'COURSEID'?"],
    ),
    "bad level": (
        {"course_meta": replace_line(META_CSV, 4, "C3,Expert,12")},
        {},
        ["course_meta.csv", "column 'LEVEL'", "row 4 ('Expert')", "Beginner, Intermediate, Advanced"],
    ),
    "non-numeric duration": (
        {"course_meta": replace_line(META_CSV, 3, "C2,Beginner,six")},
        {},
        ["course_meta.csv", "column 'DURATION_HOURS'", "row 3 ('six')", "number of hours"],
    ),
    "negative duration": (
        {"course_meta": replace_line(META_CSV, 2, "C1,Beginner,-4")},
        {},
        ["course_meta.csv", "column 'DURATION_HOURS'", "row 2 ('-4')", ">= 0"],
    ),
    "duplicate meta id": (
        {"course_meta": META_CSV + "C1,Advanced,3\n"},
        {},
        ["course_meta.csv", "column 'COURSE_ID'", "row 2 ('C1')", "row 7 ('C1')"],
    ),
    "processed from another dataset": (
        {"course_processed": "COURSE_ID,TITLE,DESCRIPTION\nX1,a,b\nX2,c,d\n"},
        {},
        ["course_processed.csv", "column 'COURSE_ID'", "none of its 2 course ids", "'X1'"],
    ),
    "duplicate description": (
        {"course_processed": PROCESSED_CSV + "C5,again,other text\n"},
        {},
        ["course_processed.csv", "column 'COURSE_ID'", "row 6 ('C5')", "row 7 ('C5')"],
    ),
    "missing description column": (
        {"course_processed": "COURSE_ID,TITLE,DESC\nC1,a,b\n"},
        {},
        ["course_processed.csv", "missing column 'DESCRIPTION'", "'DESC'"],
    ),
    "bad bow count": (
        {"courses_bows": replace_line(BOWS_CSV, 3, "0,C1,join,-2")},
        {},
        ["courses_bows.csv", "column 'bow'", "row 3 ('-2')", "count >= 0"],
    ),
    "repeated bow token": (
        {"courses_bows": BOWS_CSV + "0,C1,sql,1\n"},
        {},
        ["courses_bows.csv", "column 'token'", "row 2 ('C1 / sql')", "row 6 ('C1 / sql')"],
    ),
    "unnamed column with values": (
        {"ratings": "user,item,rating,\n1,C1,3,x\n"},
        {},
        ["ratings.csv", "column 4 has no name"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_raises_one_clear_error(tmp_path, case):
    overrides, kwargs, expected = BAD_CASES[case]
    msg = load_failing(write_folder(tmp_path / "d", **overrides), **kwargs)
    for part in expected:
        assert part in msg, f"{part!r} not in message: {msg}"
    if re.search(r"\brow \d", msg):
        assert "header is row 1" in msg  # every row-numbered message says how rows are counted


def test_many_offending_rows_show_five_and_the_count(tmp_path):
    bad = "".join(f"{u},C1,x{u}\n" for u in range(10, 22))
    msg = load_failing(write_folder(tmp_path / "d", ratings="user,item,rating\n" + bad))
    assert "in 12 rows" in msg and "and 7 more" in msg
    assert "row 2 ('x10')" in msg and "row 6 ('x14')" in msg and "row 7 (" not in msg


def test_row_numbers_count_blank_lines_like_a_spreadsheet(tmp_path):
    msg = load_failing(write_folder(tmp_path / "d", ratings="user,item,rating\n1,C1,3\n\n2,C2,bad\n"))
    assert "row 4 ('bad')" in msg


def test_missing_file_lists_what_the_folder_must_contain(tmp_path):
    root = write_folder(tmp_path / "d", ratings=None)
    msg = load_failing(root)
    for part in (
        "missing ratings.csv",
        "course_genre.csv",
        "course_processed.csv",
        "course_meta.csv",
        "Present: course_genre.csv",
    ):
        assert part in msg
    (root / "notes-private.txt").write_text("secret")
    assert "notes-private" not in load_failing(root), "never a directory listing"
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nowhere")


@pytest.mark.parametrize("scale", [(5, 1), (1, float("inf")), ("a", "b"), (3,), (-1, 5)])
def test_bad_rating_scale_argument(tmp_path, scale):
    msg = load_failing(write_folder(tmp_path / "d"), rating_scale=scale)
    assert "rating_scale" in msg


# ----- real and generated data ------------------------------------------------------------------
def test_real_catalogue_loads_with_bom_and_lower_case_titles(tmp_path, shared_catalogue):
    root = tmp_path / "real"
    root.mkdir()
    for fname in ("course_genre.csv", "course_processed.csv", "courses_bows.csv"):
        shutil.copyfile(shared_catalogue / fname, root / fname)
    assert (root / "course_genre.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    raw = pd.read_csv(root / "course_genre.csv", encoding="utf-8-sig", dtype=str)
    rng = np.random.default_rng(0)
    picks = rng.choice(raw["COURSE_ID"].to_numpy(), size=(40, 3))
    ratings = pd.DataFrame(
        {"user": np.repeat(np.arange(40), 3), "item": picks.ravel(), "rating": rng.choice([2.0, 3.0], size=120)}
    ).drop_duplicates(["user", "item"])
    ratings.to_csv(root / "ratings.csv", index=False)
    before = folder_state(root)
    ds = load_dataset(root)
    assert folder_state(root) == before
    assert ds.n_items == 307 and len(ds.genres) == 14 and ds.genres == list(GENRES)
    assert list(ds.courses.columns[:3]) == ["COURSE_ID", "TITLE", "DESCRIPTION"]
    assert ds.courses["TITLE"].tolist() == raw["TITLE"].str.strip().tolist()
    assert (ds.courses["TITLE"] == ds.courses["TITLE"].str.lower()).all()
    assert (ds.courses["DESCRIPTION"] != "").all()
    assert ds.genre_matrix.shape == (307, 14) and set(np.unique(ds.genre_matrix)) <= {0.0, 1.0}
    assert ds.bows["doc_id"].isin(ds.item_ids).all() and len(ds.bows) == 10366
    assert len(ds.ratings) == len(ratings) and ds.matrix.nnz == len(ratings)


def test_real_catalogue_folder_without_ratings_is_reported(shared_catalogue):
    with pytest.raises(DatasetError, match="missing ratings.csv"):
        load_dataset(shared_catalogue)


def test_generated_dataset_loads(small_data_dir):
    before = folder_state(small_data_dir)
    ds = load_dataset(small_data_dir)
    assert folder_state(small_data_dir) == before
    assert ds.n_items == 60 and ds.genres == list(GENRES)
    assert set(ds.courses["LEVEL"]) <= set(LEVELS) and ds.courses["DURATION_HOURS"].notna().all()
    raw = pd.read_csv(small_data_dir / "ratings.csv")
    assert len(ds.ratings) == len(raw.drop_duplicates()) and ds.n_users == raw["user"].nunique()
    assert ds.load_report["rating_scale"] == (raw["rating"].min(), raw["rating"].max())


# ----- bounds and confinement (issue 11) -----------------------------------------------------------
def test_many_genre_columns_load_in_one_step_and_too_many_are_refused(tmp_path):
    n = 800
    header = "COURSE_ID,TITLE," + ",".join(f"g{i}" for i in range(n))
    rows = [f"C{c},course {c}," + ",".join("1" if (i + c) % 97 == 0 else "0" for i in range(n)) for c in range(1, 6)]
    ds = load_dataset(write_folder(tmp_path / "ok", course_genre="\n".join([header, *rows]) + "\n"))
    assert len(ds.genres) == n and ds.genre_matrix.sum() == sum(
        1 for c in range(1, 6) for i in range(n) if (i + c) % 97 == 0
    )
    too_many = "COURSE_ID,TITLE," + ",".join(f"g{i}" for i in range(1_001)) + "\nC1,t," + ",".join(["0"] * 1_001) + "\n"
    msg = load_failing(write_folder(tmp_path / "big", course_genre=too_many))
    assert "course_genre.csv" in msg and "1,001 genre columns" in msg and "at most 1,000" in msg


def test_huge_header_or_cell_is_one_message_naming_the_file(tmp_path):
    huge = "x" * 131_073
    msg = load_failing(write_folder(tmp_path / "h", course_processed=f'COURSE_ID,TITLE,"{huge}"\nC1,t,d\n'))
    assert "course_processed.csv" in msg and "header name is longer" in msg
    body = PROCESSED_CSV.replace("learn select and join", huge)
    msg = load_failing(write_folder(tmp_path / "c", course_processed=body))
    assert "course_processed.csv" in msg and "column 'DESCRIPTION'" in msg and "131,073 characters" in msg


@pytest.mark.parametrize(
    "data, what",
    [
        (b"\x00" * 5000, "NUL bytes"),
        (b"PK\x03\x04rest", "zip file"),
        (b"%PDF-1.7 ...", "PDF"),
        (b"user,item,rating\n1,C1,3\x00\n", "NUL bytes"),
    ],
)
def test_binary_files_are_refused_before_parsing(tmp_path, data, what):
    root = write_folder(tmp_path / "d")
    (root / "ratings.csv").write_bytes(data)
    msg = load_failing(root)
    assert "ratings.csv" in msg and what in msg


def test_file_size_limit_is_a_setting(tmp_path, monkeypatch):
    root = write_folder(tmp_path / "d")
    monkeypatch.setenv("RECSYS_MAX_FILE_MB", "0.0001")  # ~100 bytes
    msg = load_failing(root)
    assert "the limit is 104 bytes" in msg and "RECSYS_MAX_FILE_MB" in msg and ".csv is " in msg
    with pytest.raises(DatasetError, match="uploaded .*csv is .* the limit"):
        load_dataset_from_files({n: t.encode() for n, t in BASE.items()})


def test_learner_ids_beyond_int64_stay_exact_text(tmp_path):
    big = [2**63, 2**64 - 1, 2**64 + 7]
    ratings = "user,item,rating\n" + "".join(f"{u},C{n + 1},3\n" for n, u in enumerate(big)) + "5,C4,3\n"
    ds = load_dataset(write_folder(tmp_path / "d", ratings=ratings))
    assert {str(u) for u in big} <= set(map(str, ds.user_ids)) and all(not str(u).startswith("-") for u in ds.user_ids)
    only_uint = "user,item,rating\n" + f"{2**63},C1,3\n{2**63 + 1},C2,3\n"
    ds = load_dataset(write_folder(tmp_path / "u", ratings=only_uint))
    assert sorted(map(str, ds.user_ids)) == [str(2**63), str(2**63 + 1)]


@pytest.mark.parametrize("value", ["1e308", "1e-300", "-1e9"])
def test_ratings_of_unsafe_magnitude_are_refused_with_the_range(tmp_path, value):
    msg = load_failing(write_folder(tmp_path / "d", ratings=f"user,item,rating\n1,C1,{value}\n2,C2,3\n"))
    assert "ratings.csv" in msg and "1e-06 and 1e+06" in msg


def test_folder_named_ratings_csv_and_absurd_paths(tmp_path):
    root = write_folder(tmp_path / "d", ratings=None)
    (root / "ratings.csv").mkdir()
    with pytest.raises(DatasetError, match="ratings.csv is a folder, not a file"):
        load_dataset(root)
    with pytest.raises(DatasetError) as info:
        load_dataset("/" + "x" * 4_999)
    msg = str(info.value)
    assert "5,000 characters" in msg and "4,096" in msg


def test_confined_folder_loading(tmp_path):
    allowed = tmp_path / "allowed"
    ok = write_folder(allowed / "d")
    assert load_dataset(ok, allowed_roots=[allowed]).n_items == 5
    outside = write_folder(tmp_path / "outside")
    messages = set()
    for p in (outside, tmp_path / "missing", Path("/etc"), Path("/proc/self"), allowed / ".." / "outside", ""):
        with pytest.raises(DatasetError) as info:
            load_dataset(p, allowed_roots=[allowed])
        messages.add(str(info.value))
    assert len(messages) == 1, "one message for everything outside: nothing about the path leaks"
    only = messages.pop()
    assert "outside" not in only and "/etc" not in only and "passwd" not in only
    (allowed / "link").symlink_to(outside, target_is_directory=True)
    assert load_failing(allowed / "link", allowed_roots=[allowed]) == only
    linked = write_folder(allowed / "e")
    (linked / "ratings.csv").unlink()
    (linked / "ratings.csv").symlink_to(outside / "ratings.csv")  # per-file symlink out of the roots
    assert "ratings.csv" in load_failing(linked, allowed_roots=[allowed])
