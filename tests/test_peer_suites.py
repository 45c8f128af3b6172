"""The drop-in claims of docs/migration.md, checked with the peers' OWN tests (issue 20).

The suites live beside the repository in `../shared/peer-suites` (never committed here; set
$PEER_SUITES_DIR to use another copy). Each runs in a subprocess from a scratch copy (the tests write
files), with this checkout first on the path, and its pass count must stay at or above the floor:

- aurelio-labs semantic-router 0.1.16, `aurelio-verbatim/`: its router, route, config, sync, schema and
  encoder-base unit tests with their imports untouched (`from semantic_router.routers import ...`).
  Excluded, as the goal says: tests that need a cloud service (the Pinecone parametrisations, deselected)
  and tests that read or patch the peer's private internals (PRIVATE, each with its reason). The
  suite's conftest.py only patches pinecone's host check for aurelio's CI and breaks on pinecone>=8,
  so it is not loaded (--noconftest); dummy API keys let the mocked encoders be built.
- RedisVL's router tests (`redisvl/`, run through its harness conftest with the one affordance it
  documents: `router._index.client` for the Redis version check), on the session's throw-away Redis.

Kept short (the issue asks for under two minutes): the PRIVATE tests, which are not counted, are
deselected rather than run, and only the plugins the suites use are loaded (pytest's entry-point
autoload would import hypothesis, schemathesis... in each subprocess).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = [pytest.mark.peer, pytest.mark.slow]  # two peer suites in subprocesses (~2 min)

ROOT = Path(__file__).resolve().parent.parent
AURELIO_FILES = ["tests/unit/test_router.py", "tests/unit/test_route.py", "tests/unit/test_sync.py",
                 "tests/unit/test_schema.py", "tests/unit/encoders/test_base.py"]
#: test-id prefixes (junit `classname::name`) that read or patch aurelio's private internals
PRIVATE = {
    "tests.unit.test_router.TestRouterConfig::test_from_file_invalid_config":
        "patches aurelio's module path semantic_router.routers.base.is_valid",
    "tests.unit.test_router.TestRouterConfig::test_semantic_classify_multiple_routes_with_different_aggregation":
        "calls the private router._semantic_classify",
    "tests.unit.test_router.TestHybridRouter::": "calls the private router._encode / router._async_encode",
    "tests.unit.test_router.TestRouterAsync::test_async_query_parameter": "patches the private router._score_routes",
    "tests.unit.test_router.TestRouterAsync::test_async_limit_parameter": "patches the private router._score_routes",
    "tests.unit.test_router.TestRouter::test_query_parameter": "patches the private router._score_routes",
    "tests.unit.test_router.TestRouter::test_limit_parameter": "patches the private router._score_routes",
    "tests.unit.test_route.TestRoute::test_generate_dynamic_route": "calls the private Route._generate_dynamic_route",
    "tests.unit.test_route.TestRoute::test_parse_route_config": "calls the private Route._parse_route_config",
}
AURELIO_MIN_SHARE = 0.90  # the goal
REDISVL_MIN_PASSED = 49  # of 50 (goal 48): test_add_route calls the private router._add_routes (docs/migration.md)
PLUGINS = ["-p", "pytest_asyncio.plugin", "-p", "pytest_mock", "-p", "pytest_timeout"]


def node_prefix(test_id: str) -> str:
    """The pytest node-id prefix of a junit `package.test_module.Class::name` prefix (for --deselect)."""
    classname, _, name = test_id.partition("::")
    parts = classname.split(".")
    module = max(i for i, part in enumerate(parts) if part.startswith("test_"))
    return "::".join(["/".join(parts[:module + 1]) + ".py", *parts[module + 1:], name])


def suites_dir() -> Path:
    found = Path(os.environ.get("PEER_SUITES_DIR", ROOT.parent / "shared" / "peer-suites"))
    if not (found / "aurelio-verbatim").is_dir() or not (found / "redisvl").is_dir():
        pytest.fail(f"peer suites not found at {found} (expected ../shared/peer-suites beside the repository, "
                    "or $PEER_SUITES_DIR)")
    return found


class Run:
    """One peer suite running in a subprocess (both suites start at once: they mostly wait on imports)."""

    def __init__(self, cwd: Path, args: list[str], junit: Path, **env: str) -> None:
        environ = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                   "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **env}
        self.cmd = [sys.executable, "-m", "pytest", *PLUGINS, "-p", "no:cacheprovider", "-q", "--timeout", "120",
                    f"--junitxml={junit}", "-o", "junit_family=xunit2", *args]
        self.cwd, self.junit = cwd, junit
        self.proc = subprocess.Popen(self.cmd, cwd=cwd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)

    def results(self) -> dict[str, str]:
        """test id -> passed / failed / skipped, from pytest's junit XML, once the suite finished."""
        try:
            output, _ = self.proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            output, _ = self.proc.communicate()
        if not self.junit.exists():
            pytest.fail(f"the peer suite in {self.cwd} did not run: {' '.join(self.cmd)}\n{output[-3000:]}")
        return outcomes(self.junit)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, redis_url):
    suites, tmp = suites_dir(), tmp_path_factory.mktemp("peer")
    shutil.copytree(suites / "aurelio-verbatim", tmp / "aurelio")
    (tmp / "redisvl").mkdir()
    shutil.copytree(suites / "redisvl", tmp / "redisvl" / "redisvl")
    shutil.copy(suites / "peer_alias.py", tmp / "redisvl" / "peer_alias.py")
    private = [a for t in PRIVATE for a in ("--deselect", node_prefix(t))]
    started = {
        "aurelio": Run(tmp / "aurelio", ["--noconftest", *AURELIO_FILES, "-k", "not Pinecone", *private],
                       tmp / "aurelio.xml",
                       OPENAI_API_KEY="sk-peer-dummy", COHERE_API_KEY="peer-dummy", PINECONE_API_KEY="peer-dummy"),
        "redisvl": Run(tmp / "redisvl" / "redisvl",
                       ["tests/unit/test_route_schema.py", "tests/integration/test_semantic_router.py"],
                       tmp / "redisvl.xml", PEER_REDIS_URL=redis_url, PEER_PRIVATE_SHIM="1", PEER_OUT=str(tmp)),
    }
    yield started
    for run in started.values():
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


def outcomes(junit: Path) -> dict[str, str]:
    """test id -> passed / failed / skipped, from pytest's junit XML."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = {child.tag for child in case}
        status = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
        out[f"{case.get('classname')}::{case.get('name')}"] = status
    return out


def test_aurelio_unit_tests_pass_with_their_imports_untouched(runs):
    results = runs["aurelio"].results()
    counted = {t: s for t, s in results.items() if s != "skipped" and not t.startswith(tuple(PRIVATE))}
    passed = [t for t, s in counted.items() if s == "passed"]
    failed = sorted(t for t, s in counted.items() if s == "failed")
    assert len(counted) >= 80, f"too few aurelio tests ran ({len(results)} collected): {sorted(results)[:5]}"
    assert len(passed) / len(counted) >= AURELIO_MIN_SHARE, (
        f"aurelio: {len(passed)} of {len(counted)} pass; failing: {failed}")


def test_redisvl_router_tests_pass(runs):
    results = runs["redisvl"].results()
    passed = [t for t, s in results.items() if s == "passed"]
    assert len(results) == 50, f"expected RedisVL's 50 router tests, collected {len(results)}"
    assert len(passed) >= REDISVL_MIN_PASSED, (
        f"RedisVL: {len(passed)} of 50 pass; not passing: {sorted(t for t, s in results.items() if s != 'passed')}")
