"""Configs: every bad value is a ConfigError naming its dotted field, YAML alias bombs are refused."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from semantic_router import RouteLayer
from semantic_router.config import ENCODERS, INDEXES, RouterConfig, build, dump_yaml, parse_yaml
from semantic_router.errors import ConfigError
from tests.hash_encoder import HashEncoder

ROUTE = {"name": "greet", "utterances": ["hello there"]}


def config(**fields):
    return {"routes": [dict(ROUTE)], **fields}


def route(**fields):
    return {"routes": [{**ROUTE, **fields}]}


BAD = [
    # (config, the field the error must name, words of the message)
    (config(score_threshold="0.5"), "score_threshold", "valid number"),
    (config(score_threshold=5), "score_threshold", "less than or equal to 1"),
    (config(score_threshold=float("nan")), "score_threshold", "finite"),
    ({"routes": None}, "routes", "valid list"),
    ({"routes": [5]}, "routes.0", "expected a route mapping"),
    ({"routes": "greet"}, "routes", "valid list"),
    (route(function_schemas=5), "routes.0.function_schemas", "valid list"),
    (route(function_schemas=[5]), "routes.0.function_schemas.0", "valid dictionary"),
    (route(score_threshold="0.5"), "routes.0.score_threshold", "valid number"),
    (route(score_threshold=2), "routes.0", "score_threshold must be within"),
    (route(utterances="hello"), "routes.0.utterances", "valid list"),
    (route(utterances=[]), "routes.0.utterances", "at least one utterance"),
    (route(name=None), "routes.0.name", "valid string"),
    (route(metadata=[1]), "routes.0.metadata", "valid dictionary"),
    (route(aggregation="median"), "routes.0.aggregation", "'max', 'mean', 'sum' or 'min'"),
    (route(colour="red"), "routes.0.colour", "Extra inputs"),
    (config(index={"type": "redis", "url": 5}), "index.url", "valid string"),
    (config(index={"type": "redis", "colour": "red"}), "index.colour", "Extra inputs"),
    (config(index={"type": 5}), "index spec", "string 'type'"),
    (config(index={"type": ["redis"]}), "index spec", "string 'type'"),
    (config(index="redis"), "index", "valid dictionary"),
    (config(encoder={"type": "huggingface", "batch_size": "64"}), "encoder.batch_size", "valid integer"),
    (config(sparse_encoder={"type": "bm25", "k1": "x"}), "sparse_encoder.k1", "valid number"),
    (config(encoder={"type": "openai", "timeout": "x"}), "encoder.timeout", "valid number"),  # takes **options
    (config(llm={"type": "openai", "temperature": "hot"}), "llm.temperature", "valid number"),
    (config(history={"weight": "x"}), "history.weight", "valid number"),
    (config(history={"weight": 2.0}), "history.weight", "less than or equal to 1"),
    (config(history={"turns": -1}), "history.turns", "greater than or equal to 0"),
    (config(history={"colour": 1}), "history.colour", "Extra inputs"),
    (config(version="x"), "version", "valid integer"),
    (config(version=99), "version", "newer than this library"),
    (config(format="other"), "format", "not a semantic-router config"),
    (config(top_k=0), "top_k", "greater than or equal to 1"),
    (config(top_k="abc"), "top_k", "valid integer"),
    (config(top_k=2.5), "top_k", "valid integer"),
    (config(top_k=True), "top_k", "valid integer"),
    (config(aggregation="median"), "aggregation", "'max', 'mean', 'sum' or 'min'"),
    (config(alpha="0.3"), "alpha", "valid number"),
    (config(extra=5), "extra", "valid dictionary"),
    (config(extra={"rule": 5}), "extra", "rule must be one of"),
    (config(extra={"rule": {"name": "classifier", "C": -1}}), "extra", "C must be positive"),
    (config(colour="red"), "colour", "Extra inputs"),
    ({"encoder_type": "huggingface", "routes": None}, "routes", "valid list"),
    ({"encoder_type": "huggingface", "routes": [7]}, "routes.0", "expected a route mapping"),
    ([ROUTE], "top level", "expected a mapping"),
    ("routes", "top level", "expected a mapping"),
]


@pytest.mark.parametrize("data, field, words", BAD, ids=[f"{f}-{w}" for _, f, w in BAD])
def test_every_bad_value_names_its_field(tmp_path, data, field, words):
    # an `encoder=` override replaces the config's encoder spec, so that spec is only checked without it
    overrides = {} if isinstance(data, dict) and "encoder" in data else {"encoder": HashEncoder()}
    for fmt in ("yaml", "json"):
        path = tmp_path / f"c.{fmt}"
        path.write_text(yaml.safe_dump(data) if fmt == "yaml" else json.dumps(data))
        with pytest.raises(ConfigError) as info:
            RouteLayer.from_file(path, **overrides)
        message = str(info.value)
        assert field in message and words in message, message
        assert message.startswith(str(path)) and "\n" not in message
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        RouteLayer.from_dict(data, **overrides)


def test_a_good_config_still_builds_and_ints_are_numbers(tmp_path):
    data = config(score_threshold=1, alpha=1, history={"weight": 0, "turns": 2}, top_k=3,
                  encoder={"type": "huggingface", "batch_size": 8, "score_threshold": 0})
    cfg = RouterConfig.parse(data)
    assert cfg.score_threshold == 1.0 and isinstance(cfg.score_threshold, float)
    assert (cfg.history.weight, cfg.history.turns) == (0.0, 2)
    enc = build(cfg.encoder, ENCODERS, "encoder")
    assert enc.batch_size == 8 and enc.score_threshold == 0.0
    rl = RouteLayer.from_dict(data, encoder=HashEncoder())
    assert rl.history.turns == 2 and rl.top_k == 3


def test_build_checks_options_before_connecting():
    # a redis index with a bad option never tries to connect (the error names the option)
    with pytest.raises(ConfigError, match=r"index\.retries: Input should be a valid integer"):
        build({"type": "redis", "url": "redis://127.0.0.1:1", "retries": "many"}, INDEXES, "index")


BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
routes: [{name: x, utterances: *i}]
"""


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    assert len(BOMB) < 600
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"aliases \(\*a\) are not allowed"):
        RouteLayer.from_yaml(path, encoder=HashEncoder())
    assert time.perf_counter() - start < 5  # a guard against the expansion, not a benchmark (it took 10 s)


def test_an_innocent_alias_is_refused_too_with_its_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("u: &u [hello there]\nroutes:\n- name: greet\n  utterances: *u\n")
    with pytest.raises(ConfigError, match="line 4"):
        RouteLayer.from_yaml(path, encoder=HashEncoder())


def test_dumped_yaml_never_has_aliases_so_it_reads_back():
    shared = ["hello there", "next\x85line"]  # one object twice: a plain YAML dumper writes &id001 / *id001
    data = {"a": shared, "b": {"utterances": shared}}
    text = dump_yaml(data)
    assert "&" not in text and "*" not in text
    assert parse_yaml(text) == data


@pytest.mark.parametrize("name, content, words", [
    ("deep.json", "[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ("deep.yaml", "[" * 2_000 + "]" * 2_000, "not valid YAML"),
    ("latin1.yaml", "routes: [{name: caf\xe9, utterances: [x]}]".encode("latin-1"), "cannot read config"),
    ("empty.yaml", "", "expected a mapping at the top level, got NoneType"),
    ("tab.yaml", "routes:\n\t- x", "not valid YAML"),
    ("tagged.yaml", "routes: !!python/object/apply:os.system [echo hi]", "not valid YAML"),
    ("bigint.json", '{"top_k": ' + "9" * 5000 + "}", "not valid JSON"),
])
def test_garbage_files_are_config_errors(tmp_path, name, content, words):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ConfigError, match=words) as info:
        RouteLayer.from_file(path, encoder=HashEncoder())
    assert "\n" not in str(info.value)  # one line, as a command line prints it


def test_yaml_keeps_characters_yaml_reads_as_line_breaks(tmp_path):
    """Found by the property tests: NEL (U+0085) written raw came back as a space; such text is escaped."""
    from semantic_router import Route

    rl = RouteLayer(encoder=HashEncoder(), routes=[
        Route(name="a\u2028b", utterances=["x\x85y", "café"], metadata={"\x85": "\u2029"})])
    rl.to_yaml(tmp_path / "r.yaml")
    back = RouteLayer.from_yaml(tmp_path / "r.yaml", encoder=HashEncoder())
    assert back.to_dict() == rl.to_dict()
    plain = RouteLayer(encoder=HashEncoder(), routes=[Route(name="café", utterances=["crème brûlée"])])
    plain.to_yaml(tmp_path / "p.yaml")
    assert "crème brûlée" in (tmp_path / "p.yaml").read_text(encoding="utf-8")  # readable when that is safe
