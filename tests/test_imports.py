"""No import cycle inside genlab/: every module's genlab imports, read with ast, form a DAG.

An edge is any `import genlab.x` or `from genlab.x import y` written anywhere in a module,
inside functions too: an import deferred into a function only hides a circle until that
function runs. A package's __init__ is a node of its own (genlab.models). Importing
genlab.a.b also runs genlab/a/__init__.py, but that implied edge is left out: counting it
would make every package whose __init__ gathers its submodules a circle by construction.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "genlab"


def module_names(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted name -> file for every module under the package (a package's name is its __init__)."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of a dotted name that is one of our modules (genlab.x.Cls -> genlab.x)."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in modules:
            return ".".join(parts)
        parts.pop()
    return None


def imports_of(name: str, modules: dict[str, Path]) -> dict[str, int]:
    """The modules `name` imports -> the first line that does so."""
    path = modules[name]
    is_package = path.name == "__init__.py"
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: climb from this module's package
                here = name.split(".") if is_package else name.split(".")[:-1]
                here = here[:len(here) - (node.level - 1)]
                base = ".".join(here + ([base] if base else []))
            # `from genlab import models` names a submodule; `from genlab import __version__`
            # names something in genlab/__init__.py
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        for target in targets:
            known = _known(target, modules)
            if known is not None and known != name:
                found.setdefault(known, node.lineno)
    return found


def import_graph(package: Path = PACKAGE) -> tuple[dict[str, dict[str, int]], dict[str, Path]]:
    modules = module_names(package)
    return {name: imports_of(name, modules) for name in modules}, modules


def strongly_connected(graph: dict[str, dict]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that can all reach one another."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:  # v is the root of a group: pop it off
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


def a_cycle(graph: dict[str, dict], group: list[str]) -> list[str]:
    """One concrete circle through a group's first module (shortest, by breadth-first search)."""
    start, members = group[0], set(group)
    came_from = {start: None}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w == start:
                    path = [v]
                    while came_from[path[-1]] is not None:
                        path.append(came_from[path[-1]])
                    return path[::-1] + [start]
                if w in members and w not in came_from:
                    came_from[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"{group} is not a circle")


def describe(graph: dict[str, dict[str, int]], modules: dict[str, Path], cycle: list[str]) -> str:
    root = PACKAGE.parent
    steps = [f"    {a} -> {b}  ({modules[a].relative_to(root)}:{graph[a][b]})" for a, b in zip(cycle, cycle[1:])]
    return " -> ".join(cycle) + "\n" + "\n".join(steps)


def test_no_import_cycle_in_genlab():
    graph, modules = import_graph()
    circles = [g for g in strongly_connected(graph) if len(g) > 1]
    report = [f"{len(g)} modules import one another: {', '.join(g)}\n  e.g. {describe(graph, modules, a_cycle(graph, g))}"
              for g in circles]
    assert not circles, "import cycle in genlab/:\n" + "\n".join(report)


def test_the_walker_sees_every_kind_of_import(tmp_path):
    """Guards the test above against passing on a graph with edges missing."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("VERSION = 1\n")
    (pkg / "a.py").write_text("import pkg.b\nfrom pkg.sub.d import X\n\n"
                              "def late():\n    from pkg import c, VERSION\n")
    for name in ("b.py", "c.py", "sub/__init__.py"):
        (pkg / name).write_text("")
    (pkg / "sub" / "d.py").write_text("from . import e\nfrom ..b import Y\nimport os\n")
    (pkg / "sub" / "e.py").write_text("")
    graph, _ = import_graph(pkg)
    assert set(graph["pkg.a"]) == {"pkg.b", "pkg.sub.d", "pkg.c", "pkg"}  # in a function too; a name in __init__
    assert set(graph["pkg.sub.d"]) == {"pkg.sub.e", "pkg.b"}  # relative imports; os is not ours
    real, modules = import_graph()
    assert len(modules) > 40 and "genlab.models.dcgan" in real["genlab.models"]


def test_the_registry_is_full_whichever_module_is_imported_first():
    """The registry imports no family; genlab/__init__.py tells it how, and runs before any genlab module."""
    declared = {name for path in (PACKAGE / "models").glob("*.py")
                for name in re.findall(r'^    family = "(\w+)"', path.read_text(), re.M)}
    code = "from genlab.registry import list_families; print(' '.join(list_families()))"
    listed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=PACKAGE.parent).stdout.split()
    assert len(declared) >= 14 and set(listed) == declared


def test_the_cycle_finder_finds_a_circle():
    graph = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3, "d": 4}, "d": {}}
    groups = [g for g in strongly_connected(graph) if len(g) > 1]
    assert groups == [["a", "b", "c"]]
    assert a_cycle(graph, groups[0]) == ["a", "b", "c", "a"]
