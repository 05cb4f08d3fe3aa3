"""The package layout holds: no import cycles, no oversized modules, no clashing names in api/."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger", "workers", "api")
MAX_LINES = 450



def product_modules() -> dict[str, Path]:
    """Every module of the product packages by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Product modules ``name`` imports anywhere in its file: top level, functions, type-only."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                if path.name != "__init__.py":
                    base.pop()
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                targets.add(submodule if submodule in known else module)
    return {t for t in targets if t in known and t != name}


def import_cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: set[frozenset[str]] = set()
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.add(frozenset(group))
    return groups


def test_no_product_modules_import_each_other_even_type_only_or_inside_functions() -> None:
    known = product_modules()
    graph = {name: imported_modules(name, path, known) for name, path in known.items()}
    cycles = import_cycles(graph)
    assert not cycles, f"modules importing each other: {sorted(map(sorted, cycles))}"


def test_the_cycle_finder_finds_a_cycle_of_three_and_none_in_a_chain() -> None:
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {
        frozenset({"a", "b", "c"})
    }
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == set()


def test_no_product_module_grows_past_450_lines() -> None:
    large = {
        name for name, path in product_modules().items()
        if len(path.read_text(encoding="utf-8").splitlines()) > MAX_LINES
    }
    assert not large, f"modules over {MAX_LINES} lines: {sorted(large)}"


def test_no_two_modules_under_api_share_a_name() -> None:
    stems = Counter(
        path.stem for name, path in product_modules().items()
        if name.startswith("api.") and path.name != "__init__.py"
    )
    clashing = {stem for stem, count in stems.items() if count > 1}
    assert not clashing, f"api/ module names used twice: {sorted(clashing)}"
