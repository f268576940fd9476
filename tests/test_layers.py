"""The layers stay as `ls` shows them: the core (harness/ without harness/app and the harness/cli.py shim) imports
neither the runners nor the analysis, only harness/app does (at module top), and no imports go in a circle.
Imports are read from the source (ast), so the test covers modules no other test imports."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "runners", "analysis")
COMMAND_LAYER = ("harness.app", "harness.cli")  # may use the runners and the analysis


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def in_layer(module: str, layer) -> bool:
    return any(module == top or module.startswith(top + ".") for top in layer)


def targets(node: ast.AST, module: str) -> set[str]:
    """The project modules an import statement loads (with the packages above them, whose __init__ runs first)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: from the module's own package
            package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
            base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
        names = [base] + [f"{base}.{a.name}" for a in node.names]
    out = set()
    for name in names:
        parts = name.split(".")
        out |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & MODULES.keys()
    return out


def type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(module: str, top_level_only: bool) -> dict[str, int]:
    """{imported project module: line}; module level only (what runs at import time), or every import."""
    tree = ast.parse(MODULES[module].read_text())
    found: dict[str, int] = {}
    parts = module.split(".")
    ancestors = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}  # initialised before the module itself

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if type_checking_only(child):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)) and (top or not top_level_only):
                for t in targets(child, module) - ancestors:
                    found.setdefault(t, child.lineno)
            nested = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))
            visit(child, top and not nested)

    visit(tree, True)
    return found


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles (one per strongly connected component with more than one module), Tarjan's algorithm."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return out


def test_the_core_imports_neither_runners_nor_analysis():
    bad = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {t}" for m in MODULES
           if m.startswith("harness") and not in_layer(m, COMMAND_LAYER)
           for t, line in imports(m, top_level_only=False).items() if in_layer(t, ("runners", "analysis"))]
    assert not bad, "\n".join(bad)


def test_the_command_layer_imports_runners_and_analysis_at_module_top():
    hidden = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {t} inside a function" for m in MODULES
              if in_layer(m, COMMAND_LAYER)
              for t, line in imports(m, top_level_only=False).items()
              if in_layer(t, ("runners", "analysis")) and t not in imports(m, top_level_only=True)]
    assert not hidden, "\n".join(hidden)


def test_no_import_cycles():
    """Among module-level imports of every package (what Python runs at import time); and in the core, also with
    its function-level imports counted as module-level ones: none of them hides a cycle."""
    at_import = {m: set(imports(m, top_level_only=True)) for m in MODULES}
    assert cycles(at_import) == []
    core = {m for m in MODULES if m.startswith("harness") and not in_layer(m, COMMAND_LAYER)}
    hoisted = {m: set(imports(m, top_level_only=False)) & core for m in core}
    assert cycles(hoisted) == []


def test_the_checks_see_what_they_look_for():
    """The walker finds imports of every form (so the assertions above can fail)."""
    assert {"harness.train", "harness.train.checkpoint"} <= imports("harness.loop.evolve", True).keys()
    assert "runners" in imports("harness.app.sweep", True)
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
