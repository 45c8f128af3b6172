"""The gateway's rooms by request phase: a request walks ingress -> decide -> act and never back; operate/ sits
beside the path; the composition modules (runtime, state, http, endpoints) sit above every phase. Rules as
data (docs/architecture.md, "Gateway phases"); the self-test plants a violation and runs the same check."""

from __future__ import annotations

import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "semantic_router" / "server"
TOP = ("runtime", "state", "http", "extproc", "endpoints", "cli", "demo")  # composition and front doors: above the phases

# phase -> the server parts it never imports
NEVER: dict[str, tuple[str, ...]] = {
    "ingress": ("decide", "act", "operate", *TOP),
    "decide": ("act", "operate", *TOP),
    "act": ("operate", *TOP),
    "operate": ("state", "http", "endpoints", "cli", "demo"),  # it builds Runtimes on reload, so it may import one
}
# what server/ may import of the library: its public face
LIBRARY_FACE = ("semantic_router", "semantic_router.errors", "semantic_router.redis_urls", "semantic_router.extras",
                "semantic_router.guards", "semantic_router.learn")


def imported(path: Path) -> list[str]:
    """Absolute module names a file imports (`from semantic_router.server import y` counts as importing `y`)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [f"{node.module}.{a.name}" for a in node.names] if node.module == "semantic_router.server" \
                else [node.module]
    return [m for m in out if m == "semantic_router" or m.startswith("semantic_router.")]


def back_arrows(server: Path) -> list[tuple[str, str]]:
    """(file, imported module) for every import that runs against the rules in NEVER."""
    bad: list[tuple[str, str]] = []
    for phase, banned in NEVER.items():
        for path in sorted((server / phase).rglob("*.py")):
            for module in imported(path):
                parts = module.split(".")
                if parts[:2] == ["semantic_router", "server"] and len(parts) > 2 and parts[2] in banned:
                    bad.append((str(path.relative_to(server)), module))
    return sorted(bad)


def library_reaches(server: Path) -> list[tuple[str, str]]:
    """(file, module) for every import of the library beyond its public face."""
    bad = []
    for path in sorted(server.rglob("*.py")):
        if path == server / "cli.py":  # the CLI's plug-in: its own row in docs/architecture.md lets it import cli/
            continue
        froms = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, (ast.Import, ast.ImportFrom))]
        for node in froms:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for module in names:
                if module.startswith("semantic_router") and not module.startswith("semantic_router.server") \
                        and module not in LIBRARY_FACE:
                    bad.append((str(path.relative_to(server)), module))
    return bad


def test_a_request_walks_the_phases_one_way():
    assert back_arrows(SERVER) == []


def test_the_gateway_uses_the_library_public_face_only():
    assert library_reaches(SERVER) == []


def test_every_phase_exists_and_holds_code():
    for phase in NEVER:
        assert len(list((SERVER / phase).rglob("*.py"))) > 1, phase


def test_a_planted_back_arrow_fails(tmp_path):
    for phase in NEVER:
        (tmp_path / phase).mkdir()
        (tmp_path / phase / "__init__.py").write_text("")
    (tmp_path / "decide" / "x.py").write_text("from semantic_router.server.act.chat import plan_chat\n")
    (tmp_path / "ingress" / "y.py").write_text("from semantic_router.server import state\n")
    (tmp_path / "act" / "z.py").write_text("import semantic_router.server.operate.stats\n")
    (tmp_path / "act" / "ok.py").write_text("from semantic_router.server.decide.classify import Routed\n")
    assert back_arrows(tmp_path) == [("act/z.py", "semantic_router.server.operate.stats"),
                                     ("decide/x.py", "semantic_router.server.act.chat"),
                                     ("ingress/y.py", "semantic_router.server.state")]
    (tmp_path / "act" / "lib.py").write_text("from semantic_router.index.redis import strip_password\n")
    assert library_reaches(tmp_path) == [("act/lib.py", "semantic_router.index.redis")]
