"""The package's import structure: no module imports itself back through others, and no layer
imports one above it (read from the sources, every import counted: module level, inside
functions and under TYPE_CHECKING alike)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "mmm_evidence"

#: Bottom to top: a module may import from its own layer and the layers below it only.
#: ``data`` and ``model`` share one layer (the synthetic generator draws its truth with the
#: model's own adstock and saturation; the model reads panels).
LAYERS = (
    ("config",),
    ("data", "model"),
    ("evaluation",),
    ("pipeline",),
    ("report",),
    ("evidence",),
    ("bundle",),
    ("cli",),
)


def _modules(root: Path = SRC) -> dict[str, Path]:
    modules = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    """{module: the package's modules it imports}, from the sources."""
    modules = _modules(root)
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                           else node.module for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return dict(graph)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None  # the package's face
    for level, names in enumerate(LAYERS):
        if parts[1] in names:
            return level
    return None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for module, targets in sorted(graph.items()):
        own = layer_of(module)
        for target in sorted(targets):
            other = layer_of(target)
            if own is not None and other is not None and other > own:
                out.append(f"{module} -> {target}")
    return out


def test_the_checks_catch_a_cycle_and_an_upward_import() -> None:
    graph = {"mmm_evidence.pipeline.a": {"mmm_evidence.report.b"},
             "mmm_evidence.report.b": {"mmm_evidence.pipeline.a"},
             "mmm_evidence.config": set()}
    assert cycles(graph) == [["mmm_evidence.pipeline.a", "mmm_evidence.report.b"]]
    assert upward_imports(graph) == ["mmm_evidence.pipeline.a -> mmm_evidence.report.b"]


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in _modules() if m != PACKAGE and layer_of(m) is None]
    assert not unplaced, f"modules outside LAYERS: {unplaced}"


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_layer_imports_one_above_it() -> None:
    found = upward_imports(import_graph())
    assert not found, "imports of a layer above:\n" + "\n".join(found)
