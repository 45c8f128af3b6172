"""The `semantic-router` command end to end: route, routes, eval, saved routers, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from semantic_router import RouteLayer, cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture()
def runner(encoder, monkeypatch):
    """In-process CLI sharing the session's loaded model (the subprocess test covers the entry point)."""
    real = cli.load_router

    def load(path):
        if str(path).endswith((".yaml", ".yml", ".json")) and Path(path).exists():
            return RouteLayer.from_file(path, encoder=encoder)
        return real(path)

    monkeypatch.setattr(cli, "load_router", load)
    return CliRunner()


def test_route_json(runner):
    res = runner.invoke(cli.app, ["route", str(EXAMPLES / "chitchat_politics.yaml"), "don't you love politics?",
                                  "are aliens real?", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [o["name"] for o in out] == ["politics", None]
    assert out[0]["text"] == "don't you love politics?"
    assert set(out[0]["scores"]) >= {"politics"} and out[0]["similarity_score"] > 0.45


def test_route_table(runner):
    res = runner.invoke(cli.app, ["route", str(EXAMPLES / "topics.yaml"), "how do I reset my password"])
    assert res.exit_code == 0, res.output
    assert "account" in res.stdout and "billing" in res.stdout  # choice plus every route's column


def test_routes_lists_thresholds(runner):
    res = runner.invoke(cli.app, ["routes", str(EXAMPLES / "chitchat_politics.yaml"), "--json"])
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["chitchat"]["threshold"] == 0.4 and rows["chitchat"]["own_threshold"] == 0.4
    assert rows["politics"]["own_threshold"] is None and rows["politics"]["utterances"] == 6


def test_eval_json(runner):
    res = runner.invoke(cli.app, ["eval", str(EXAMPLES / "topics.yaml"), str(EXAMPLES / "labelled.csv"), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert 0.0 <= report["accuracy"] <= 1.0 and report["n"] == 7


def test_saved_router_routes_without_config(runner, encoder, politics_chitchat, tmp_path):
    path = tmp_path / "router.pkl"
    RouteLayer(encoder=encoder, routes=politics_chitchat).save(path)
    res = runner.invoke(cli.app, ["route", str(path), "lovely weather today", "--json"])
    assert json.loads(res.stdout)[0]["name"] == "chitchat"


def test_bad_config_is_a_clear_error(runner, tmp_path):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"not a router")
    res = runner.invoke(cli.app, ["route", str(bad), "hi"])
    assert res.exit_code == 2 and "not a saved router" in res.output
    res = runner.invoke(cli.app, ["route", str(tmp_path / "missing.yaml"), "hi"])
    assert res.exit_code != 0 and "no such file" in res.output


def test_console_script_entry_point():
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    exe = Path(sys.executable).with_name("semantic-router")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "semantic_router.cli"]
    out = subprocess.run([*cmd, "route", str(EXAMPLES / "chitchat_politics.yaml"), "don't you love politics?",
                          "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["name"] == "politics"


@pytest.mark.parametrize("columns", ["20", "40", "300"])
def test_output_does_not_depend_on_the_terminal_width(runner, tmp_path, columns):
    """Errors stay one line and tables keep their content whatever COLUMNS says (CI has no terminal)."""
    missing = tmp_path / ("deeply/nested/" * 4) / "missing.yaml"
    res = runner.invoke(cli.app, ["route", str(missing), "hi"], env={"COLUMNS": columns})
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and f"no such file: {missing}" in res.output
    res = runner.invoke(cli.app, ["route", str(EXAMPLES / "topics.yaml"), "how do I reset my password"],
                        env={"COLUMNS": columns})
    assert res.exit_code == 0 and "account" in res.output
