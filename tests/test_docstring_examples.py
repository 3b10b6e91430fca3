"""The example in each package docstring runs as written (only `folder`, a generated IBM-format data folder, is
given; the examples say "e.g. data/builtin"), so the first code a newcomer copies does not raise."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _examples(path: Path) -> list[str]:
    """The indented code blocks of a module docstring (a block starts after a blank line, 4 spaces in)."""
    doc = ast.get_docstring(ast.parse(path.read_text()), clean=False) or ""
    blocks, current = [], []
    for line in doc.splitlines() + [""]:
        if line.startswith("    ") and (current or not line.strip() == ""):
            current.append(line)
        elif current:
            blocks.append(textwrap.dedent("\n".join(current)))
            current = []
    return [b for b in blocks if b.strip()]


PACKAGES = sorted(p for p in (ROOT / "recsys").rglob("__init__.py") if _examples(p))


def test_the_packages_that_show_an_example_are_found():
    names = {str(p.parent.relative_to(ROOT)) for p in PACKAGES}
    assert {"recsys/evaluation", "recsys/simulation"} <= names, names


@pytest.mark.parametrize("init", PACKAGES, ids=lambda p: str(p.parent.relative_to(ROOT)))
def test_package_docstring_example_runs(init, generated_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an example may write a file (the run history)
    namespace = {"folder": str(generated_data(6, 600, 30))}
    for block in _examples(init):
        exec(compile(block, f"{init.relative_to(ROOT)} docstring", "exec"), namespace)
