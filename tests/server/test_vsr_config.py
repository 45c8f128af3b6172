"""The vLLM Semantic Router's config format: translated field by field into ours, every key we cannot honour a
ConfigError naming it, `config convert` (round trip, bad input), and the native pieces it needed (system prompt
modes, keyword case, the reasoning parameter, ties broken by declaration order)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

pytest.importorskip("fastapi")

from semantic_router.errors import ConfigError
from semantic_router.server.act.rewrite import apply_system_prompt, rewrite
from semantic_router.server.config import KeywordSet, load_config, parse_config
from semantic_router.server.decide.decisions import Decider
from semantic_router.server.decide.signals.base import SignalResult
from semantic_router.server.decide.signals.keywords import KeywordSignal
from semantic_router.server.ingress.requests import prompt_conversation
from semantic_router.server.vsr_config import is_vsr, to_native
from tests.server.test_vsr_guide import keyword_only
from tests.server.vsr_guide import example_config


def small() -> dict[str, Any]:
    """A small config of theirs touching every supported key."""
    return {
        "version": "v0.3",
        "listeners": [{"name": "http-8899", "address": "0.0.0.0", "port": 8899, "timeout": "300s"}],
        "providers": {
            "defaults": {"default_model": "llama", "default_reasoning_effort": "high", "reasoning_families": {
                "qwen3": {"type": "chat_template_kwargs", "parameter": "enable_thinking"},
                "deepseek": {"type": "chat_template_kwargs", "parameter": "thinking"},
                "gpt": {"type": "reasoning_effort", "parameter": "reasoning_effort"}}},
            "models": [
                {"name": "qwen", "reasoning_family": "qwen3",
                 "backend_refs": [{"name": "a", "endpoint": "10.0.0.1:8000", "weight": 3},
                                  {"endpoint": "q.example.com", "protocol": "https"}]},
                {"name": "llama", "backend_refs": [{"endpoint": "127.0.0.1:8001"}]},
                {"name": "ds", "reasoning_family": "deepseek", "provider_model_id": "deepseek-ai/DeepSeek-V3.1",
                 "backend_refs": [{"endpoint": "127.0.0.1:8002"}]},
                {"name": "gpt", "reasoning_family": "gpt", "backend_refs": [{"endpoint": "127.0.0.1:8003"}]},
            ]},
        "routing": {
            "signals": {"domains": [{"name": "math", "description": "maths"}, {"name": "computer science"}],
                        "keywords": [{"name": "think", "operator": "OR", "keywords": ["step by step"]},
                                     {"name": "both", "operator": "AND", "keywords": ["a", "b"], "case_sensitive": True},
                                     {"name": "never", "operator": "NOR", "keywords": ["x"]}]},
            "decisions": [
                {"name": "d_math", "description": "x", "priority": 10,
                 "rules": {"operator": "AND", "conditions": [
                     {"type": "domain", "name": "math"},
                     {"operator": "OR", "conditions": [{"type": "keyword", "name": "think"},
                                                       {"type": "keyword", "name": "both"}]}]},
                 "modelRefs": [{"model": "qwen", "use_reasoning": True}],
                 "plugins": [{"type": "system_prompt", "configuration": {"enabled": True, "mode": "replace",
                                                                         "system_prompt": "Be exact."}},
                             {"type": "semantic-cache", "configuration": {"enabled": True,
                                                                          "similarity_threshold": 0.9}}]},
                {"name": "d_cs", "priority": 10, "rules": {"operator": "OR", "conditions": [
                    {"type": "domain", "name": "computer science"}]},
                 "modelRefs": [{"model": "llama", "use_reasoning": True}],
                 "plugins": [{"type": "system_prompt", "configuration": {"mode": "prepend", "system_prompt": "P"}}]},
                {"name": "d_ds", "priority": 5, "rules": {"operator": "OR", "conditions": [
                    {"type": "keyword", "name": "never"}]}, "modelRefs": [{"model": "ds", "use_reasoning": False}],
                 "plugins": [{"type": "system_prompt", "configuration": {"mode": "append", "system_prompt": "A"}},
                             {"type": "semantic-cache", "configuration": {"enabled": False}}]},
                {"name": "d_gpt", "priority": 1, "rules": {"operator": "OR", "conditions": [
                    {"type": "keyword", "name": "think"}]},
                 "modelRefs": [{"model": "gpt", "use_reasoning": True, "reasoning_effort": "low"}],
                 "plugins": [{"type": "system_prompt", "configuration": {"enabled": False, "system_prompt": "off"}}]},
                {"name": "d_gpt2", "priority": 0, "rules": {"operator": "OR", "conditions": [
                    {"type": "keyword", "name": "both"}]}, "modelRefs": [{"model": "gpt", "use_reasoning": True}]},
            ]},
        "global": {"router": {"strategy": "priority"}},
    }


def test_translation_field_by_field():
    n = to_native(small())
    assert n["server"] == {"host": "0.0.0.0", "port": 8899}
    assert n["virtual_models"] == ["MoM", "auto"] and n["tie_break"] == "order"
    assert list(n["models"]) == ["llama", "qwen", "ds", "gpt"]  # default_model first: our built-in default's model
    qwen, llama, ds, gpt = (n["models"][k] for k in ("qwen", "llama", "ds", "gpt"))
    assert qwen["backends"] == [{"base_url": "http://10.0.0.1:8000/v1", "weight": 3.0},
                                {"base_url": "https://q.example.com/v1", "weight": 1.0}]
    assert qwen["timeout"] == llama["timeout"] == 300.0
    assert qwen["reasoning_family"] == "chat_template_kwargs" and "reasoning_parameter" not in qwen
    assert "reasoning_family" not in llama
    assert (ds["reasoning_family"], ds["reasoning_parameter"], ds["upstream_name"]) == \
        ("chat_template_kwargs", "thinking", "deepseek-ai/DeepSeek-V3.1")
    assert gpt["reasoning_family"] == "reasoning_effort"
    assert n["signals"]["domains"] == ["math", "computer science"]
    assert n["signals"]["routes"] == {"router": {"routes": []}}  # the semantic cache's encoder, no routes
    assert n["signals"]["keywords"] == [
        {"name": "think", "words": ["step by step"], "match": "any"},
        {"name": "both", "words": ["a", "b"], "match": "all", "case_sensitive": True},
        {"name": "never", "words": ["x"], "match": "none"}]
    d = {x["name"]: x for x in n["decisions"]}
    assert [x["name"] for x in n["decisions"]] == ["d_math", "d_cs", "d_ds", "d_gpt", "d_gpt2"]
    assert d["d_math"]["rule"] == {"and": [{"signal": "domain:math"}, {"or": [{"signal": "keywords:think"},
                                                                              {"signal": "keywords:both"}]}]}
    assert (d["d_math"]["model"], d["d_math"]["priority"], d["d_math"]["reasoning"]) == ("qwen", 10, "on")
    assert d["d_math"]["system_prompt"] == {"content": "Be exact.", "mode": "replace_all"}
    assert d["d_math"]["plugins"] == {"cache": {"mode": "semantic", "similarity_threshold": 0.9}}
    assert d["d_cs"]["rule"] == {"or": [{"signal": "domain:computer science"}]}
    assert "reasoning" not in d["d_cs"]  # llama has no reasoning family: never switched, as theirs
    assert d["d_cs"]["system_prompt"] == {"content": "P", "mode": "insert"}
    assert d["d_ds"]["reasoning"] == "off" and d["d_ds"]["system_prompt"]["mode"] == "append"
    assert "plugins" not in d["d_ds"]  # a disabled plugin does nothing
    assert (d["d_gpt"]["reasoning"], d["d_gpt"]["reasoning_effort"]) == ("on", "low")
    assert "system_prompt" not in d["d_gpt"]
    assert d["d_gpt2"]["reasoning_effort"] == "high"  # providers.defaults.default_reasoning_effort


def test_detection_and_the_top_level_strategy_spelling():
    assert is_vsr(small()) and not is_vsr({"models": {}}) and not is_vsr([1])
    old = copy.deepcopy(small())
    del old["global"]
    old["strategy"] = "priority"
    assert to_native(old)["tie_break"] == "order"


def _set(path: str, value: Any):
    def change(cfg: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = cfg
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value
    return change


_DELETE = object()
UNSUPPORTED = [
    ("global.integrations", {"tools": {"enabled": True}}, "global.integrations: not supported"),
    ("global.router.strategy", "confidence", "global.router.strategy"),
    ("routing.modelCards", [{"name": "qwen"}], "routing.modelCards: not supported"),
    ("routing.signals.embeddings", [{"name": "e", "threshold": 0.5, "candidates": ["x"]}],
     "routing.signals.embeddings: not supported"),
    ("providers.models.0.pricing", {"currency": "USD"}, "providers.models[0].pricing: not supported"),
    ("providers.models.0.backend_refs.0.endpoint", "h:1/v1beta/openai", "providers.models[0].backend_refs[0].endpoint"),
    ("providers.models.0.backend_refs.0.access_key", "k", "providers.models[0].backend_refs[0].access_key"),
    ("providers.models.0.reasoning_family", "nope", "providers.models[0].reasoning_family: 'nope' is not in"),
    ("providers.defaults.default_model", "ghost", "providers.defaults.default_model: unknown model 'ghost'"),
    ("providers.defaults.reasoning_families.gpt.parameter", "effort", "providers.defaults.reasoning_families.gpt"),
    ("providers.defaults.reasoning_families.qwen3.type", "template", "reasoning_families.qwen3.type"),
    ("routing.signals.keywords.0.operator", "XOR", "routing.signals.keywords[0].operator"),
    ("routing.decisions.0.rules.operator", "NOT", "routing.decisions[0].rules.operator"),
    ("routing.decisions.1.rules.conditions.0.type", "embedding",
     "routing.decisions[1].rules.conditions[0].type: condition type 'embedding' is not supported"),
    ("routing.decisions.1.rules.conditions.0.name", "poetry", "conditions[0].name: domain 'poetry' is not declared"),
    ("routing.decisions.2.rules.conditions.0.name", "nokw", "keyword set 'nokw' is not declared"),
    ("routing.decisions.0.modelRefs.0.model", "ghost", "routing.decisions[0].modelRefs[0].model: unknown model"),
    ("routing.decisions.0.modelRefs.0.lora_name", "x", "routing.decisions[0].modelRefs[0].lora_name: not supported"),
    ("routing.decisions.0.modelRefs", [{"model": "qwen"}, {"model": "llama"}], "routing.decisions[0].modelRefs"),
    ("routing.decisions.0.plugins.0.type", "pii", "routing.decisions[0].plugins[0].type: plugin 'pii' is not"),
    ("routing.decisions.0.plugins.0.configuration.mode", "insert",
     "routing.decisions[0].plugins[0].configuration.mode"),
    ("routing.decisions.0.plugins.0.configuration.extra", 1,
     "routing.decisions[0].plugins[0].configuration.extra: not supported"),
    ("routing.decisions.0.plugins.1", {"type": "system_prompt", "configuration": {"system_prompt": "again"}},
     "routing.decisions[0].plugins[1].type: a second 'system_prompt'"),
    ("listeners", [{"address": "a", "port": 1}, {"address": "b", "port": 2}], "listeners"),
    ("listeners.0.timeout", "soon", "listeners[0].timeout"),
    ("routing.decisions.0.rules.conditions.1.type", "keyword", "a condition is either"),
]


@pytest.mark.parametrize(("path", "value", "message"), UNSUPPORTED, ids=[u[0] + "=" + str(u[1])[:12] for u in UNSUPPORTED])
def test_every_key_we_cannot_honour_is_an_error_naming_it(path, value, message):
    cfg = small()
    _set(path, value)(cfg)
    with pytest.raises(ConfigError) as info:
        parse_config(cfg, "theirs.yaml")
    assert message in str(info.value) and str(info.value).startswith("theirs.yaml: ")


def test_the_example_translates_to_the_guides_table():
    n = to_native(example_config())
    routed = {d["name"].removesuffix("_decision"): (d["model"], d.get("reasoning"), d["priority"])
              for d in n["decisions"]}
    assert len(routed) == 15
    for name in ("math", "physics", "computer_science", "biology", "chemistry", "engineering"):
        assert routed[name] == ("qwen3-8b", "on", 10)
    for name in ("business", "law", "psychology", "health", "economics", "history", "philosophy"):
        assert routed[name] == ("llama3-8b-instruct", None, 10)
    assert routed["other"] == ("llama3-8b-instruct", None, 5) and routed["thinking"] == ("qwen3-8b", "on", 15)
    assert list(n["models"])[0] == "llama3-8b-instruct"  # the default model


def test_native_system_prompt_modes():
    msgs = [{"role": "system", "content": "s1"}, {"role": "user", "content": "u"}, {"role": "system", "content": "s2"}]
    contents = lambda out: [(m["role"], m["content"]) for m in out]  # noqa: E731
    assert contents(apply_system_prompt(msgs, "N", "replace_all")) == [("system", "N"), ("user", "u")]
    assert contents(apply_system_prompt(msgs, "N", "append")) == [("system", "s1"), ("user", "u"), ("system", "s2"),
                                                                  ("system", "N")]
    assert contents(apply_system_prompt(msgs, "N", "insert"))[0] == ("system", "N")
    assert contents(apply_system_prompt(msgs, "N", "replace"))[:1] == [("system", "N")]
    for mode in ("append", "replace_all", "insert", "replace"):
        assert contents(apply_system_prompt([{"role": "user", "content": "u"}], "N", mode)) == \
            [("system", "N"), ("user", "u")]
    assert msgs[0]["content"] == "s1" and len(msgs) == 3  # the client's list is not changed


def test_deepseek_reasoning_parameter_and_keyword_case():
    cfg = parse_config(small_keywords())
    ds = cfg.models["ds"]
    out = rewrite({"model": "MoM", "messages": [{"role": "user", "content": "x"}]}, cfg.decision("d_ds"), "ds", ds)
    assert out["chat_template_kwargs"] == {"thinking": False} and out["model"] == "deepseek-ai/DeepSeek-V3.1"
    both = KeywordSignal(KeywordSet(name="both", words=["Alpha", "beta"], match="all", case_sensitive=True))
    assert both.evaluate(prompt_conversation("Alpha and beta")).matched
    assert not both.evaluate(prompt_conversation("alpha and beta")).matched


def small_keywords() -> dict[str, Any]:
    """`small()` without domain conditions (runs before the built-in domain signal exists)."""
    cfg = small()
    cfg["routing"]["decisions"] = cfg["routing"]["decisions"][2:]
    del cfg["routing"]["signals"]["domains"]
    return cfg


def _result(key: str, confidence: float) -> SignalResult:
    kind, _, name = key.partition(":")
    return SignalResult(kind, name, True, confidence, 0.0)


def test_ties_go_to_declaration_order_with_their_strategy_and_to_confidence_natively():
    base = {"models": {"m": {"backends": [{"base_url": "http://127.0.0.1:1/v1"}]}},
            "signals": {"keywords": [{"name": "a", "words": ["a"]}, {"name": "b", "words": ["b"]}]},
            "decisions": [{"name": "first", "priority": 10, "rule": {"signal": "keywords:a"}, "model": "m"},
                          {"name": "second", "priority": 10, "rule": {"signal": "keywords:b"}, "model": "m"},
                          {"name": "higher", "priority": 11, "rule": {"signal": "keywords:c"}, "model": "m"}]}
    base["signals"]["keywords"].append({"name": "c", "words": ["c"]})
    signals = {"keywords:a": _result("keywords:a", 0.6), "keywords:b": _result("keywords:b", 0.9)}
    native = parse_config(base)
    assert Decider(native.decisions, None, "m", native.tie_break).decide(signals).decision.name == "second"
    ordered = parse_config({**base, "tie_break": "order"})
    assert Decider(ordered.decisions, None, "m", ordered.tie_break).decide(signals).decision.name == "first"
    signals["keywords:c"] = _result("keywords:c", 0.1)  # a higher priority still wins whatever the order
    assert Decider(ordered.decisions, None, "m", ordered.tie_break).decide(signals).decision.name == "higher"


def _cli(args: list[str]):
    from semantic_router.cli import app

    return CliRunner().invoke(app, args)


def test_convert_round_trip_serves_the_same_decisions(tmp_path):
    theirs = tmp_path / "theirs.yaml"
    theirs.write_text(yaml.safe_dump(keyword_only(example_config()), sort_keys=False))
    out = tmp_path / "ours.yaml"
    r = _cli(["config", "convert", str(theirs), "--out", str(out)])
    assert r.exit_code == 0, r.output
    ours = load_config(out)
    assert ours.model_dump() == load_config(theirs).model_dump()  # serve reads their file as the converted one
    assert [d.name for d in ours.decisions] == ["thinking_decision"] and ours.tie_break == "order"
    assert not yaml.safe_load(out.read_text()).keys() & {"routing", "providers"}  # our format, not theirs
    r = _cli(["classify", str(theirs), "Walk me through a merger proposal", "--json"])
    assert r.exit_code == 0, r.output
    assert '"decision": "thinking_decision"' in r.stdout and '"model": "qwen3-8b"' in r.stdout


def test_convert_bad_input_is_one_error_line_and_writes_nothing(tmp_path):
    out = tmp_path / "ours.yaml"
    out.write_text("keep: me\n")
    bad = tmp_path / "bad.yaml"
    cfg = small_keywords()
    cfg["routing"]["decisions"][0]["plugins"][0]["type"] = "pii"
    bad.write_text(yaml.safe_dump(cfg))
    native = tmp_path / "native.yaml"
    native.write_text(yaml.safe_dump({"models": {"m": {"backends": [{"base_url": "http://h/v1"}]}}}))
    for source, message in ((bad, "plugin 'pii' is not supported"), (native, "not a vLLM Semantic Router config"),
                            (tmp_path / "missing.yaml", "cannot read")):
        r = _cli(["config", "convert", str(source), "--out", str(out)])
        assert r.exit_code == 2, r.output
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1 and message in r.stderr
    assert out.read_text() == "keep: me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "native.yaml", "ours.yaml"]  # no temp left
