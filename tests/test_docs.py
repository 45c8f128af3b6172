"""The documentation site builds with `mkdocs build --strict`: a broken link, a missing page or anchor,
or an API reference entry that no longer exists fails the suite."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds the documentation site

ROOT = Path(__file__).resolve().parent.parent


def build(tmp_path: Path, config: Path = ROOT / "mkdocs.yml") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d",
                           str(tmp_path / "site")], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)


def test_site_builds_strictly_with_api_reference(tmp_path):
    out = build(tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    site = tmp_path / "site"
    for page in ("guide", "rules", "thresholds", "backends", "cli", "benchmarks", "architecture", "gateway",
                 "migration", "changelog"):
        assert (site / page / "index.html").is_file(), page
    api = (site / "api" / "router" / "index.html").read_text(encoding="utf-8")
    # generated from the docstrings: method names and their first lines
    assert "route_batch" in api and "Rebuild a saved router without encoding anything" in api


def test_a_broken_link_fails_the_build(tmp_path):
    """The strict build is what catches dead links such as the docs/thresholds.md the encoders pointed at."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\nSee [thresholds](thresholds.md).\n", encoding="utf-8")
    config = tmp_path / "mkdocs.yml"
    config.write_text("site_name: t\ndocs_dir: docs\n", encoding="utf-8")
    out = build(tmp_path, config)
    assert out.returncode != 0 and "thresholds.md" in out.stderr


def test_pages_the_code_links_to_exist():
    """Comments and docstrings that point at docs/NAME.md point at a page that exists."""
    linked = set()
    for path in (ROOT / "semantic_router").rglob("*.py"):
        linked |= set(re.findall(r"docs/([\w/-]+\.md)", path.read_text(encoding="utf-8")))
    assert "thresholds.md" in linked
    assert sorted(p for p in linked if not (ROOT / "docs" / p).is_file()) == []
