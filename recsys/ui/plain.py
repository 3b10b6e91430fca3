"""Data-derived text shown as text: no markdown, links, images, LaTeX or directives; no spreadsheet formulas.

Course titles, CSV headers, ids, folder names and error messages that quote them come from files a user
supplied. Streamlit renders markdown in st.markdown/caption/info/error and in widget labels, so an image link
in a title would make every viewer's browser fetch a URL. `md()` escapes such text for those calls.
Tables (st.dataframe) render plain text, but their toolbar's "Download as CSV" exports cells as they are:
`csv_safe()` neutralizes formula-leading cells (OWASP: prefix with a quote) in frames shown or exported.
"""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

# Inline markup anywhere: emphasis, code, links/images ([ ]), HTML, LaTeX ($), tables, strikethrough;
# ':' only before a letter (':material/x:' icons, ':red[...]' colours, emoji shortcodes).
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>$|~&])|(:)(?=[A-Za-z])")
# Block markup only matters at the start of the text (one line): headings, lists, quotes, rules.
_BLOCK_START = re.compile(r"^(\s*\d*)([#>+=.)-])")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A number as the app writes it: "-0.0070", "-1.1%", "+12", "-0.0070 [-0.0111, -0.0033]" (estimate and interval).
# Spreadsheets read these as numbers or as harmless text; they call nothing, so they keep no quote on screen.
_NUMBER = r"[+-]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?%?"
_NUMERIC_TEXT = re.compile(rf"^{_NUMBER}(?: \[{_NUMBER}, {_NUMBER}\])?$")


def md(text) -> str:
    """`text` escaped so Streamlit's markdown shows it literally, on one line."""
    flat = _MARKDOWN.sub(lambda m: "\\" + (m.group(1) or m.group(2)), " ".join(str(text).split()))
    return _BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2), flat)


def csv_cell(value):
    """A cell that cannot start a spreadsheet formula: text starting with = + - @ tab or CR gets a leading
    quote, unless it is just a number written as text ('-0.5', '-1.1%', '-0.0070 [-0.0111, -0.0033]'): those
    are shown and exported as they are."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    if _NUMERIC_TEXT.match(value):
        return value
    return "'" + value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells (and column names) are safe to export to a spreadsheet."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(csv_cell)
    out.columns = [csv_cell(c) for c in out.columns]
    return out


def table(frame, **kwargs):
    """`st.dataframe` for every table the app shows: cells made spreadsheet-safe first, because the table
    toolbar's "Download as CSV" exports exactly what is shown. Returns what st.dataframe returns."""
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)  # records or a mapping of columns
    return st.dataframe(csv_safe(frame), **kwargs)


_TEMPLATES = {"hovertemplate", "texttemplate", "template"}  # ours, with intended <br>/<extra> markup


def figure(fig):
    """A copy of a plotly figure whose strings cannot carry HTML: plotly renders <a href>, <b>, <span> etc. in
    labels, ticks, legends and hover text, and course titles or ids from a user's files end up there.
    Every chart passes through here, so it also gives each model its one colour (`recsys.ui.colours`)."""
    import plotly.graph_objects as go

    def clean(value, key=None):
        if key in _TEMPLATES:
            return value
        if isinstance(value, str):
            return value.replace("<", "&lt;").replace(">", "&gt;") if ("<" in value or ">" in value) else value
        if isinstance(value, dict):
            return {k: clean(v, k) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if hasattr(value, "dtype") and value.dtype == object:
            return [clean(v) for v in value.tolist()]
        return value

    from recsys.ui import colours

    return colours.apply(go.Figure(clean(fig.to_dict())))  # and every model in its one colour
