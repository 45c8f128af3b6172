"""The house's rules, read from docs/architecture.md and enforced on every module of the package.

The table "The house: layers, and what each part may import" in docs/architecture.md is the data:
a part (package or module) may import only the parts its row names, on lower layers; "never"
arrows are checked on their own; `server/` and `compat/` use the public face only. Imports count
wherever they are (top level, lazily inside a function, under `TYPE_CHECKING`). Every rule is
proven able to fail: the same detection functions run on a copy of the package with a planted
violation and must report it.
"""

from __future__ import annotations

import ast
import functools
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "semantic_router"
DOC = ROOT / "docs" / "architecture.md"
TABLE_HEADER = "| layer | part | owns | may import | never imports |"
PUBLIC_FACE = "the public face"

# Imports that break "server/ and compat/ use the public face only" today, each with why and what
# removes it. The set may only shrink: an entry whose import is gone fails the suite until removed.
# Empty since issue 17: compat/ reads files through semantic_router.files and shared state through
# semantic_router.shared, the gateway its Redis URLs through semantic_router.redis_urls.
PUBLIC_FACE_EXCEPTIONS: dict[tuple[str, str], str] = {}


# -- the rules, as docs/architecture.md declares them ------------------------------------------------
@dataclass(frozen=True)
class Part:
    """One row of the table: a package (`router/`) or a module (`route.py`)."""

    name: str
    layer: int
    may: frozenset[str] | None  # None: the public face only
    never: frozenset[str]


def _ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def read_parts(doc: Path = DOC) -> dict[str, Part]:
    """The table's rows, by part name."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    start = lines.index(TABLE_HEADER) + 2  # skip the header and its |---| line
    parts: dict[str, Part] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        layer, part, _owns, may, never = (c.strip() for c in line.strip().strip("|").split("|"))
        (name,) = _ticked(part)
        allowed = None if may == PUBLIC_FACE else frozenset(_ticked(may))
        parts[name] = Part(name, int(layer), allowed, frozenset(_ticked(never)))
    return parts


def read_public_face(doc: Path = DOC) -> frozenset[str]:
    """The modules the paragraph "**The public face**" names."""
    text = doc.read_text(encoding="utf-8")
    paragraph = text[text.index("**The public face**"):].split("\n\n", 1)[0]
    return frozenset(m for m in _ticked(paragraph) if re.fullmatch(r"semantic_router(\.\w+)*", m))


def table_problems(parts: dict[str, Part]) -> list[str]:
    """Rows that contradict themselves: unknown parts, arrows sideways or up, may and never at once."""
    out = []
    for p in parts.values():
        for target in sorted((p.may or frozenset()) | p.never):
            if target not in parts:
                out.append(f"{p.name}: names unknown part {target}")
            elif p.may is not None and target in p.may and parts[target].layer >= p.layer:
                out.append(f"{p.name} (layer {p.layer}) may import {target} (layer {parts[target].layer}): not below it")
        if p.may and p.may & p.never:
            out.append(f"{p.name}: {sorted(p.may & p.never)} both allowed and never")
    return out


# -- what the package does ------------------------------------------------------------------------
@dataclass(frozen=True)
class Import:
    file: str  # the importing file, relative to the package root ("router/layer.py")
    module: str  # the imported module of the package ("semantic_router.router.store")
    names: tuple[str, ...]  # names taken from it (`from M import a, b`); () for `import M` or a submodule


def modules_of(pkg: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at `pkg`."""
    out = {}
    for path in pkg.rglob("*.py"):
        parts = list(path.relative_to(pkg.parent).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports_of(pkg: Path) -> list[Import]:
    """Every import of a package module by a package module: top level, lazy and under TYPE_CHECKING."""
    modules = modules_of(pkg)
    out = []
    for mod, path in sorted(modules.items()):
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        rel = str(path.relative_to(pkg))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = alias.name
                    while target and target not in modules:
                        target = target.rpartition(".")[0]
                    if target:
                        out.append(Import(rel, target, ()))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                if base not in modules:
                    continue
                subs = [a.name for a in node.names if f"{base}.{a.name}" in modules]
                out += [Import(rel, f"{base}.{s}", ()) for s in subs]
                names = tuple(a.name for a in node.names if a.name not in subs)
                if names:
                    out.append(Import(rel, base, names))
    return [i for i in out if modules[i.module] != pkg / i.file]


def part_of(file: str, parts: dict[str, Part]) -> str | None:
    """The most specific row covering a file: itself as a module row, else its closest package row."""
    if file in parts:
        return file
    segments = file.split("/")
    for k in range(len(segments) - 1, 0, -1):
        if "/".join(segments[:k]) + "/" in parts:
            return "/".join(segments[:k]) + "/"
    return None


def uncovered(pkg: Path, parts: dict[str, Part]) -> list[str]:
    """Files no row covers (a new package must get its row), and rows naming nothing that exists."""
    files = [str(p.relative_to(pkg)) for p in pkg.rglob("*.py")]
    missing_rows = [name for name in parts if not (pkg / name).exists()]
    return sorted([f for f in files if part_of(f, parts) is None] + [f"row {n}" for n in missing_rows])


def public_names(module: str, pkg: Path) -> frozenset[str]:
    """A module's public names: its `__all__` (starred dicts/lists of the module resolved), else every
    top-level name without a leading underscore."""
    tree = ast.parse(modules_of(pkg)[module].read_text(encoding="utf-8"))
    literals: dict[str, list[str]] = {}
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    defined.add(t.id)
                    if isinstance(node.value, ast.Dict):
                        literals[t.id] = [k.value for k in node.value.keys if isinstance(k, ast.Constant)]
                    elif isinstance(node.value, (ast.List, ast.Tuple)):
                        literals[t.id] = [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
                    elif t.id == "__all__" and node.value is not None:
                        literals[t.id] = []
    if "__all__" not in defined:
        return frozenset(n for n in defined if not n.startswith("_"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            names: list[str] = []
            for e in node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else []:
                if isinstance(e, ast.Constant):
                    names.append(e.value)
                elif isinstance(e, ast.Starred) and isinstance(e.value, ast.Name):
                    names += literals.get(e.value.id, [])
            return frozenset(names)
    return frozenset()


def arrow_problems(pkg: Path, parts: dict[str, Part], public: frozenset[str]) -> list[tuple[str, str, str]]:
    """(file, imported module, why) for every import across parts the table does not allow."""
    files = {m: str(path.relative_to(pkg)) for m, path in modules_of(pkg).items()}
    out = []
    for imp in imports_of(pkg):
        src, dst = part_of(imp.file, parts), part_of(files[imp.module], parts)
        if src is None or dst is None or src == dst:
            continue  # uncovered files are reported by `uncovered`; inside a part imports are free
        s, d = parts[src], parts[dst]
        if dst in s.never:
            out.append((imp.file, imp.module, f"{src} never imports {dst}"))
        if s.may is None:
            if imp.module not in public:
                out.append((imp.file, imp.module, f"{src} uses the public face only; {imp.module} is not part of it"))
            else:
                hidden = sorted(set(imp.names) - public_names(imp.module, pkg))
                if hidden:
                    out.append((imp.file, imp.module, f"{src} uses the public face only; {hidden} not exported"))
        elif dst not in s.may:
            out.append((imp.file, imp.module, f"{src} may not import {dst}"))
        if d.layer > s.layer:
            out.append((imp.file, imp.module, f"runs back up: {src} (layer {s.layer}) -> {dst} (layer {d.layer})"))
        elif d.layer == s.layer:
            out.append((imp.file, imp.module, f"runs sideways: {src} -> {dst} (both layer {s.layer})"))
    return sorted(set(out))


def unexcused(problems: Iterable[tuple[str, str, str]],
              excused: Mapping[tuple[str, str], str] = PUBLIC_FACE_EXCEPTIONS) -> list[tuple[str, str, str]]:
    return [p for p in problems if p[:2] not in excused]


def stale_exceptions(problems: Iterable[tuple[str, str, str]],
                     excused: Mapping[tuple[str, str], str] = PUBLIC_FACE_EXCEPTIONS) -> set[tuple[str, str]]:
    """Listed exceptions whose import no longer breaks a rule (remove them: the list only shrinks)."""
    return set(excused) - {p[:2] for p in problems}


def import_graph(pkg: Path) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in modules_of(pkg)}
    for imp in imports_of(pkg):
        graph[_module_of(imp.file)].add(imp.module)
    return graph


def _module_of(file: str) -> str:
    parts = ["semantic_router", *Path(file).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import circles (each as a path that returns to its start), found by depth-first search."""
    state: dict[str, int] = {}
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make"}  # public despite the underscore


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


def private_reads(pkg: Path) -> set[tuple[str, str]]:
    """(file, name) for every read of another module's underscore attribute or import of its private name."""
    bad = set()
    for path in pkg.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        mine = _defined_privates(tree)
        rel = str(path.relative_to(pkg))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                    continue
                if node.attr in mine or node.attr in NAMEDTUPLE_API:
                    continue
                bad.add((rel, node.attr))
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(pkg.name):
                bad |= {(rel, a.name) for a in node.names if a.name.startswith("_") and not a.name.startswith("__")}
    return bad


# -- the package follows the rules ----------------------------------------------------------------
PARTS = read_parts()
PUBLIC = read_public_face()


def test_the_table_is_consistent_and_covers_every_module():
    assert table_problems(PARTS) == []
    assert uncovered(PKG, PARTS) == []
    assert PUBLIC >= {"semantic_router", "semantic_router.index", "semantic_router.encoders"}
    assert {"index/", "encoders/", "decision/", "router/", "quality/", "server/", "compat/", "cli/", "llms/",
            "sdk/", "dynamic/"} <= set(PARTS)  # every package has its row


def test_every_import_is_one_the_table_allows_lazy_and_type_checking_included():
    problems = arrow_problems(PKG, PARTS, PUBLIC)
    assert unexcused(problems) == []
    assert stale_exceptions(problems) == set()  # a fixed exception leaves the list
    assert any(i.module == "semantic_router.router.store" for i in imports_of(PKG) if i.file == "router/layer.py")


def test_the_import_graph_has_no_circle_lazy_and_type_checking_included():
    graph = import_graph(PKG)
    assert cycles(graph) == []
    assert "semantic_router.router.store" in graph["semantic_router.router.layer"]  # the graph sees real edges


def test_no_module_reads_another_modules_privates():
    assert private_reads(PKG) == set()


def test_importing_the_package_loads_no_heavy_or_optional_library():
    code = ("import sys, semantic_router, semantic_router.encoders, semantic_router.index; "
            "heavy = {'torch', 'sentence_transformers', 'openai', 'cohere', 'fastembed', 'redis', 'qdrant_client', "
            "'pinecone', 'sklearn', 'matplotlib'}; print(sorted(heavy & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- each rule fails on a planted violation -------------------------------------------------------
def planted(tmp_path: Path, files: dict[str, str]) -> Path:
    """A copy of the package's modules with `files` (paths relative to the package) added, or
    appended to when they exist."""
    copy = tmp_path / "semantic_router"
    shutil.copytree(PKG, copy, ignore=lambda d, names: [n for n in names if not n.endswith(".py")
                                                           and not (Path(d) / n).is_dir() or n == "__pycache__"])
    for rel, text in files.items():
        path = copy / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text((path.read_text() + "\n" if path.exists() else "") + text)
    return copy


@functools.cache
def problems_today() -> frozenset[tuple[str, str, str]]:
    return frozenset(arrow_problems(PKG, PARTS, PUBLIC))


def new_problems(copy: Path) -> set[tuple[str, str, str]]:
    """What the plant added to the package's problems (today's listed exceptions)."""
    return set(arrow_problems(copy, PARTS, PUBLIC)) - problems_today()


def module_of_part(part: str) -> str:
    """A module that belongs to `part` (the package itself for a package row)."""
    return "semantic_router." + part.rstrip("/").removesuffix(".py").replace("/", ".")


def importing(module: str, form: int) -> str:
    """Source importing `module`: at top level (0), lazily in a function (1) or under TYPE_CHECKING (2)."""
    parent, _, last = module.rpartition(".")
    if form == 0:
        return f"import {module}\n"
    if form == 1:
        return f"def planted():\n    from {parent} import {last}\n    return {last}\n"
    return f"from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from {parent} import {last}\n"


def planted_file(part: str, tag: str) -> str:
    """Where to plant an import inside `part`: a new module of a package, or the module row itself."""
    return f"{part}planted_{tag}.py" if part.endswith("/") else part


NEVER_ARROWS = sorted((p.name, target) for p in PARTS.values() for target in p.never)


@pytest.mark.slow
def test_every_never_arrow_of_the_table_fails_when_planted(tmp_path):
    """One plant per "never" arrow, in rotating forms (top level, lazy, TYPE_CHECKING)."""
    assert len(NEVER_ARROWS) >= 40  # the design's list and more: index/, encoders/, decision/, router/, ...
    files: dict[str, str] = {}
    expected = set()
    for i, (src, dst) in enumerate(NEVER_ARROWS):
        rel = planted_file(src, f"never_{i}")
        files[rel] = files.get(rel, "") + importing(module_of_part(dst), i % 3)
        expected.add((rel, module_of_part(dst), f"{src} never imports {dst}"))
    found = new_problems(planted(tmp_path, files))
    assert sorted(expected - found) == []


@pytest.mark.slow
def test_an_undeclared_import_fails_even_downwards(tmp_path):
    copy = planted(tmp_path, {"encoders/planted.py": "from semantic_router import ids\n"})
    assert new_problems(copy) == {("encoders/planted.py", "semantic_router.ids", "encoders/ may not import ids.py")}


@pytest.mark.slow
def test_an_import_back_up_a_layer_fails(tmp_path):
    copy = planted(tmp_path, {"decision/planted.py": importing("semantic_router.face", 1)})
    assert ("decision/planted.py", "semantic_router.face", "runs back up: decision/ (layer 3) -> face.py (layer 7)") \
        in new_problems(copy)


@pytest.mark.slow
def test_an_import_sideways_fails(tmp_path):
    copy = planted(tmp_path, {"encoders/planted.py": importing("semantic_router.llms", 2)})
    assert ("encoders/planted.py", "semantic_router.llms", "runs sideways: encoders/ -> llms/ (both layer 2)") \
        in new_problems(copy)


@pytest.mark.slow
def test_the_gateway_and_compat_use_the_public_face_only(tmp_path):
    copy = planted(tmp_path, {
        "server/planted.py": "from semantic_router.config import build\nfrom semantic_router.index import _LAZY\n"
                             "from semantic_router.errors import ConfigError\nfrom semantic_router import RouteLayer\n",
        "compat/planted.py": importing("semantic_router.decision.rules", 1),
    })
    assert new_problems(copy) == {
        ("server/planted.py", "semantic_router.config",
         "server/ uses the public face only; semantic_router.config is not part of it"),
        ("server/planted.py", "semantic_router.index", "server/ uses the public face only; ['_LAZY'] not exported"),
        ("compat/planted.py", "semantic_router.decision.rules",
         "compat/ uses the public face only; semantic_router.decision.rules is not part of it"),
    }


@pytest.mark.slow
def test_a_fixed_exception_must_leave_the_list(tmp_path):
    copy = planted(tmp_path, {})
    redisvl = copy / "compat" / "redisvl.py"
    redisvl.write_text(redisvl.read_text() + "\nfrom semantic_router.router.sync import check_state\n")
    excused = {("compat/redisvl.py", "semantic_router.router.sync"): "planted"}
    assert unexcused(arrow_problems(copy, PARTS, PUBLIC), excused) == []
    redisvl.write_text(redisvl.read_text().replace("\nfrom semantic_router.router.sync import check_state\n", ""))
    assert stale_exceptions(arrow_problems(copy, PARTS, PUBLIC), excused) == {("compat/redisvl.py",
                                                                              "semantic_router.router.sync")}


@pytest.mark.slow
def test_a_module_no_row_covers_fails(tmp_path):
    copy = planted(tmp_path, {"newpart/__init__.py": '"""A package without its row in the table."""\n'})
    assert uncovered(copy, PARTS) == ["newpart/__init__.py"]
    shutil.rmtree(copy / "sdk")
    assert "row sdk/" in uncovered(copy, PARTS)


def test_a_row_pointing_up_or_sideways_fails(tmp_path):
    doc = tmp_path / "architecture.md"
    text = DOC.read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| 3 | `decision/`"))
    doc.write_text(text.replace(row, row.replace("| `route.py`, ", "| `router/`, `dynamic/`, `encoders/`, `route.py`, ")))
    problems = table_problems(read_parts(doc))
    assert "decision/ (layer 3) may import router/ (layer 5): not below it" in problems
    assert "decision/ (layer 3) may import dynamic/ (layer 3): not below it" in problems
    assert "decision/: ['encoders/', 'router/'] both allowed and never" in problems


@pytest.mark.slow
def test_an_import_circle_fails_whatever_its_form(tmp_path):
    copy = planted(tmp_path, {"router/planted_a.py": "from semantic_router.router import planted_b\n",
                              "router/planted_b.py": importing("semantic_router.router.planted_a", 2)})
    assert cycles(import_graph(copy)) == [["semantic_router.router.planted_a", "semantic_router.router.planted_b",
                                           "semantic_router.router.planted_a"]]


@pytest.mark.slow
def test_a_private_read_across_modules_fails(tmp_path):
    copy = planted(tmp_path, {"router/planted.py": "def f(layer):\n    return layer._table\n",
                              "server/planted.py": "from semantic_router.router.snapshot import _private\n"})
    assert private_reads(copy) == {("router/planted.py", "_table"), ("server/planted.py", "_private")}
