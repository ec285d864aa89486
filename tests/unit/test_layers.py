"""The import contract: bot → dialogs → booking, never back, and no channel in the domain."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "booking": ("bot", "dialogs", "aiohttp", "telegram"),
    "dialogs": ("bot", "aiohttp", "telegram"),
}


def imported_modules(path: Path, *, with_names: bool = False) -> set[str]:
    """Every module a file imports, at the top or inside a function; with `with_names`, also
    `module.name` for each name imported from a module (a submodule, maybe)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if with_names:
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_lower_layer_never_imports_a_higher_one(package: str) -> None:
    offences = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for module in imported_modules(path):
            if module.split(".")[0] in FORBIDDEN[package]:
                offences.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offences == []


def test_the_flows_never_import_one_another_in_a_circle() -> None:
    flows = {path.stem: path for path in (ROOT / "dialogs" / "flows").glob("*.py")}
    flows.pop("__init__")
    graph = {
        name: {
            module.split(".")[2]
            for module in imported_modules(path, with_names=True)
            if module.startswith("dialogs.flows.") and module.split(".")[2] in flows
        }
        - {name}
        for name, path in flows.items()
    }
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        assert name not in visiting, "import cycle: " + " -> ".join([*visiting, name])
        if name in done:
            return
        visiting.append(name)
        for imported in sorted(graph[name]):
            visit(imported)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_no_flow_takes_back_a_reply_it_wrote() -> None:
    offences = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "dialogs").rglob("*.py"))
        if "replies.pop(" in path.read_text(encoding="utf-8")
    ]
    assert offences == []


def test_understanding_is_pure() -> None:
    """No database, no I/O: the understanding layer imports neither SQLAlchemy nor booking's
    services, only its pure rules (booking.rules: ages, deadlines)."""
    offences = []
    for path in sorted((ROOT / "dialogs" / "understanding").rglob("*.py")):
        for module in imported_modules(path):
            if module == "booking" or module.startswith("booking.rules"):
                continue  # `from booking import rules`
            if module.split(".")[0] in ("sqlalchemy", "booking", "aiohttp", "telegram"):
                offences.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offences == []
