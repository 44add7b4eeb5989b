# SPDX-License-Identifier: Apache-2.0
"""otel_llmperf's modules import each other without cycles.

The graph is read with ``ast`` from the source, so it holds every import a module may run: at
module level, inside functions and under ``TYPE_CHECKING``. ``from package import name`` counts
as importing the submodule ``package.name`` when there is one, else ``package`` itself; the
implicit import of a module's parent packages is not an edge (every submodule has it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import otel_llmperf

SOURCE = Path(otel_llmperf.__file__).resolve().parent


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name → file, for every module of the package at ``root``."""
    found = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module → the package's modules it imports anywhere in its source."""
    known = modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                targets.update(
                    f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module for alias in node.names
                )
        graph[name] = {target for target in targets if target in known and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_graph_sees_every_kind_of_import() -> None:
    graph = import_graph(SOURCE)
    assert "otel_llmperf.report.queries" in graph["otel_llmperf.report.collect"]  # module level, absolute
    assert "otel_llmperf.report.collect" in graph["otel_llmperf.report.command"]  # inside a function
    assert "otel_llmperf._errors" in graph["otel_llmperf.config"]  # from package import submodule
    assert "otel_llmperf.report.stats" in graph["otel_llmperf.report.collect"]  # under TYPE_CHECKING


def test_cycles_are_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_otel_llmperf_modules() -> None:
    assert cycles(import_graph(SOURCE)) == []
