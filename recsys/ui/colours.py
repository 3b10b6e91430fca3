"""One stable colour per model across every chart of the workbench.

Plotly colours series in the order they appear, so with 16 models the same colour came back for two models
and a model changed colour from one chart to the next. Here each registry model owns one colour of a palette
made to separate many series on a white background (Plotly's Dark24: 24 dark, distinct hues), in registry
order, plus a line dash and a marker symbol as a second channel for lines and points. `apply(fig)` recolours
every trace (or bar) whose name is a model -- its key, its label, its label with parameters, or "key#2" for a
second copy -- and leaves other series alone. `plain.figure`, which every chart passes through, calls it.
"""

from __future__ import annotations

import re

import plotly.express as px

from recsys.models import MODEL_KEYS, REGISTRY

PALETTE: tuple[str, ...] = tuple(px.colors.qualitative.Dark24)
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
_ARM = re.compile(r"^[A-Z]: ")
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star", "hexagon", "triangle-down", "cross")


def model_index(name: object) -> int | None:
    """Registry position of the model a series name refers to, or None for a series that is not a model."""
    if not isinstance(name, str) or not name:
        return None
    text = _ARM.sub("", name.strip())  # an experiment arm "B: k-nearest neighbours (Surprise)" is that model
    base = text.split("#", 1)[0]
    if base in MODEL_KEYS:
        return MODEL_KEYS.index(base)
    for i, key in enumerate(MODEL_KEYS):  # labels, also with "(param=value)" or " -- unavailable" after them
        label = REGISTRY[key].label or key
        if text == label or text.startswith((f"{label} (", f"{label} --", f"{label}#")):
            return i
    return None


def colour(name: object) -> str | None:
    index = model_index(name)
    return None if index is None else PALETTE[index % len(PALETTE)]


def style(name: object) -> dict[str, str] | None:
    """{"color", "dash", "symbol"} for a model's series; None for anything else."""
    index = model_index(name)
    if index is None:
        return None
    return {
        "color": PALETTE[index % len(PALETTE)],
        "dash": DASHES[index % len(DASHES)],
        "symbol": SYMBOLS[index % len(SYMBOLS)],
    }


def apply(fig):
    """Give every model series of `fig` its colour (and dash / marker symbol on lines and points). In place;
    returns the figure."""
    for trace in fig.data:
        kind = trace.type
        look = style(getattr(trace, "name", None))
        if look is not None:
            _colour_trace(trace, kind, look)
            continue
        if kind == "bar":  # one trace whose bars are the models (a leaderboard bar chart)
            categories = trace.y if trace.orientation == "h" else trace.x
            if categories is not None and len(categories):
                colours = [colour(c) for c in categories]
                if all(colours):
                    trace.marker.color = colours
    return fig


def _colour_trace(trace, kind: str, look: dict[str, str]) -> None:
    if kind in ("scatter", "scattergl"):
        mode = trace.mode or ""
        if "lines" in mode or not mode:
            trace.line.color = look["color"]
            trace.line.dash = look["dash"]
        if "markers" in mode or not mode:
            trace.marker.color = look["color"]
            trace.marker.symbol = look["symbol"]
        if getattr(trace, "fillcolor", None) is not None:
            trace.fillcolor = look["color"]
    elif kind in ("bar", "histogram", "box", "violin"):
        trace.marker.color = look["color"]
        if kind in ("box", "violin"):
            trace.line.color = look["color"]
