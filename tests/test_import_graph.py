"""The package's import graph has no cycle: every ``import smshook…`` (at the top of a module, inside a
function, or under ``TYPE_CHECKING``) is an arrow from one module file to another, and no arrow path
leads back to where it started. ``docs/architecture.md`` describes the layers this keeps apart."""

from __future__ import annotations

import ast
from importlib.util import resolve_name
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "smshook"

# Cycles accepted for now: none (the last, storage backends <-> lifecycle/store, went with issue 12's
# storage rework). A new one fails the test; name it here only with a reason.
KNOWN: set[frozenset[str]] = set()


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    arrows: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from this package, one level up per extra dot
                    base = resolve_name("." * node.level + base, package)
                # ``from pkg import mod`` names the submodule when there is one, else pkg itself
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            else:
                continue
            arrows[name] |= {t for t in targets if t in known and t != name}
    return arrows


def cycles(arrows: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in arrows[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(arrows):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle() -> None:
    arrows = graph()
    assert arrows["smshook.cli"] >= {"smshook.cli.common", "smshook.cli.serve"}  # the reader sees imports
    unexpected = [sorted(c) for c in cycles(arrows) if c not in KNOWN]
    assert not unexpected, f"import cycles: {unexpected}"


def test_the_cli_commands_share_common_and_nothing_else() -> None:
    arrows = graph()
    for name in modules():
        if name.startswith("smshook.cli.") and name != "smshook.cli.common":
            siblings = {t for t in arrows[name] if t.startswith("smshook.cli")}
            assert siblings <= {"smshook.cli.common"}, f"{name} imports {sorted(siblings)}"
