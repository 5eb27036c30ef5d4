"""No import runs back up: the modules' imports form no cycle.

Imports inside functions count too (a lazy import only hides a cycle); imports for
annotations only (`if TYPE_CHECKING:`) do not, and neither does a module's import of
its own package (`from shopnet_docker import names` in shopnet_docker.compose).
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ROOTS = ("services", "netns", "containers")


def _modules() -> dict[str, Path]:
    found = {}
    for root in ROOTS:
        for path in (REPO / root).rglob("*.py"):
            parts = path.relative_to(REPO / root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if parts and parts[0].startswith("shopnet"):
                found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if _is_type_checking(node):
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        names |= _imports(node)
    return names


def test_the_import_graph_has_no_cycle() -> None:
    modules = _modules()
    graph = {
        name: {
            d
            for d in _imports(ast.parse(path.read_text()))
            if d in modules and d != name and not name.startswith(d + ".")
        }
        for name, path in modules.items()
    }
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"an import cycle: {' → '.join(exc.args[1])}") from None
