"""Bounded inputs: every CSV has a column cap, ids a length cap, odd line endings and non-files get one clear
message; the library's `recommend` names the bad argument."""

from __future__ import annotations

import os

import numpy as np
import pytest
from test_loader import BASE, load_failing, write_folder

from recsys.data import DatasetError, load_dataset
from recsys.data.loader import MAX_COLUMNS, MAX_ID_CHARS, load_dataset_from_files
from recsys.models import make_model


def _files(**overrides) -> dict[str, bytes]:
    out = {name: text.encode() for name, text in BASE.items()}
    for key, content in overrides.items():
        out[f"{key}.csv"] = content if isinstance(content, bytes) else content.encode()
    return out


@pytest.mark.parametrize("name", ["ratings", "course_processed", "course_meta", "courses_bows"])
def test_every_csv_has_a_column_cap(name, tmp_path):
    text = BASE[f"{name}.csv"]
    header, rest = text.split("\n", 1)
    wide = header + "," + ",".join(f"x{i}" for i in range(MAX_COLUMNS * 20)) + "\n" + rest
    message = load_failing(write_folder(tmp_path, **{name: wide}))
    assert f"{name}.csv" in message and f"at most {MAX_COLUMNS}" in message


def test_rows_far_wider_than_the_header_are_refused_before_parsing(tmp_path):
    header, *rows = BASE["ratings.csv"].strip().split("\n")
    wide = "\n".join([header] + [r + "," + ",".join(["1"] * 50_000) for r in rows]) + "\n"
    message = load_failing(write_folder(tmp_path, ratings=wide))
    assert "ratings.csv" in message and "first data row has 50,003 fields" in message


def test_ids_have_a_length_cap(tmp_path):
    long_id = "u" * (MAX_ID_CHARS + 1)
    ratings = BASE["ratings.csv"].replace("\n1,C1,", f"\n{long_id},C1,", 1)
    message = load_failing(write_folder(tmp_path, ratings=ratings))
    assert "ratings.csv, column 'user'" in message and f"{MAX_ID_CHARS:,} characters" in message
    genre = BASE["course_genre.csv"].replace("C5,", "C" * (MAX_ID_CHARS + 5) + ",", 1)
    message = load_failing(write_folder(tmp_path / "g", course_genre=genre))
    assert "course_genre.csv, column 'COURSE_ID'" in message


def test_lone_cr_line_endings_bom_and_cr_mid_file_are_named(tmp_path):
    lone = BASE["ratings.csv"].replace("\n", "\r")
    message = load_failing(write_folder(tmp_path / "a", ratings=lone))
    assert "lone carriage returns" in message and "ratings.csv" in message
    stray = BASE["ratings.csv"].replace("1,C2,3.0", "1,C2\r,3.0", 1)
    message = load_failing(write_folder(tmp_path / "b", ratings=stray))
    assert "line 3" in message and "carriage return" in message
    pasted = (BASE["course_meta.csv"] + "\ufeff" + BASE["course_meta.csv"]).encode()
    message = load_failing(write_folder(tmp_path / "c", course_meta=pasted))
    assert "byte-order mark" in message and "course_meta.csv" in message and "line 7" in message
    with pytest.raises(DatasetError, match="lone carriage returns"):
        load_dataset_from_files(_files(ratings=lone))


def test_a_fifo_or_device_as_course_meta_is_refused_by_name_without_blocking(tmp_path):
    folder = write_folder(tmp_path / "fifo", course_meta=None)
    os.mkfifo(folder / "course_meta.csv")
    with pytest.raises(DatasetError, match=r"course_meta.csv is a named pipe \(FIFO\)"):
        load_dataset(folder)
    folder = write_folder(tmp_path / "zero", course_meta=None)
    (folder / "course_meta.csv").symlink_to("/dev/zero")
    with pytest.raises(DatasetError, match="course_meta.csv is a device"):
        load_dataset(folder)


# ----- library input checks ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def model(tiny_dataset):
    return make_model("popularity").fit(tiny_dataset)


@pytest.mark.parametrize(
    "history, kwargs, named",
    [
        (None, {}, "history: .*None"),
        ("ML0101EN", {}, "history: .*string"),
        ({"C": float("nan")}, {}, "history: the rating of .* finite"),
        ({"C": 1e308}, {}, "history: the rating of .* magnitude at most 1e\\+06"),
        ({"C": -1e308}, {}, "history: the rating of .* magnitude at most 1e\\+06"),
        ([], {"k": 0}, "k: expected a positive integer"),
        ([], {"liked": "C"}, "liked: expected a list"),
        ([], {"filters": {"levels": ["Expert"]}}, r"filters\['levels'\]: unknown level"),
        ([], {"filters": {"levels": "Beginner"}}, r"filters\['levels'\]: expected a list"),
        ([], {"filters": {"genres": "Python"}}, r"filters\['genres'\]: expected a list"),
        ([], {"filters": {"max_duration": -1}}, r"filters\['max_duration'\]"),
        ([], {"filters": {"max_duration": float("nan")}}, r"filters\['max_duration'\]"),
        ([], {"filters": {"level": ["Beginner"]}}, "filters: unknown filter"),
    ],
)
def test_recommend_names_the_bad_argument(model, tiny_dataset, history, kwargs, named):
    course = str(tiny_dataset.item_ids[0])
    if isinstance(history, dict):
        history = {course: next(iter(history.values()))}
    with pytest.raises(ValueError, match=named):
        model.recommend(history, **kwargs)


def test_valid_requests_still_work(model, tiny_dataset):
    courses = [str(c) for c in tiny_dataset.item_ids[:2]]
    out = model.recommend({courses[0]: 3.0}, k=5, liked=[courses[1]], filters={"max_duration": 1e9})
    assert len(out) == 5 and np.isfinite(out["SCORE"]).all()
