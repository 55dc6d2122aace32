"""Acceptance 1 of issue 15: the product code has no import cycle, and `monitord/`
imports nothing from `simulators/` (design.md section 2: data flows one way; simulators
are attached from outside, by the command line's entry points).

A static walk of every module's AST, imports inside functions and `TYPE_CHECKING` blocks
included: a cycle hidden in a function is still a cycle in the design, and lazy imports
only move the failure to run time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# module prefix -> folder: drivers/ and simulators/ are installed as monitord.drivers and
# monitord.simulators (symlinks in monitord/, which rglob does not follow).
PACKAGES = {
    "monitord": "monitord",
    "monitord.drivers": "drivers",
    "monitord.simulators": "simulators",
}
SIM = "monitord.simulators"


def module_files() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for prefix, folder in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join([prefix, *parts])] = path
    return out


def core(name: str) -> bool:
    """The daemon core: monitord's own modules, not the drivers or simulators in it."""
    return name.split(".")[0] == "monitord" and not name.startswith(
        ("monitord.drivers", "monitord.simulators")
    )


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(product module, line) for each import in `path` (module `name`)."""
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str]
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join([*pkg, base] if base else pkg)
            # `from pkg import sub` imports the submodule `pkg.sub` when there is one
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        for t in targets:
            while t and t not in known:  # `import a.b.C` of a name: its module
                t = t.rpartition(".")[0]
            if t and t != name:
                yield t, node.lineno


def graph() -> dict[str, dict[str, int]]:
    known = module_files()
    g: dict[str, dict[str, int]] = {}
    for name, path in known.items():
        edges = g.setdefault(name, {})
        for t, line in imported(name, path, known):
            # A package's own __init__ runs before its submodules: not an edge of the design.
            if name.startswith(t + ".") or t.startswith(name + "."):
                continue
            edges.setdefault(t, line)
    return g


def cycles(g: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in g:
        if root in index:
            continue
        work = [(root, iter(g[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(g.get(w, {}))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def describe(comp: list[str], g: dict[str, dict[str, int]]) -> str:
    members = set(comp)
    edges = [f"{a} -> {b} (line {ln})" for a in comp for b, ln in g[a].items() if b in members]
    return "cycle among " + ", ".join(comp) + ": " + "; ".join(edges)


def test_walker_sees_imports_in_functions_and_type_checking_blocks() -> None:
    # The walk must see what a lazy or typing-only import hides, or the checks below
    # could pass on a cycle: monitord.cli imports its commands by name only, but
    # monitord.commands.run imports monitord.daemon inside main().
    g = graph()
    assert "monitord.daemon" in g["monitord.commands.run"]
    assert len(g) > 50


def test_no_import_cycle_in_product_code() -> None:
    g = graph()
    found = cycles(g)
    assert not found, "\n".join(describe(c, g) for c in found)


def test_monitord_imports_nothing_from_simulators() -> None:
    g = graph()
    bad = [
        f"{a} imports {b} (line {ln})"
        for a, edges in g.items()
        if core(a)
        for b, ln in edges.items()
        if b == SIM or b.startswith(SIM + ".")
    ]
    assert not bad, "\n".join(bad)
