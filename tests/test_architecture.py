"""The layering ARCHITECTURE.md describes, checked on the import statements of every module.

A module may import only from its own layer and the layers listed for it; only the UI layer (recsys.ui and the
views) imports Streamlit, so the library and the CLI run without it. The pages (`views/`) are checked as the UI
layer; the benchmarks (`bench/`) may use every layer but the CLI (they run it as a command) and Streamlit's
test driver. Lazy imports inside functions count like any other, and `recsys/` has no import cycle.
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
    "_logs": set(),
    "_locations": set(),
    "data": {"_json", "_files"},
    "models": {"_progress", "_json", "_blas", "_files", "_logs", "data", "evaluation.metrics", "spark"},
    "spark": {"_logs"},
    "models.serving": set(),
    "evaluation.metrics": {"evaluation", "models.serving"},
    "evaluation": {"_progress", "_json", "_sqlite", "_locations", "data", "models", "recsys", "evaluation.metrics"},
    "serving": {"_progress", "_json", "_sqlite", "_files", "_locations", "data", "models"},
    "stories": {"_progress", "data", "models"},
    "simulation": {"_progress", "data", "models", "evaluation"},
    "cli": {
        "_json",
        "_progress",
        "_logs",
        "_locations",
        "data",
        "models",
        "evaluation",
        "serving",
        "stories",
        "simulation",
        "spark",
        "recsys",
    },
    "ui": {
        "_json",
        "_progress",
        "_logs",
        "_locations",
        "data",
        "models",
        "evaluation",
        "serving",
        "stories",
        "simulation",
        "recsys",
    },
}
ALLOWED["views"] = ALLOWED["ui"] | {"ui"}
ALLOWED["bench"] = (set(ALLOWED) | {"recsys"}) - {"cli", "views", "bench"}
STREAMLIT_LAYERS = {"ui", "views", "bench"}


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


def _sources():
    """(module name, path, layer) of every module of recsys/, the pages and the benchmarks."""
    for path in sorted((ROOT / "recsys").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        yield module, path, _layer(module)
    for folder in ("views", "bench"):
        for path in sorted((ROOT / folder).glob("*.py")):
            yield f"{folder}.{path.stem}", path, folder


def test_every_module_imports_only_the_layers_below_it():
    problems = []
    for module, path, own in _sources():
        if own in ("recsys", "__init__", "__main__"):
            continue
        allowed = ALLOWED.get(own)
        assert allowed is not None, f"{module}: layer '{own}' is not described (add it to ARCHITECTURE.md and here)"
        for name in _imports(path):
            if name.split(".")[0] == "streamlit" and own not in STREAMLIT_LAYERS:
                problems.append(f"{module} imports streamlit")
            if name.startswith("streamlit") and own == "bench" and not name.startswith("streamlit.testing"):
                problems.append(f"{module} imports {name} (a benchmark drives the app, it does not draw it)")
            if not name.startswith("recsys"):
                continue
            target = _layer(name)
            parent = target.split(".")[0]  # a sub-layer (models.serving) belongs to its layer (models) too
            ok = target in (own, "recsys") or target in allowed or parent == own or parent in allowed
            if not ok:
                problems.append(f"{module} imports {name}")
    assert not problems, "\n".join(problems)


def test_views_are_thin_and_go_through_the_ui_layer():
    """No page trains a model by hand or defines helpers inside `render` (they live in recsys.ui, or beside
    `render` when only that page uses them); Recommend only composes recsys.ui helpers."""
    for path in sorted((ROOT / "views").glob("*.py")):
        text = path.read_text()
        assert ".fit(" not in text, f"{path.name} fits a model itself (use the model store)"
        render = next(n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) and n.name == "render")
        nested = [n.name for n in ast.walk(render) if isinstance(n, ast.FunctionDef) and n is not render]
        assert not nested, f"{path.name}: render defines {nested}"
    recommend = (ROOT / "views" / "recommend.py").read_text()
    assert len(recommend.splitlines()) < 150, "views/recommend.py composes recsys.ui helpers"


def _module_graph() -> dict[str, set[str]]:
    """recsys module -> the recsys modules its imports run (top-level and lazy ones alike; `if TYPE_CHECKING:`
    blocks never run). `from recsys.x import y` runs recsys.x (its __init__) and recsys.x.y if that is a module;
    a module's own parent packages are already being imported, so they are no edge."""
    modules = {}
    for path in (ROOT / "recsys").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        own_packages = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
        if path.name == "__init__.py":
            own_packages.add(module)
        targets: set[str] = set()
        tree = ast.parse(path.read_text())
        skipped = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for inner in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                for i in range(1, name.count(".") + 2):
                    prefix = ".".join(name.split(".")[:i])
                    if prefix in modules and prefix not in own_packages:
                        targets.add(prefix)
        graph[module] = targets - {module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_sees_a_cycle_through_a_lazy_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_recsys():
    graph = _module_graph()
    assert "recsys.models.serving" in graph["recsys.models.base"], "the graph follows `from package import module`"
    assert _cycles(graph) == []


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
