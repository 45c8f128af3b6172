"""Bad input to the real `semantic-router` entry point, found before any model loads: a whole config validated
(component types and options too), out-of-range ports, deeply nested YAML, a port in use, unknown route names,
missing keys. Each ends as exit status 2 and ONE `error:` line, never a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow  # each case runs the CLI in a fresh process (1-3 s apiece)

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = ROOT / "examples" / "gateway" / "config.yaml"
HEAVY = ("torch", "sentence_transformers", "transformers", "fastembed", "onnxruntime")
# the console script's function, in a process that reports at exit which model libraries it imported
ENTRY = ("import atexit, json, sys; report = sys.argv.pop(1); "
         f"atexit.register(lambda: open(report, 'w').write(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))); "
         "from semantic_router.cli.app import run; sys.argv[0] = 'semantic-router'; run()")


def run_entry(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run `semantic-router ARGS` through its entry-point function; (the process, model libraries it imported)."""
    report = tmp_path / "heavy.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "COLUMNS": "40"}
    env.pop("SR_TEST_KEY_UNSET", None)
    out = subprocess.run([sys.executable, "-c", ENTRY, str(report), *args], capture_output=True, text=True,
                         env=env, timeout=300, stdin=subprocess.DEVNULL, cwd=tmp_path)
    return out, json.loads(report.read_text())


def gateway(**changes: object) -> dict:
    cfg = yaml.safe_load(GATEWAY.read_text(encoding="utf-8"))
    cfg.update(changes)
    return cfg


def router_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / f"router{len(list(tmp_path.glob('router*.yaml')))}.yaml"
    path.write_text(text + "routes:\n  - {name: a, utterances: [hello]}\n", encoding="utf-8")
    return str(path)


def gateway_file(tmp_path: Path, cfg: dict | str) -> str:
    path = tmp_path / f"gateway{len(list(tmp_path.glob('gateway*.yaml')))}.yaml"
    path.write_text(cfg if isinstance(cfg, str) else yaml.safe_dump(cfg), encoding="utf-8")
    return str(path)


def deep_rule(depth: int) -> str:
    """The example gateway config with its first decision's rule nested `depth` levels deep."""
    rule = "{not: " * depth + '{signal: "routes:code"}' + "}" * depth
    return GATEWAY.read_text(encoding="utf-8").replace('rule: {signal: "routes:code"}', f"rule: {rule}", 1)


@pytest.fixture()
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def cases(tmp_path: Path, busy: int) -> dict[str, tuple[list[str], str]]:
    routes = gateway()
    routes["decisions"][0]["rule"] = {"signal": "routes:nosuchroute"}
    key = gateway()
    key["models"]["code-model"]["backends"][0]["api_key_env"] = "SR_TEST_KEY_UNSET"
    inline = gateway()
    inline["signals"]["routes"]["router"]["encoder"] = {"type": "nope"}
    return {
        "routes: unknown encoder type": (["routes", router_config(tmp_path, "encoder: {type: nope}\n")],
                                         "unknown encoder type 'nope'"),
        "routes: bad index option": (["routes", router_config(tmp_path, "index: {type: redis, url: 5}\n")], "index.url"),
        "routes: unknown encoder option": (["routes", router_config(tmp_path, "encoder: {type: huggingface, nme: x}\n")],
                                           "encoder.nme"),
        "route: unknown encoder type": (["route", router_config(tmp_path, "encoder: {type: nope}\n"), "hi"],
                                        "unknown encoder type 'nope'"),
        "serve --port 99999": (["serve", str(GATEWAY), "--port", "99999"], "--port"),
        "serve --log-level bogus": (["serve", str(GATEWAY), "--log-level", "bogus"], "--log-level"),
        "serve: port in use": (["serve", str(GATEWAY), "--port", str(busy)], f"cannot listen on 127.0.0.1:{busy}"),
        "serve: deeply nested YAML": (["serve", gateway_file(tmp_path, "a: " + "[" * 50_000 + "]" * 50_000)],
                                      "nested too deeply"),
        "classify: deeply nested rule": (["classify", gateway_file(tmp_path, deep_rule(2000)), "hi"], "nested too deeply"),
        "serve: unknown route in a decision": (["serve", gateway_file(tmp_path, routes)], "unknown route 'nosuchroute'"),
        "serve: unset backend key": (["serve", gateway_file(tmp_path, key)], "SR_TEST_KEY_UNSET"),
        "serve: bad inline router": (["serve", gateway_file(tmp_path, inline)], "signals.routes.router"),
    }


@pytest.mark.parametrize("case", [
    "routes: unknown encoder type", "routes: bad index option", "routes: unknown encoder option",
    "route: unknown encoder type", "serve --port 99999", "serve --log-level bogus", "serve: port in use",
    "serve: deeply nested YAML", "classify: deeply nested rule", "serve: unknown route in a decision",
    "serve: unset backend key", "serve: bad inline router"])
def test_bad_input_fails_with_one_line_before_any_model_loads(tmp_path, busy_port, case):
    if case.startswith(("serve", "classify")):
        pytest.importorskip("fastapi")  # the [server] extra
    args, needle = cases(tmp_path, busy_port)[case]
    out, heavy = run_entry(tmp_path, *args)
    assert out.returncode == 2, out.stderr[-3000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], out.stderr[-3000:]
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert heavy == []  # failed before any model library was even imported


def test_the_routes_listing_still_validates_a_saved_router(tmp_path):
    """A saved router's config goes through the same checks (its components' options included)."""
    from semantic_router import RouteLayer
    from semantic_router._saved import dump_saved, load_saved
    from tests.hash_encoder import HashEncoder

    RouteLayer(encoder=HashEncoder(), routes=[]).save(tmp_path / "r.pkl")
    payload = load_saved(tmp_path / "r.pkl")
    payload["config"]["encoder"] = {"type": "huggingface"}
    payload["config"]["index"] = {"type": "local", "bogus": 1}
    dump_saved(payload, tmp_path / "r.pkl")
    out, heavy = run_entry(tmp_path, "routes", str(tmp_path / "r.pkl"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "index.bogus" in out.stderr, out.stderr
    assert heavy == []
