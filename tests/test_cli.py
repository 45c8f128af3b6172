"""The `semantic-router` command end to end: route, routes, eval, fit, saved routers, and its conventions
(version, flags, one-line errors with exit status 2), in process (CliRunner) and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import semantic_router
from semantic_router import RouteLayer
from semantic_router.cli import app, loading

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TOPICS = str(EXAMPLES / "topics.yaml")
LABELLED = str(EXAMPLES / "labelled.csv")


@pytest.fixture()
def runner(encoder, monkeypatch):
    """In-process CLI routing with the session's loaded model (subprocess tests cover the real entry point)."""
    monkeypatch.setattr(loading, "pick_encoder", lambda spec, onnx: encoder)
    return CliRunner()


def run_cli(*args: str, columns: str = "80") -> subprocess.CompletedProcess[str]:
    """`python -m semantic_router ARGS` in a fresh process, no terminal, a given COLUMNS."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": columns, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "semantic_router", *args], capture_output=True, text=True,
                          env=env, timeout=300, stdin=subprocess.DEVNULL)


def test_route_json(runner):
    res = runner.invoke(app, ["route", str(EXAMPLES / "chitchat_politics.yaml"), "don't you love politics?",
                              "are aliens real?", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [o["name"] for o in out] == ["politics", None]
    assert out[0]["text"] == "don't you love politics?"
    assert set(out[0]["scores"]) >= {"politics"} and out[0]["similarity_score"] > 0.45


def test_route_table(runner):
    res = runner.invoke(app, ["route", TOPICS, "how do I reset my password"])
    assert res.exit_code == 0, res.output
    assert "account" in res.stdout and "billing" in res.stdout  # choice plus every route's column


def test_routes_lists_thresholds(runner):
    res = runner.invoke(app, ["routes", str(EXAMPLES / "chitchat_politics.yaml"), "--json"])
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["chitchat"]["threshold"] == 0.4 and rows["chitchat"]["own_threshold"] == 0.4
    assert rows["politics"]["own_threshold"] is None and rows["politics"]["utterances"] == 6
    assert rows["politics"]["threshold"] == 0.45  # the bundled model's default, read without loading it


def test_routes_of_a_saved_router_match_the_router(runner, encoder, politics_chitchat, tmp_path):
    rl = RouteLayer(encoder=encoder, routes=politics_chitchat, score_threshold=0.3)
    rl.save(tmp_path / "r.pkl")
    rows = json.loads(runner.invoke(app, ["routes", str(tmp_path / "r.pkl"), "--json"]).stdout)
    assert [(r["name"], r["utterances"], r["threshold"]) for r in rows] == [("politics", 2, 0.3), ("chitchat", 2, 0.4)]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["yaml", "pkl"])
def test_routes_never_loads_a_model(encoder, politics_chitchat, tmp_path, kind):
    """Listing routes reads the file only: neither torch, sentence-transformers nor fastembed is imported."""
    path = EXAMPLES / "chitchat_politics.yaml"
    if kind == "pkl":
        path = tmp_path / "r.pkl"
        RouteLayer(encoder=encoder, routes=politics_chitchat).save(path)
    code = ("import sys, json; from semantic_router.cli import main; rc = main(['routes', sys.argv[1], '--json']);"
            "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'fastembed', 'onnxruntime')"
            " if m in sys.modules]; print(json.dumps({'rc': rc, 'heavy': heavy}), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    status = json.loads(out.stderr.strip().splitlines()[-1])
    assert status == {"rc": 0, "heavy": []}, out.stderr
    assert {r["name"] for r in json.loads(out.stdout)} == {"politics", "chitchat"}


def test_eval_json(runner):
    res = runner.invoke(app, ["eval", TOPICS, LABELLED, "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert 0.0 <= report["accuracy"] <= 1.0 and report["n"] == 7


def test_saved_router_routes_without_config(runner, encoder, politics_chitchat, tmp_path):
    path = tmp_path / "router.pkl"
    RouteLayer(encoder=encoder, routes=politics_chitchat).save(path)
    res = runner.invoke(app, ["route", str(path), "lovely weather today", "--json"])
    assert json.loads(res.stdout)[0]["name"] == "chitchat"


def test_the_bundled_model_runs_on_onnx_unless_told_otherwise():
    bundled = {"type": "huggingface", "name": "sentence-transformers/all-MiniLM-L6-v2"}
    picked = loading.pick_encoder(bundled, None)
    assert type(picked).__name__ == "FastEmbedEncoder" and picked.dimensions == 384  # constructed, not loaded
    assert loading.pick_encoder(bundled, False) is None  # --torch: the config's own encoder
    assert loading.pick_encoder({"type": "huggingface", "name": "other/model"}, None) is None


# -- conventions ------------------------------------------------------------------------------
@pytest.mark.slow
def test_version_and_python_dash_m():
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"semantic-router {semantic_router.__version__}"
    assert semantic_router.__version__[0].isdigit()


@pytest.mark.slow
@pytest.mark.parametrize("columns", ["20", "300"])
def test_help_shows_boolean_options_as_flags(columns):
    helps = {}
    for command in ("route", "fit", None):
        out = run_cli(*([command] if command else []), "--help", columns=columns)
        assert out.returncode == 0, out.stderr
        helps[command] = out.stdout
    assert all("<bool>" not in text for text in helps.values())  # typer's rich help showed `--json <bool>`
    assert "--json" in helps["route"] and "--onnx / --torch" in helps["route"]
    assert "--per-route / --global-only" in helps["fit"] and "--version" in helps[None]


@pytest.mark.slow
def test_no_arguments_prints_help_with_usage_status():
    out = run_cli()
    assert out.returncode == 2 and "Commands:" in out.stdout and "route" in out.stdout


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str], str]]:
    (tmp / "unknown.csv").write_text("text,route\nhello,nosuchroute\n", encoding="utf-8")
    (tmp / "bad.yaml").write_text("routes:\n  - name: a\n    utterances: [x]\nscore_threshold: '0.5x'\n")
    (tmp / "folder").mkdir()
    (tmp / "latin1.csv").write_bytes("text,route\ncaf\xe9,\n".encode("latin-1"))
    return {
        "empty query": (["route", TOPICS, "  "], "query 1 is empty"),
        "unknown route in data": (["eval", TOPICS, str(tmp / "unknown.csv")], "unknown route(s) 'nosuchroute'"),
        "--out is a folder": (["fit", TOPICS, LABELLED, "--out", str(tmp / "folder")], "is a folder"),
        "--out in a missing directory": (["fit", TOPICS, LABELLED, "--out", str(tmp / "no" / "x.yaml")],
                                         "no such directory"),
        "--out of unknown type": (["fit", TOPICS, LABELLED, "--out", str(tmp / "x.txt")], "unknown file type"),
        "eval --out is a folder": (["eval", TOPICS, LABELLED, "--out", str(tmp / "folder")], "is a folder"),
        "bad config value": (["routes", str(tmp / "bad.yaml")], "score_threshold"),
        "missing config": (["route", str(tmp / "missing.yaml"), "hi"], "no such file"),
        "missing data": (["eval", TOPICS, str(tmp / "missing.csv")], "no such data file"),
        "data not UTF-8": (["eval", TOPICS, str(tmp / "latin1.csv")], "cannot read labelled data"),
        "config is a folder": (["routes", str(tmp / "folder")], "is a folder"),
        "bad objective": (["fit", TOPICS, LABELLED, "--out", str(tmp / "x.yaml"), "--objective", "zz"], "'zz'"),
        "bad rule": (["fit", TOPICS, LABELLED, "--out", str(tmp / "x.yaml"), "--rule", "nope"], "--rule 'nope'"),
        "unknown option": (["route", TOPICS, "hi", "--bogus"], "No such option"),
        "missing argument": (["route"], "Missing argument"),
        "unknown command": (["nope"], "nope"),
    }


@pytest.mark.parametrize("case", [
    "empty query", "unknown route in data", "--out is a folder", "--out in a missing directory",
    "--out of unknown type", "eval --out is a folder", "bad config value", "missing config", "missing data",
    "data not UTF-8",
    "config is a folder", "bad objective", "bad rule", "unknown option", "missing argument", "unknown command"])
@pytest.mark.parametrize("columns", ["20", "300"])
def test_bad_input_is_one_line_with_status_2(runner, tmp_path, monkeypatch, case, columns):
    """Usage errors and bad input: exit 2, ONE `error:` line naming the problem, never a traceback; outputs
    are checked before the router is even loaded (no fitting work is lost)."""
    args, needle = _bad_inputs(tmp_path)[case]
    loads: list[Path] = []
    real = loading.load_router
    monkeypatch.setattr(loading, "load_router", lambda path, onnx=None: loads.append(path) or real(path, onnx))
    res = runner.invoke(app, args, env={"COLUMNS": columns})
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.stderr
    assert "Traceback" not in res.output and res.stdout == ""
    if "--out" in case or case.startswith("bad ") and case != "bad config value":
        assert loads == []


@pytest.mark.slow
def test_bad_input_in_a_real_process_is_one_line():
    out = run_cli("route", TOPICS, "")
    assert out.returncode == 2 and out.stderr.strip() == "error: query 1 is empty" and out.stdout == ""


@pytest.mark.slow
def test_a_missing_extra_is_one_line_naming_it(tmp_path):
    """A config whose index needs an extra this install lacks: one line naming the extra, exit status 2."""
    config = tmp_path / "redis.yaml"
    config.write_text("index: {type: redis, url: 'redis://127.0.0.1:1'}\nroutes:\n  - {name: a, utterances: [hello]}\n")
    code = "import sys; sys.modules['redis'] = None; from semantic_router.cli import main; sys.exit(main(sys.argv[1:]))"
    out = subprocess.run([sys.executable, "-c", code, "route", str(config), "hi", "--torch"], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "'redis' extra" in lines[0], out.stderr


def test_fit_writes_the_fitted_router(runner, tmp_path):
    res = runner.invoke(app, ["fit", TOPICS, LABELLED, "--out", str(tmp_path / "fitted.yaml"), "--json"])
    assert res.exit_code == 0, res.output
    assert isinstance(json.loads(res.stdout), dict)
    res = runner.invoke(app, ["fit", TOPICS, LABELLED, "--out", str(tmp_path / "fitted.pkl")])
    assert res.exit_code == 0 and "%|" not in res.stderr  # no progress bar off a terminal
    assert (tmp_path / "fitted.pkl").stat().st_size > 1000
    assert (tmp_path / "fitted.yaml").read_text().startswith("format: semantic-router")


@pytest.mark.slow
def test_console_script_entry_point():
    exe = Path(sys.executable).with_name("semantic-router")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "semantic_router"]
    out = subprocess.run([*cmd, "route", str(EXAMPLES / "chitchat_politics.yaml"), "don't you love politics?",
                          "--json", "--torch"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["name"] == "politics"


@pytest.mark.parametrize("columns", ["20", "40", "300"])
def test_output_does_not_depend_on_the_terminal_width(runner, tmp_path, columns):
    """Errors stay one line and tables keep their content whatever COLUMNS says (CI has no terminal)."""
    missing = tmp_path / ("deeply/nested/" * 4) / "missing.yaml"
    res = runner.invoke(app, ["route", str(missing), "hi"], env={"COLUMNS": columns})
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and f"no such file: {missing}" in res.output
    res = runner.invoke(app, ["route", TOPICS, "how do I reset my password"], env={"COLUMNS": columns})
    assert res.exit_code == 0 and "account" in res.output
