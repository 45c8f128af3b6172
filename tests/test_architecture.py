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
