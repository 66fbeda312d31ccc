"""The package's import structure: no circles, no private names across modules, no library
module importing a command-line module.

Imports are read from the source with :mod:`ast` (every import statement, inside functions and
``TYPE_CHECKING`` blocks too), so a circle hidden behind a lazy import counts.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "aebnas"
#: Libraries with a small command appended under ``if __name__ == "__main__"``: importing their
#: library part is fine (none today).
LIBRARY_WITH_COMMAND: set[str] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, path: Path) -> list[tuple[str, str | None, int]]:
    """``(module, imported name or None, line)`` of every aebnas import in ``path``; ``from
    package import submodule`` resolves to the submodule (name ``None``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[tuple[str, str | None, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in MODULES:
                    found.append((submodule, None, node.lineno))
                else:
                    found.append((source, alias.name, node.lineno))
    return [(m, n, line) for m, n, line in found if m == "aebnas" or m.startswith("aebnas.")]


@functools.cache
def import_graph() -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(MODULES)
    for name, path in MODULES.items():
        for target, _, _ in imported(name, path):
            if target != name and target in MODULES:
                graph.add_edge(name, target)
    return graph


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def is_command(name: str, path: Path) -> bool:
    """A module whose job is the command line: ``cli``/``__main__`` modules and modules run with
    ``python -m`` (a ``__main__`` guard); :mod:`aebnas.cli` (the parser plumbing) excluded."""
    if name == "aebnas.cli":
        return False
    last = name.rpartition(".")[2]
    return last in ("cli", "__main__") or '__name__ == "__main__"' in path.read_text()


def test_the_walk_finds_the_package() -> None:
    assert {"aebnas.search.loop", "aebnas.predictors.store", "aebnas.report"} <= set(MODULES)
    graph = import_graph()
    assert graph.has_edge("aebnas.bo_search", "aebnas.search")
    assert graph.number_of_edges() > 200


def test_no_import_circles() -> None:
    circles = [sorted(c) for c in nx.strongly_connected_components(import_graph()) if len(c) > 1]
    assert circles == [], f"import circles among aebnas modules: {circles}"


def test_no_module_imports_another_modules_private_names() -> None:
    offences = [
        f"{name}:{line} imports {target}.{what}"
        for name, path in MODULES.items()
        for target, what, line in imported(name, path)
        if what is not None and is_private(what)
    ]
    assert offences == []


def test_no_private_attribute_of_another_module() -> None:
    """``module._name`` on an imported aebnas module counts as importing ``_name``."""
    offences = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom | ast.Import):
                for alias in node.names:
                    full = (
                        alias.name
                        if isinstance(node, ast.Import)
                        else f"{node.module or ''}.{alias.name}"
                    )
                    if full in MODULES and full != name:
                        aliases.add(alias.asname or alias.name.partition(".")[0])
        offences += [
            f"{name}:{node.lineno} uses {node.value.id}.{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and is_private(node.attr)
        ]
    assert offences == []


def test_library_modules_import_no_command_module() -> None:
    commands = {n for n, p in MODULES.items() if is_command(n, p)} - LIBRARY_WITH_COMMAND
    assert {"aebnas.evaluate", "aebnas.bo_search", "aebnas.predictors.cli"} <= commands
    offences = [
        f"{name} imports {target}"
        for name in MODULES
        if name not in commands and name not in LIBRARY_WITH_COMMAND
        for target in import_graph().successors(name)
        if target in commands
    ]
    assert offences == []


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("aebnas.models.network", "aebnas.thresholds"),
        ("aebnas.search.evaluator", "aebnas.evaluate"),
    ],
)
def test_layering(module: str, forbidden: str) -> None:
    """Low layers do not reach up (directly or through other modules)."""
    reachable = nx.descendants(import_graph(), module)
    assert not {m for m in reachable if m == forbidden or m.startswith(forbidden + ".")}
