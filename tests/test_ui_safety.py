"""Shared-server safety of the app's helpers: confined folders, uploads in a memory budget, plain text, CSV cells."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from recsys.data import DatasetError, generate_dataset, load_dataset
from recsys.data.loader import FOLDER_REFUSED
from recsys.ui import session
from recsys.ui.plain import csv_cell, csv_safe, md


def _unescaped(text: str, char: str) -> bool:
    return re.search(r"(?<!\\)" + re.escape(char), text) is not None


@pytest.mark.parametrize(
    "title",
    [
        "![x](http://example.invalid/p.png)",
        "[click](javascript:alert(1))",
        "$\\frac{1}{0}$",
        ":red[big] :material/home:",
        "<img src=x>",
        "# Heading",
        "1. list",
        "**bold** _it_ `code`",
    ],
)
def test_markdown_in_data_is_escaped(title):
    out = md(title)
    for char in "[]$<>`*_":
        assert not _unescaped(out, char), (title, out)
    assert not re.search(r"(?<!\\):[a-z]", out) and not re.match(r"\s*(#|\d+\.)", out)
    assert re.sub(r"\\(.)", r"\1", out) == title, "only escapes were added: the text reads the same"


def test_csv_cells_cannot_start_formulas():
    frame = pd.DataFrame(
        {
            "TITLE": ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "ok", "-0.5"],
            "SCORE": [1.0, -2.0, 3.0, 4.0, 5.0, 6.0, 7.0, -8.0],
        }
    )
    safe = csv_safe(frame)
    assert safe["TITLE"].tolist() == [
        "'=cmd|' /C calc'!A0",
        "'+1+1",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "ok",
        "-0.5",
    ]
    assert safe["SCORE"].tolist() == frame["SCORE"].tolist() and csv_cell("=x") == "'=x"
    assert frame["TITLE"][0].startswith("="), "the original frame is untouched"


def test_app_folder_route_is_confined(tmp_path, monkeypatch):
    allowed = tmp_path / "roots"
    generate_dataset(allowed / "d", seed=0, n_learners=40, n_courses=14)
    monkeypatch.setenv(session.ROOTS_ENV, str(allowed))
    assert session.load_folder(allowed / "d").n_users == 40
    for path in ("/etc", "~", "/proc/self", "", str(tmp_path), str(allowed / ".." / "elsewhere")):
        with pytest.raises(DatasetError) as info:
            session.load_folder(path)
        assert str(info.value) == FOLDER_REFUSED
    monkeypatch.setenv(session.FOLDERS_ENV, "off")
    with pytest.raises(DatasetError, match="turned off"):
        session.load_folder(allowed / "d")


def test_upload_cache_shares_evicts_and_refuses_over_budget(tmp_path):
    datasets = []
    for i in range(3):
        generate_dataset(tmp_path / str(i), seed=i, n_learners=50 + i, n_courses=14)
        datasets.append(load_dataset(tmp_path / str(i)))
    size = session.dataset_bytes(datasets[0])
    cache = session.UploadCache(budget_bytes=int(size * 2.5), max_entries=5, ttl=3600)
    cache.put("a", datasets[0])
    assert cache.get("a") is datasets[0], "identical uploads share one dataset"
    cache.put("b", datasets[1])
    cache.get("a")  # 'a' used last: 'b' is the least recently used
    cache.put("c", datasets[2])
    assert cache.get("b") is None and cache.get("a") is datasets[0] and cache.get("c") is datasets[2]
    assert cache.used() <= cache.budget
    small = session.UploadCache(budget_bytes=size // 2)
    with pytest.raises(DatasetError, match=r"needs about .* MB of server memory; the limit .* RECSYS_UPLOAD_MEMORY_MB"):
        small.put("x", datasets[0])
    expiring = session.UploadCache(budget_bytes=size * 10, ttl=0)
    expiring.put("a", datasets[0])
    assert expiring.get("a") is None, "an upload unused for ttl seconds is dropped"


def test_chart_text_from_data_cannot_carry_html():
    """A course title with a link or image tag is shown literally in bars, ticks and legends; our hover
    templates keep their intended markup."""
    import plotly.graph_objects as go

    from recsys.ui import plain

    title = '<a href="https://attacker.example/x">Python</a><img src=x>'
    fig = go.Figure(go.Bar(x=[1], y=[title], name=title, text=[title], hovertemplate="%{y}<br>%{x}"))
    fig.update_layout(title=title)
    safe = plain.figure(fig).to_dict()
    trace = safe["data"][0]
    for value in (trace["y"][0], trace["name"], trace["text"][0], safe["layout"]["title"]["text"]):
        assert "<" not in value and ">" not in value and "&lt;a href" in value
    assert trace["hovertemplate"] == "%{y}<br>%{x}"
    assert fig.to_dict()["data"][0]["name"] == title  # the original figure is untouched
