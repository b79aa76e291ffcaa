"""The shape of the package, read from its own imports (every import, also those inside functions):
no import circles, and each floor imports only the floors below it."""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "lstmcount"


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """module -> the lstmcount modules it imports (a package import counts as its __init__)."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    found.add(sub if sub in modules else target)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def test_no_import_circles():
    graph = imports()
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


FLOORS = [  # each module may import only modules of lower floors (or its own floor's package)
    {"lstmcount.errors"},
    {"lstmcount.model"},
    {"lstmcount.layout", "lstmcount.output"},
    {"lstmcount.conventions", "lstmcount.accounting"},
    {"lstmcount.inputs", "lstmcount.convert", "lstmcount.reconcile"},
    {"lstmcount.tools", "lstmcount.bridges"},
    {"lstmcount.render"},
    {"lstmcount.api"},  # a front door, as the command line is: its reports display through render/
    {"lstmcount.verify", "lstmcount"},
    {"lstmcount.cli"},
    {"lstmcount.__main__"},
]


def _floor(module: str) -> tuple[int, str]:
    best = (-1, "")
    for level, names in enumerate(FLOORS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > len(best[1]):
                best = (level, name)
    assert best[0] >= 0, f"{module} is on no floor: add it to FLOORS"
    return best


def test_every_import_runs_down():
    for module, targets in imports().items():
        level, room = _floor(module)
        for target in targets:
            other, other_room = _floor(target)
            assert other < level or other_room == room, f"{module} (floor {level}) imports {target} (floor {other})"


def test_the_model_imports_only_errors():
    assert imports()["lstmcount.model"] <= {"lstmcount.errors"}


def test_the_check_sees_an_import():
    """The import reader does see imports, also relative ones inside functions."""
    graph = imports()
    assert "lstmcount.inputs.yamlfile" in graph["lstmcount.inputs"] | graph["lstmcount.inputs.yamlspec"]
    assert "lstmcount.bridges" in graph["lstmcount.verify"]
