"""The source tree's layering: no module imports a higher layer, and no two modules import each other
(directly or round a longer loop), counting imports inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "progan"

# Lowest first. A module may import its own layer and those below.
LAYERS: list[set[str]] = [
    {"errors", "config", "config_io", "device", "numerics", "latents", "cache", "images", "presets",
     "augment_names", "threads"},
    {"nn", "data", "toy", "losses"},
    {"networks"},
    {"importers"},
    {"training", "metrics", "augment"},
    {"sampling", "bench", "explore"},
    {"cli", "__main__"},
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        parts = p.relative_to(SRC.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("progan")}
        elif isinstance(node, ast.ImportFrom):
            base = pkg.rsplit(".", node.level - 1)[0] if node.level > 1 else pkg
            mod = (base + ("." + node.module if node.module else "")) if node.level else (node.module or "")
            if mod.startswith("progan"):
                found |= {f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names}
    return found - {name}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYER.get(parts[1]) if len(parts) > 1 else None  # the package root is its public API


def test_every_subpackage_has_a_layer() -> None:
    tops = {m.split(".")[1] for m in _modules() if "." in m}
    assert tops <= set(LAYER), f"give these a layer in LAYERS: {sorted(tops - set(LAYER))}"


def test_no_module_imports_a_higher_layer() -> None:
    upward = sorted(f"{a} -> {b}" for a, bs in _graph().items() for b in bs
                    if _layer(a) is not None and _layer(b) is not None and _layer(b) > _layer(a))  # type: ignore[operator]
    assert not upward, "\n".join(upward)


def test_no_import_cycles() -> None:
    graph = _graph()
    graph = {a: {b for b in bs if b in graph and b != "progan"} for a, bs in graph.items() if a != "progan"}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, cycles


# Packages whose modules import inside functions by design, the reason stated once in the package docstring.
DEFERRED_BY_DESIGN = {
    "cli": "imported only when used",           # a command pays for its own imports, not every command's
    "explore": "before torch is imported",      # the page is served first
}


def _import_blocks_without_reason(path: Path) -> list[int]:
    """Lines of imports inside functions with no comment on the line, on another import line of the same
    block, or on the line(s) directly above the block."""
    lines = path.read_text(encoding="utf-8").splitlines()
    tree = ast.parse("\n".join(lines))
    bare = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            i = node.lineno - 1
            while i > 0 and lines[i - 1].strip().startswith(("import ", "from ")):
                i -= 1  # to the first line of this block of imports
            j = node.end_lineno or node.lineno
            while j < len(lines) and lines[j].strip().startswith(("import ", "from ")):
                j += 1
            block = lines[i:j]
            if not (any("#" in line for line in block) or lines[i - 1].strip().startswith("#")):
                bare.append(node.lineno)
    return bare


def test_imports_inside_functions_say_why() -> None:
    for package, phrase in DEFERRED_BY_DESIGN.items():
        doc = ast.get_docstring(ast.parse((SRC / package / "__init__.py").read_text(encoding="utf-8"))) or ""
        assert phrase in " ".join(doc.split()), f"progan.{package}: say in the docstring why imports wait"
    bare = [f"{p.relative_to(SRC)}:{line}" for p in sorted(SRC.rglob("*.py"))
            if p.relative_to(SRC).parts[0] not in DEFERRED_BY_DESIGN
            for line in _import_blocks_without_reason(p)]
    assert not bare, "imports inside functions without a comment saying why:\n" + "\n".join(bare)
