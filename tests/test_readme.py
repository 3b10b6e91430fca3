"""Every command the README shows runs verbatim after `make run` (issue 24): each `.venv/bin/python -m recsys ...` line of
its code blocks and its Python snippet, on the built-in data, from a folder laid out like the project (the
models and the run history go to a temporary artifacts folder, never the project's)."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from recsys.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BUILTIN = ROOT / "data" / "builtin"
VENV_PYTHON = ".venv/bin/python"  # the Makefile's $(VENV)/bin/python: a fresh shell's `python` has no recsys
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(README.read_text(encoding="utf-8")) if lang == language]


def cli_lines() -> list[str]:
    lines = []
    for body in blocks("bash"):
        for line in body.splitlines():
            command = line.split("#", 1)[0].strip()
            if "python -m recsys" in command:
                assert command.startswith(f"{VENV_PYTHON} -m recsys "), f"not the interpreter `make run` makes: {line}"
                lines.append(command)
    return lines


def test_the_readme_shows_the_two_commands_first_and_stays_short():
    text = README.read_text(encoding="utf-8")
    first = blocks("bash")[0].splitlines()
    assert [line.split()[:2] for line in first] == [["make", "run"], ["make", "test"]]
    assert len(text.splitlines()) < 250
    assert len(cli_lines()) >= 5 and len(blocks("python")) == 1
    assert "VENV := .venv" in (ROOT / "Makefile").read_text() and f"`{VENV_PYTHON}`" in text
    for link in re.findall(r"\]\(((?:docs/|ARCHITECTURE)[^)#]*)\)", text):
        assert (ROOT / link).exists() or link == "docs/security.md", f"README links to a missing file: {link}"


@pytest.fixture
def project_like(tmp_path, monkeypatch):
    """A working folder with data/builtin -> the built-in dataset, as after `make run`."""
    if not (BUILTIN / "ratings.csv").is_file():
        pytest.skip(f"the built-in dataset is not built yet ({BUILTIN}; `make run` or `make data` builds it)")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "builtin").symlink_to(BUILTIN, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECSYS_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    return tmp_path


@pytest.mark.slow  # the README's commands on the full built-in dataset: ~30-60 s on 2 shared cores
def test_every_readme_command_runs_verbatim(project_like, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # `make run` alone does not install Spark
    for line in cli_lines():
        argv = shlex.split(line)[3:]  # drop ".venv/bin/python -m recsys" (this test runs on that interpreter)
        code = main(argv)
        out = capsys.readouterr()
        assert code == 0, f"{line}\n{out.err}"
        assert "error:" not in out.err and "Traceback" not in out.err, f"{line}\n{out.err}"
        assert out.out.strip(), f"{line} printed nothing"
    assert (project_like / "results.json").is_file()  # compare --json wrote where the README says
    (snippet,) = blocks("python")
    exec(compile(snippet, "README.md (python)", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out
    assert "COURSE_ID" in printed and "ndcg@10" in printed and "spark_als" not in printed
