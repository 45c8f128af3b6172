"""Gateway config validation, decisions, rewriting, sessions and the CLI commands (no servers)."""

from __future__ import annotations

import json
import time

import pytest
import yaml
from typer.testing import CliRunner

from semantic_router.errors import ConfigError
from semantic_router.server.config import RuleNode, load_config, parse_config
from semantic_router.server.decide.decisions import Decider, evaluate_rule
from semantic_router.server.act.rewrite import apply_reasoning, apply_system_prompt, rewrite
from semantic_router.server.decide.sessions import SessionStore, Sticky, conversation_keys
from semantic_router.server.decide.signals import SignalResult
from tests.server.conftest import EXAMPLE

BASE = {"models": {"m1": {"backends": [{"base_url": "http://127.0.0.1:9/v1"}]},
                   "m2": {"backends": [{"base_url": "http://127.0.0.1:9/v1"}]}},
        "signals": {"keywords": [{"name": "k", "words": ["alpha"]}], "context": [{"name": "short", "max_tokens": 10}]},
        "decisions": [{"name": "d0", "model": "m1"}, {"name": "d1", "model": "m2"},
                      {"name": "d2", "model": "m1", "rule": {"and": [{"signal": "keywords:k"}]}}]}


def with_(path, value):
    data = json.loads(json.dumps(BASE))
    node = data
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


def test_example_config_loads():
    cfg = load_config(EXAMPLE)
    assert [d.name for d in cfg.decisions] == ["code", "math", "general"]
    assert cfg.decisions[1].reasoning == "on"  # a bare YAML `on` would also be read as "on"
    assert cfg.models["math-model"].reasoning_family == "chat_template_kwargs"


@pytest.mark.parametrize("path, value, where", [
    ("decisions.2.rule", {"and": [{"signal": "keywords:nope"}]}, "decisions[2].rule.and[0].signal"),
    ("decisions.2.rule", {"and": [{"signal": "colour:red"}]}, "decisions[2].rule.and[0].signal"),
    ("decisions.2.rule", {"or": [{"signal": "keywords:k"}], "not": {"signal": "keywords:k"}}, "decisions[2].rule"),
    ("decisions.2.rule", {"and": []}, "decisions[2].rule"),
    ("decisions.1.model", "m9", "decisions[1].model"),
    ("decisions.1.fallback", "m9", "decisions[1].fallback"),
    ("decisions.1.plugins", {"nope": {}}, "decisions[1].plugins"),
    ("decisions.1.plugins", {"response_headers": {"headers": 5}}, "decisions[1].plugins"),
    ("decisions.1.reasoning", "maybe", "decisions[1].reasoning"),
    ("decisions.1.colour", "red", "decisions[1].colour"),
    ("models.m1.timeout", "slow", "models.m1.timeout"),
    ("models.m1.backends", [], "models.m1.backends"),
    ("models.m1.reasoning_family", "magic", "models.m1.reasoning_family"),
    ("models.m2.backends", [{"base_url": "ftp://x"}], "models.m2.backends[0].base_url"),
    ("models.m2.backends", [{"base_url": "http://x", "weight": 0}], "models.m2.backends[0].weight"),
    ("signals.keywords", [{"name": "k", "words": ["(unclosed"], "regex": True}], "signals.keywords[0]"),
    ("signals.context", [{"name": "c", "min_tokens": 10, "max_tokens": 5}], "signals.context[0]"),
    ("signals.routes", {"path": "a.yaml", "router": {}}, "signals.routes"),
    ("default_decision", "nope", "default_decision"),
    ("virtual_models", ["m1"], "virtual_models"),
    ("server", {"port": 70000}, "server.port"),
])
def test_bad_fields_are_named_by_dotted_path(path, value, where):
    with pytest.raises(ConfigError) as err:
        parse_config(with_(path, value))
    assert where in str(err.value)


def test_routes_rule_needs_routes_signal_and_duplicates_are_refused():
    with pytest.raises(ConfigError, match=r"decisions\[0\].rule.signal: 'routes:code' needs signals.routes"):
        parse_config(with_("decisions.0.rule", {"signal": "routes:code"}))
    with pytest.raises(ConfigError, match="duplicate decision name 'd0'"):
        parse_config(with_("decisions.1.name", "d0"))


def test_yaml_aliases_and_unreadable_files_are_refused(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("a: &a [x, x]\nb: [*a, *a]\n")
    with pytest.raises(ConfigError, match="aliases are not allowed"):
        load_config(bomb)
    with pytest.raises(ConfigError, match="cannot read gateway config"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(listed)


def sig(key, matched, confidence=None):
    kind, name = key.split(":")
    return SignalResult(kind, name, matched, confidence, 0.0)


def test_rule_tree_evaluation():
    signals = {s.key: s for s in (sig("routes:a", True, 0.7), sig("keywords:k", True, 1.0),
                                  sig("context:c", False, 0.0))}
    node = RuleNode.model_validate
    assert evaluate_rule(node({}), signals) == (True, 0.0)
    assert evaluate_rule(node({"signal": "routes:a"}), signals) == (True, 0.7)
    assert evaluate_rule(node({"signal": "routes:zzz"}), signals) == (False, 0.0)
    assert evaluate_rule(node({"and": [{"signal": "routes:a"}, {"signal": "keywords:k"}]}), signals) == (True, 0.7)
    assert evaluate_rule(node({"and": [{"signal": "routes:a"}, {"signal": "context:c"}]}), signals)[0] is False
    assert evaluate_rule(node({"or": [{"signal": "context:c"}, {"signal": "keywords:k"}]}), signals) == (True, 1.0)
    assert evaluate_rule(node({"not": {"signal": "context:c"}}), signals) == (True, 1.0)
    assert evaluate_rule(node({"not": {"or": [{"signal": "routes:a"}]}}), signals)[0] is False


def test_priority_then_confidence_then_default():
    cfg = parse_config({**BASE, "signals": {"keywords": [{"name": "k", "words": ["x"]}, {"name": "j", "words": ["y"]}]},
                        "decisions": [
                            {"name": "low", "priority": 1, "model": "m1", "rule": {"signal": "keywords:k"}},
                            {"name": "tie_a", "priority": 5, "model": "m1", "rule": {"signal": "keywords:k"}},
                            {"name": "tie_b", "priority": 5, "model": "m2", "rule": {"signal": "keywords:j"}},
                            {"name": "fallback", "priority": 0, "model": "m2"}],
                        "default_decision": "fallback"})
    decider = Decider(cfg.decisions, cfg.default_decision, "m1")
    both = {"keywords:k": sig("keywords:k", True, 0.6), "keywords:j": sig("keywords:j", True, 0.9)}
    assert decider.decide(both).decision.name == "tie_b"  # same priority: higher confidence
    only_k = {"keywords:k": sig("keywords:k", True, 0.6)}
    assert decider.decide(only_k).decision.name == "tie_a"  # higher priority than "low"
    assert decider.decide({}).decision.name == "fallback"  # the catch-all
    no_default = Decider(cfg.decisions[:3], None, "m1").decide({})
    assert (no_default.decision.name, no_default.decision.model, no_default.matched) == ("default", "m1", False)


def test_rewrite_changes_only_decided_fields():
    cfg = parse_config({**BASE, "models": {
        "q": {"backends": [{"base_url": "http://h/v1"}], "reasoning_family": "chat_template_kwargs",
              "upstream_name": "Qwen/Qwen3-8B"}},
        "signals": {}, "decisions": [{"name": "d", "model": "q", "reasoning": "off",
                                      "system_prompt": {"content": "S", "mode": "insert"}}]})
    body = {"model": "auto", "temperature": 0.1, "chat_template_kwargs": {"foo": 1},
            "messages": [{"role": "user", "content": "hi"}]}
    out = rewrite(body, cfg.decisions[0], "q", cfg.models["q"])
    assert out == {"model": "Qwen/Qwen3-8B", "temperature": 0.1, "chat_template_kwargs": {"foo": 1,
                                                                                         "enable_thinking": False},
                   "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"}]}
    assert body["model"] == "auto" and len(body["messages"]) == 1 and body["chat_template_kwargs"] == {"foo": 1}


def test_reasoning_families_and_system_prompt_modes():
    b = {}
    apply_reasoning(b, "thinking", False, None)
    apply_reasoning(b, "reasoning_effort", True, "high")
    assert b == {"thinking": {"type": "disabled"}, "reasoning_effort": "high"}
    apply_reasoning(b, "none", True, None)
    assert b == {"thinking": {"type": "disabled"}, "reasoning_effort": "high"}
    msgs = [{"role": "user", "content": "u"}, {"role": "system", "content": "old", "name": "n"}]
    assert apply_system_prompt(msgs, "new", "replace")[1] == {"role": "system", "content": "new", "name": "n"}
    assert [m["content"] for m in apply_system_prompt(msgs, "new", "insert")] == ["u", "new", "old"]
    assert apply_system_prompt(msgs[:1], "new", "replace")[0] == {"role": "system", "content": "new"}


def test_session_keys_and_ttl():
    first_lookup, first_store = conversation_keys(None, "sys", ["a"], tenant="t")
    second_lookup, _ = conversation_keys(None, "sys", ["a", "b"], tenant="t")
    assert first_lookup is None and second_lookup == first_store
    assert conversation_keys(None, "other", ["a", "b"], tenant="t")[0] != first_store
    assert conversation_keys("abc", None, ["x"], tenant="t") == ("s:t:abc", "s:t:abc")
    # another tenant never finds this conversation, by session id or by its turns
    assert conversation_keys("abc", None, ["x"], tenant="u")[0] != "s:t:abc"
    assert conversation_keys(None, "sys", ["a", "b"], tenant="u")[0] != first_store
    store = SessionStore(ttl=0.05, max_sessions=10)
    store.put("k", Sticky("d", "m"))
    assert store.get("k") == Sticky("d", "m")
    time.sleep(0.08)
    assert store.get("k") is None and store.get(None) is None


@pytest.mark.slow  # builds the example's router through the CLI (the bundled model on ONNX)
def test_cli_classify_readable_json_and_errors(tmp_path):
    from semantic_router.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["classify", str(EXAMPLE), "what is the derivative of x squared", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert (out["decision"], out["model"], out["route"]) == ("math", "math-model", "math")
    r = runner.invoke(app, ["classify", str(EXAMPLE), "implement binary search in C++"])
    assert r.exit_code == 0 and "decision:   code" in r.stdout and "+ routes:code" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"models": {"m": {"backends": [{"base_url": "http://h"}], "timeout": "x"}}}))
    for args in (["classify", str(bad), "hi"], ["serve", str(bad)], ["classify", str(tmp_path / "none.yaml"), "x"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 2
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ")
    assert "models.m.timeout" in runner.invoke(app, ["serve", str(bad)]).stderr


def test_configs_in_the_docs_are_valid():
    """The reference block of docs/gateway.md and every shipped example (the docs include mom.yaml from its file)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "gateway.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if "models:" in b]
    assert len(blocks) == 1 and '--8<-- "examples/gateway/mom.yaml"' in doc
    examples = sorted((root / "examples" / "gateway").glob("*.yaml"))
    assert {p.name for p in examples} >= {"config.yaml", "mom.yaml"}
    for block in blocks + [p.read_text() for p in examples]:
        cfg = parse_config(yaml.safe_load(block))
        assert cfg.decisions and cfg.default_decision in {d.name for d in cfg.decisions}


def test_missing_server_extra_is_named(monkeypatch):
    import sys

    from semantic_router import server
    from semantic_router.cli import app

    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install -e '\.\[server\]'"):
        server.require_extra()
    with pytest.raises(ImportError, match="prometheus_client"):
        server.create_app  # noqa: B018 - the lazy export checks the extra
    r = CliRunner().invoke(app, ["classify", str(EXAMPLE), "hi"])
    assert r.exit_code == 2 and "[server]" in r.stderr and r.stderr.count("\n") == 1
