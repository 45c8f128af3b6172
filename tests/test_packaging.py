"""Packaging: the version comes from the metadata, type hints ship (py.typed), the library imports no
CLI toolkit, and every third-party module the package imports is declared in pyproject.toml."""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import re
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 (the dev extra installs tomli there)
    import tomli as tomllib

import semantic_router
from semantic_router.version import DISTRIBUTION, UNKNOWN, package_version

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "semantic_router"
# imported by the package but installed by a declared dependency that owns them
TRANSITIVE = {"httpx": ("cohere", "qdrant-client"), "onnxruntime": ("fastembed",), "starlette": ("fastapi",),
              "transformers": ("sentence-transformers",)}


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(spec: str) -> str:
    return norm(re.match(r"[A-Za-z0-9_.\-]+", spec.strip()).group(0))


def declared() -> set[str]:
    """Distribution names listed in pyproject.toml's dependencies and extras (normalised)."""
    project = pyproject()["project"]
    specs = project["dependencies"] + [s for extra in project["optional-dependencies"].values() for s in extra]
    return {requirement_name(s) for s in specs}


def third_party_imports() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            for mod in mods:
                top = mod.split(".")[0]
                if top not in sys.stdlib_module_names and top != "semantic_router":
                    out.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return out


def test_version_comes_from_the_installed_metadata():
    assert semantic_router.__version__ == md.version(DISTRIBUTION)
    assert package_version("no-such-distribution-here") == UNKNOWN


def test_type_hints_ship_with_the_package():
    assert (PKG / "py.typed").is_file()
    assert "py.typed" in pyproject()["tool"]["setuptools"]["package-data"]["semantic_router"]


def test_importing_the_library_loads_no_cli_toolkit():
    code = "import sys, json, semantic_router; print(json.dumps(sorted({'typer', 'rich', 'click'} & set(sys.modules))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert json.loads(out.stdout) == []


def test_every_third_party_import_is_declared():
    names = declared()
    dists = md.packages_distributions()
    missing = {}
    for module, files in third_party_imports().items():
        owners = TRANSITIVE.get(module) or tuple(dists.get(module, [module]))
        if not any(norm(o) in names for o in owners):
            missing[module] = sorted(files)
    assert missing == {}
    assert {"filelock", "platformdirs", "typer", "rich", "hypothesis", "ruff", "mkdocs"} <= names


def test_the_cli_lives_in_its_extra():
    project = pyproject()["project"]
    assert "typer" not in {requirement_name(s) for s in project["dependencies"]}
    assert {"typer", "rich"} <= {requirement_name(s) for s in project["optional-dependencies"]["cli"]}
    assert project["scripts"]["semantic-router"] == "semantic_router.cli.app:run"


def test_install_commands_work_from_a_clone():
    """Every `pip install` the README, the docs and the error messages show installs from a clone (`-e '.[...]'`)
    with extras that exist: `semantic-router-fast` is not on a package index, so `pip install
    'semantic-router-fast[server,local]'` failed for everyone who copied it."""
    extras = set(pyproject()["project"]["optional-dependencies"])
    texts = {p: p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"),
                                                        *PKG.rglob("*.py")]}
    commands = {(str(p.relative_to(ROOT)), c) for p, t in texts.items() for c in re.findall(r"pip install [^`\n]*", t)}
    assert len(commands) > 5
    by_name = sorted(c for c in commands if DISTRIBUTION in c[1])
    assert by_name == []
    named = [(where, set(m.split(","))) for where, c in commands for m in re.findall(r"-e '\.\[([\w,]+)\]'", c)]
    assert {"local", "server", "cli"} <= set().union(*(n for _, n in named))
    assert [(where, n - extras) for where, n in named if n - extras] == []
    from semantic_router.extras import install_hint

    assert install_hint("local", "cli") == ("pip install torch==2.13.0, then pip install -e '.[local,cli]' "
                                            "in a clone of the repository")


def test_building_the_metadata_warns_about_nothing(tmp_path):
    """A TOML-table `project.license` made setuptools warn on every install that such builds stop working on
    2027-02-18: the license is an SPDX expression with its file listed (PEP 639, setuptools >= 77)."""
    project = pyproject()
    assert project["project"]["license"] == "MIT" and project["project"]["license-files"] == ["LICENSE"]
    assert "setuptools>=77" in " ".join(project["build-system"]["requires"])
    src = tmp_path / "src"  # a copy: the hook writes an egg-info beside pyproject.toml
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        (src / name).write_bytes((ROOT / name).read_bytes())
    (src / "semantic_router").mkdir()
    (src / "semantic_router" / "__init__.py").write_text("")
    code = ("import sys; from setuptools.build_meta import prepare_metadata_for_build_wheel as hook; "
            "print(hook(sys.argv[1]))")
    (tmp_path / "out").mkdir()
    out = subprocess.run([sys.executable, "-W", "always", "-c", code, str(tmp_path / "out")], cwd=src,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Warning" not in out.stderr and "deprecated" not in out.stderr.lower(), out.stderr[-3000:]
    metadata = (tmp_path / "out" / out.stdout.split()[-1] / "METADATA").read_text(encoding="utf-8")
    assert "License-Expression: MIT" in metadata and "License-File: LICENSE" in metadata
