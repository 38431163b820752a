"""The import structure of protocol/, server/ and persistence/: no import cycle, and no upward import from the pure
layers (the wire contract, the game rules) or the adapters into the layers that do I/O or wire a node.

Every import statement counts, wherever it stands: at the top, inside a function (a lazy import), or under
`if TYPE_CHECKING:`. A type-only import is still a dependency a reader has to follow, and a type-only circle means
two modules cannot be understood apart; it is also one refactoring away from a real circle at import time. A package
counts as its `__init__.py`; importing `a.b.c` is an edge to the module `a.b.c` (to the package when it names one),
not to its parents (Python runs the parents' `__init__` first, but they are not what the importer depends on).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTS = ("protocol", "server", "persistence")

# What each layer may import of the project (a prefix matches the module and everything below it).
ALLOWED = {
    "protocol": ("protocol",),
    "server.game": ("server.game", "protocol"),
    "persistence": ("persistence",),
    "server.bus": ("server.bus", "protocol"),
}
# The composition root: only the edges that receive a whole node (ASGI app, socket, HTTP, CLI) may import it.
NODE_IMPORTERS = {"server.app", "server.socket", "server.http", "server.serve", "server.cli"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for root in ROOTS for path in sorted((REPO / root).rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports, resolved to modules that exist (a `from a import b` names the module
    `a.b` when there is one, else the module `a`)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]  # `import a.b.attr` or a third-party module
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def layer_of(name: str) -> str | None:
    matches = [layer for layer in ALLOWED if name == layer or name.startswith(layer + ".")]
    return max(matches, key=len) if matches else None


def test_the_graph_is_read() -> None:
    graph = import_graph()
    assert "server.node" in graph["server.app"]
    assert "server.game.state" in graph["server.game.views"]
    assert "server.players" in graph["server.commands.registry"]


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_a_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_upward_imports_from_the_pure_layers_or_the_adapters() -> None:
    upward = []
    for name, targets in import_graph().items():
        layer = layer_of(name)
        if layer is None:
            continue
        allowed = ALLOWED[layer]
        upward += [f"{name} -> {target}" for target in sorted(targets)
                   if not any(target == prefix or target.startswith(prefix + ".") for prefix in allowed)]
    assert upward == []


def test_only_the_edges_import_the_node() -> None:
    importers = {name for name, targets in import_graph().items() if "server.node" in targets}
    assert importers <= NODE_IMPORTERS, importers - NODE_IMPORTERS
