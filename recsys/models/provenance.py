"""What built a saved model: the code version of a model key, computed from the modules it really imports.

Why: an artifact is only valid for the code (and the libraries) that wrote it. Listing "the files a model
depends on" by hand goes stale the day a model imports a new helper, so the list is computed: starting from
the model's module (and the artifact format, `persistence`), follow every `import` / `from ... import` of a
`recsys` module (also those inside functions) and every "recsys.module:Class" location string (how the
hybrid and the registry name the models they build), read by `ast` -- nothing is imported to find out.
The versions of the libraries whose objects an artifact holds (numpy, scipy, pandas, scikit-learn, implicit,
Keras/TensorFlow, ...) are part of the version too: a scikit-learn upgrade makes the artifact stale.
"""

from __future__ import annotations

import ast
import hashlib
import re
import threading
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # the recsys/ folder
_PARSE_LOCK = threading.Lock()
FORMAT_MODULES = ("recsys.models.persistence",)  # how the state is written: part of every model's version
# import name -> distribution name, for the libraries whose objects or numbers end up in artifacts
LIBRARIES = {
    "numpy": "numpy",
    "scipy": "scipy",
    "pandas": "pandas",
    "sklearn": "scikit-learn",
    "skops": "skops",
    "implicit": "implicit",
    "surprise": "scikit-surprise",
    "keras": "keras",
    "tensorflow": "tensorflow",
    "pyspark": "pyspark",
}
_LOCATION = re.compile(r"^(recsys(?:\.\w+)+):\w+$")


def _module_file(name: str, root: Path) -> Path | None:
    """The source file of `recsys.x.y` under `root` (the recsys folder), or None when it is not a module."""
    parts = name.split(".")
    if parts[0] != "recsys":
        return None
    base = root.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(tree: ast.AST, module: str, is_package: bool, root: Path) -> tuple[set[str], set[str]]:
    """(recsys modules, third-party top-level names) that the parsed module imports."""
    own, other = set(), set()

    def add(name: str) -> None:
        top = name.split(".")[0]
        if top == "recsys":
            own.add(name)
        else:
            other.add(top)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            if not base:
                continue
            if base.split(".")[0] != "recsys":
                add(base)
                continue
            submodules = {f"{base}.{a.name}" for a in node.names if _module_file(f"{base}.{a.name}", root)}
            own.update(submodules)
            if len(submodules) < len(node.names):  # names defined by the package/module itself
                own.add(base)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _LOCATION.match(node.value)
            if match:
                own.add(match.group(1))
    other.discard("")
    return own, other


def dependencies(module: str, root: Path | None = None) -> tuple[list[Path], list[str]]:
    """Source files of `module` and every recsys module it transitively imports (plus the artifact
    format), and the third-party libraries they import (top-level names)."""
    root = Path(root) if root is not None else PACKAGE
    files: dict[str, Path] = {}
    libraries: set[str] = set()
    stack = [module, *FORMAT_MODULES]
    while stack:
        name = stack.pop()
        if name in files:
            continue
        path = _module_file(name, root)
        if path is None:
            continue
        files[name] = path
        found = _module_imports(name, path, root)
        if found is None:
            continue  # unreadable or not Python: still hashed below as what it is
        own, other = found
        libraries |= other
        stack.extend(sorted(own - files.keys()))
    return [files[name] for name in sorted(files)], sorted(libraries)


_IMPORTS: dict[tuple, tuple[set[str], set[str]]] = {}


def _module_imports(name: str, path: Path, root: Path) -> tuple[set[str], set[str]] | None:
    """`_imports` of one file, parsed once per version of the file (the models share most of their modules)."""
    try:
        stat = path.stat()
        key = (name, str(path), str(root), stat.st_mtime_ns, stat.st_size)
        if key not in _IMPORTS:
            source = path.read_bytes()
            with _PARSE_LOCK:  # CPython 3.11's parser is not thread-safe ("AST constructor recursion depth mismatch")
                tree = ast.parse(source, filename=str(path))
            _IMPORTS[key] = _imports(tree, name, path.name == "__init__.py", root)
        return _IMPORTS[key]
    except (OSError, SyntaxError):
        return None


def library_versions(names: Iterable[str]) -> dict[str, str]:
    """Installed versions of the artifact-relevant libraries among `names` (import names)."""
    out = {}
    for name in sorted(set(names) & LIBRARIES.keys()):
        try:
            out[name] = metadata.version(LIBRARIES[name])
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def provenance(model_class: type, root: Path | None = None) -> dict:
    """{'code': short hash, 'libraries': {name: version}} for a model class: what a saved copy depends on."""
    module = model_class.__module__
    files, libraries = dependencies(module, root)
    versions = library_versions(libraries)
    h = hashlib.sha256(f"{module}:{model_class.__qualname__}".encode())
    base = Path(root) if root is not None else PACKAGE
    for f in files:
        h.update(str(f.relative_to(base)).encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    for name, version in versions.items():
        h.update(f"{name}=={version}".encode())
    return {"code": h.hexdigest()[:12], "libraries": versions}
