"""The layering ARCHITECTURE.md describes, checked on the import statements of every module.

A module may import only from its own layer and the layers listed for it; only the UI layer (recsys.ui and the
views) imports Streamlit, so the library, CLI and benchmarks run without it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# layer -> layers it may import (besides itself). A layer is recsys.<name>; "evaluation.metrics" is the one
# evaluation module (pure metric functions) that models may use, e.g. the hybrid learning its weights;
# "models.serving" is the serving policy (top-k, filters, feedback on arrays) that metrics rank with.
ALLOWED = {
    "_json": set(),
    "_sqlite": set(),
    "_blas": set(),
    "_progress": set(),
    "_files": set(),
    "data": {"_json", "_files"},
    "models": {"_json", "_blas", "_files", "data", "evaluation.metrics", "spark_session"},
    "spark_session": set(),
    "models.serving": set(),
    "evaluation.metrics": {"evaluation", "models.serving"},
    "evaluation": {"_json", "_sqlite", "_progress", "data", "models", "recsys", "evaluation.metrics"},
    "artifacts": {"_json", "data", "models"},
    "personas": {"data"},
    "paths": {"data", "models"},
    "insights": {"data", "models"},
    "simulation": {"data", "models", "evaluation"},
    "feedback": {"_json", "_sqlite"},
    "cli": {
        "_json",
        "data",
        "models",
        "evaluation",
        "artifacts",
        "paths",
        "insights",
        "simulation",
        "spark_session",
        "recsys",
    },
    "ui": {
        "_json",
        "data",
        "models",
        "evaluation",
        "artifacts",
        "personas",
        "paths",
        "insights",
        "simulation",
        "feedback",
        "recsys",
    },
}


def _layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "recsys"
    if parts[1] == "evaluation" and len(parts) > 2 and parts[2] == "metrics":
        return "evaluation.metrics"
    if parts[1] == "models" and len(parts) > 2 and parts[2] == "serving":
        return "models.serving"
    return parts[1]


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "recsys.evaluation":
            names += [f"recsys.evaluation.{a.name}" for a in node.names]  # `from recsys.evaluation import metrics`
        elif isinstance(node, ast.ImportFrom) and node.module in ("recsys.models",):
            names += [f"recsys.models.{a.name}" if a.name == "serving" else node.module for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


def test_every_module_imports_only_the_layers_below_it():
    problems = []
    for path in sorted((ROOT / "recsys").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        own = _layer(module)
        if own in ("recsys", "__init__", "__main__"):
            continue
        allowed = ALLOWED.get(own)
        assert allowed is not None, f"{module}: layer '{own}' is not described (add it to ARCHITECTURE.md and here)"
        for name in _imports(path):
            if name.split(".")[0] == "streamlit" and own != "ui":
                problems.append(f"{module} imports streamlit")
            if not name.startswith("recsys"):
                continue
            target = _layer(name)
            parent = target.split(".")[0]  # a sub-layer (models.serving) belongs to its layer (models) too
            ok = target in (own, "recsys") or target in allowed or parent == own or parent in allowed
            if not ok:
                problems.append(f"{module} imports {name}")
    assert not problems, "\n".join(problems)


def test_views_are_thin_and_go_through_the_ui_layer():
    """Pages import the library or recsys.ui, never the CLI; none of them trains a model by hand."""
    for path in sorted((ROOT / "views").glob("*.py")):
        text = path.read_text()
        assert "recsys.cli" not in text, path.name
        assert ".fit(" not in text, f"{path.name} fits a model itself (use the model store)"


def test_every_table_goes_through_the_spreadsheet_safe_wrapper():
    """st.dataframe's toolbar exports cells as shown, so every table is drawn by recsys.ui.plain.table."""
    offenders = [
        p.name
        for p in [*ROOT.glob("views/*.py"), *ROOT.glob("recsys/ui/*.py")]
        if p.name != "plain.py" and "st.dataframe(" in p.read_text()
    ]
    assert not offenders, offenders


def test_every_chart_goes_through_the_html_escaping_wrapper():
    """Plotly renders HTML in labels; every st.plotly_chart call gets `plain.figure(...)` (data-derived text)."""
    import re

    offenders = []
    for p in [*ROOT.glob("views/*.py"), *ROOT.glob("recsys/ui/*.py")]:
        for match in re.finditer(r"\.plotly_chart\(\s*(\S{0,13})", p.read_text()):
            if not match.group(1).startswith("plain.figure("):
                offenders.append(p.name)
    assert not offenders, offenders
