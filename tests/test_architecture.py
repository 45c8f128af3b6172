"""The layering DESIGN.md asks for: parts that must never know each other don't import each other."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "semantic_router"

FORBIDDEN = {
    "index": ("router", "decision", "quality", "encoders"),
    "encoders": ("index", "router", "decision", "quality"),
}


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
    out += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    return [m for m in out if m.startswith("semantic_router")]


def test_forbidden_imports():
    bad = []
    for part, banned in FORBIDDEN.items():
        for path in (PKG / part).rglob("*.py"):
            bad += [(path.name, m) for m in imports(path) if any(m.startswith(f"semantic_router.{b}") for b in banned)]
    route_deps = [m for m in imports(PKG / "route.py") if m != "semantic_router.dynamic.schemas"]
    bad += [("route.py", m) for m in route_deps]
    for path in PKG.rglob("*.py"):  # the library never imports the CLI or the gateway (which import it)
        parts = path.relative_to(PKG).parts
        entry = parts == ("__main__.py",)  # `python -m semantic_router` starts the CLI
        if "cli" not in parts and parts[0] != "server" and not entry:
            bad += [(path.name, m) for m in imports(path) if m.startswith(("semantic_router.cli", "semantic_router.server"))]
    assert bad == []


def test_importing_the_package_loads_no_heavy_or_optional_library():
    code = ("import sys, semantic_router, semantic_router.encoders, semantic_router.index; "
            "heavy = {'torch', 'sentence_transformers', 'openai', 'cohere', 'fastembed', 'redis', 'qdrant_client', "
            "'pinecone', 'sklearn', 'matplotlib'}; print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- composition: no module reads another module's private attributes; no import cycle ---------------
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make"}  # public despite the underscore
# Reads of other modules' privates in files other helpers are rewriting right now (each listed with
# the change that removes it); the set may only shrink.
PENDING: set[tuple[str, str]] = set()
PENDING_CYCLES: list[list[str]] = []


def _module(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node except those under `if TYPE_CHECKING:` (never executed)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def _defined_privates(tree: ast.AST) -> set[str]:
    """Underscore names a module defines: functions, classes, attributes set or declared in it."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            out.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.add(node.target.id)
        elif isinstance(node, ast.keyword) and node.arg:
            out.add(node.arg)
    return {n for n in out if n.startswith("_")}


def private_reads() -> set[tuple[str, str]]:
    bad = set()
    for path in PKG.rglob("*.py"):
        tree = ast.parse(path.read_text())
        mine = _defined_privates(tree)
        rel = str(path.relative_to(PKG))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                    continue
                if node.attr in mine or node.attr in NAMEDTUPLE_API:
                    continue
                bad.add((rel, node.attr))
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("semantic_router"):
                bad |= {(rel, a.name) for a in node.names if a.name.startswith("_") and not a.name.startswith("__")}
    return bad


def test_no_module_reads_another_modules_privates():
    reads = private_reads()
    assert reads - PENDING == set()


def import_graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in _runtime_nodes(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            graph[mod] |= {t for t in targets if t in modules and t != mod}
    return graph


def test_the_import_graph_is_acyclic_lazy_imports_included():
    graph = import_graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert [c for c in cycles if c not in PENDING_CYCLES] == []
    assert "semantic_router.router.store" in graph["semantic_router.router.layer"]  # the graph sees real edges


def test_private_reads_check_catches_a_violation(tmp_path):
    tree = ast.parse("def f(layer):\n    return layer._table\n")
    mine = _defined_privates(tree)
    reads = [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr not in mine]
    assert reads == ["_table"]
