"""No import cycle between the product's modules (engine, actors, memory, admin_api, prompts,
bench), and the engine never imports the benchmarks.

Imports run when a module loads (at its top level) must never form a cycle. Imports deferred
into a function or under TYPE_CHECKING may not either, except the cycles listed in
`DEFERRED_CYCLES`, each with its reason; a new one fails here. `from package import module`
counts as importing the module. Read from the source with `ast`; nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "actors", "memory", "admin_api", "prompts", "bench")

# Deferred-import cycles there are today (each a strongly connected set of modules).
DEFERRED_CYCLES = [
    # The state machine's rules: call_state steps, call_control, turn_taking, recording_steps,
    # emergency_steps, advice_steps and disclosure_steps decide, and they name CallState in
    # annotations / share its playback arithmetic and its fast copy.
    {
        "engine.advice_steps",
        "engine.call_control",
        "engine.call_state",
        "engine.disclosure_steps",
        "engine.emergency_steps",
        "engine.recording_steps",
        "engine.turn_taking",
    },
    # The simulated caller's result type, carried by the call errors (annotations only).
    {"engine.sim.caller_result", "engine.sim.twilio_call_records"},
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _deferred(tree: ast.Module) -> set[int]:
    """ids of the import nodes inside functions or under `if TYPE_CHECKING:`."""
    found: set[int] = set()
    for node in ast.walk(tree):
        inside = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or (
            isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        )
        if inside:
            found.update(
                id(n) for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)
            )
    return found


def import_graph(*, deferred: bool = True) -> dict[str, set[str]]:
    """Product module -> the product modules it imports (with `deferred`: also inside
    functions and under TYPE_CHECKING)."""
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        tree = ast.parse(path.read_text(), str(path))
        skip = set() if deferred else _deferred(tree)
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                modules = {f"{base}.{alias.name}" for alias in node.names} & files.keys()
                targets.update(modules or {base})
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_the_product() -> None:
    graph = import_graph()
    assert "actors.ports" in graph["actors.handles"]
    assert "engine.config" in graph["actors.ports"]
    assert len(graph) > 100


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected sets of more than one module."""
    found: list[set[str]] = []
    seen: set[str] = set()
    for start in sorted(graph):
        if start in seen:
            continue
        reach = _reachable(graph, start)
        group = {m for m in reach if start in _reachable(graph, m)} | {start}
        if len(group) > 1:
            found.append(group)
        seen |= group
    return found


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    todo, seen = [start], set()
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_no_cycle_among_the_imports_run_when_modules_load() -> None:
    cycle = find_cycle(import_graph(deferred=False))
    assert cycle is None, " -> ".join(cycle or [])


def test_no_new_cycle_among_deferred_imports() -> None:
    found = cycles(import_graph())
    assert [c for c in found if c not in DEFERRED_CYCLES] == []
    assert [c for c in DEFERRED_CYCLES if c not in found] == [], "a listed cycle is gone"
    assert cycles({"a": {"b"}, "b": {"a", "c"}, "c": set()}) == [{"a", "b"}]


def test_the_engine_never_imports_the_benchmarks() -> None:
    """`bench` drives the product from outside (`neurosphere bench` runs it as a child
    process); nothing of engine, actors, memory, admin_api or prompts imports it, not even
    inside a function."""
    found = sorted(
        f"{name} -> {target}"
        for name, targets in import_graph().items()
        if not name.startswith("bench")
        for target in targets
        if target == "bench" or target.startswith("bench.")
    )
    assert found == []
