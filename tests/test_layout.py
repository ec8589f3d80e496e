"""The package's shape: small modules, none importing much of the rest, no import cycle, formats free of
HTTP, and tests that never import each other. Read from the source with `ast`, so nothing is imported."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

PACKAGE = ROOT / "autoconfig"
MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(name: str, *, top_level_only: bool = False) -> set[str]:
    """The package's modules `name` imports; with `top_level_only`, only those imported at import time."""
    path = modules()[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, name, path.name == "__init__.py")
            found |= {
                f"{source}.{a.name}" if f"{source}.{a.name}" in modules() else source for a in node.names
            }
    return {module for module in found if module in modules() and module != name}


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_is_over_450_lines(name: str) -> None:
    lines = len(modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it by what it holds"


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_module_imports_more_than_a_third_of_the_others(name: str) -> None:
    imported = imports_of(name)
    assert len(imported) <= len(modules()) // 3, sorted(imported)


def test_there_is_no_import_cycle() -> None:
    graph = {name: imports_of(name, top_level_only=True) for name in modules()}
    # A package's __init__ runs before its modules: importing `a.b` imports `a` first.
    for name in modules():
        parent = name.rpartition(".")[0]
        if parent in graph:
            graph[name].add(parent)
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for following in sorted(graph[node]):
            if state.get(following) == "open":
                cycle = [*trail[trail.index(following) :], following]
                # A package importing its own modules, which import the package back, is how
                # re-exports work: Python finishes the package first. Only other loops are cycles.
                if not all(m == cycle[0] or m.startswith(cycle[0] + ".") for m in cycle):
                    pytest.fail("import cycle: " + " -> ".join(cycle))
            elif following not in state:
                visit(following, [*trail, following])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("name", sorted(n for n in modules() if n.startswith("autoconfig.formats.")))
def test_formats_know_nothing_of_http(name: str) -> None:
    tree = ast.parse(modules()[name].read_text(encoding="utf-8"))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {n for n in names if n.split(".")[0] in ("starlette", "uvicorn") or ".web" in n}


# The layers, from the bottom: settings and formats, then version.py (one version of the settings and all
# it implies), then web (what one process serves), then serving (the supervisor and its workers). A layer
# never imports one above it.
ABOVE = {
    "autoconfig.formats.": ("autoconfig.version", "autoconfig.web", "autoconfig.serving"),
    "autoconfig.version": ("autoconfig.web", "autoconfig.serving"),
    "autoconfig.web.": ("autoconfig.serving",),
}


@pytest.mark.parametrize(
    ("name", "above"),
    [(n, above) for n in sorted(modules()) for layer, above in ABOVE.items() if n.startswith(layer)],
)
def test_no_layer_imports_one_above_it(name: str, above: tuple[str, ...]) -> None:
    upward = {m for m in imports_of(name) if m.startswith(above)}
    assert not upward, f"{name} imports {sorted(upward)}"


def test_no_test_module_imports_another_test_module() -> None:
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or "", *(a.name for a in node.names)]
                if any(part.startswith("test_") for name in names for part in name.split(".")):
                    offenders.append(f"{path.relative_to(ROOT)}: from {'.' * node.level}{node.module}")
    assert offenders == [], "put shared helpers in a helper module"
