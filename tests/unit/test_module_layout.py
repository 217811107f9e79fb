"""The product's layout, read from the source: which package may import which, and no module
over 400 lines. The engine's core (engine/ apart from its simulators and its CLI) imports
neither the simulators, the CLI, the actors nor the admin API; actors and memory never import
the admin API, and memory never imports the actors (recordings, shared data types and tenant
provisioning live below both). Nothing is imported to check it."""

from __future__ import annotations

from tests.unit.test_import_cycles import PACKAGES, ROOT, import_graph

MAX_LINES = 400
DATA_MODULES = {"admin_api/common_passwords.py"}  # a word list, not code


def _imports(source: tuple[str, ...], target: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{name} -> {imported}"
        for name, imports in import_graph().items()
        if name.startswith(source)
        for imported in imports
        if imported.startswith(target)
    )


def _core(name: str) -> bool:
    return name.startswith("engine") and not name.startswith(("engine.sim", "engine.cli"))


def test_the_engines_core_imports_no_simulator_cli_actor_or_admin_api() -> None:
    found = sorted(
        f"{name} -> {imported}"
        for name, imports in import_graph().items()
        if _core(name)
        for imported in imports
        if imported.startswith(("engine.sim", "engine.cli", "actors", "admin_api"))
    )
    assert found == []


def test_actors_and_memory_never_import_the_admin_api() -> None:
    assert _imports(("actors", "memory"), ("admin_api",)) == []


def test_memory_never_imports_the_actors() -> None:
    assert _imports(("memory",), ("actors",)) == []


def test_no_product_module_is_over_400_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
    }
    assert len(sizes) > 300  # the walk sees the product
    over = {path: n for path, n in sizes.items() if n > MAX_LINES and path not in DATA_MODULES}
    assert over == {}
