"""The aurelio-labs semantic-router article's flow, run through semantic_router.compat.aurelio."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import yaml

from semantic_router.compat.aurelio import (
    BaseEncoder,
    BM25Encoder,
    HybridRouteLayer,
    HybridRouter,
    LayerConfig,
    Route,
    RouteChoice,
    RouteLayer,
    RouterConfig,
    SemanticRouter,
)
from semantic_router.errors import ConfigError

POLITICS = "don't you love politics?"
WEATHER = "how's the weather today?"
LLAMA = "I'm interested in learning about llama 2"


@pytest.fixture()
def routes() -> list[Route]:
    politics = Route(name="politics", utterances=[
        "isn't politics the best thing ever", "why don't you tell me about your political opinions",
        "don't you just love the president", "they're going to destroy this country!", "they will save the country!"])
    chitchat = Route(name="chitchat", utterances=[
        "how's the weather today?", "how are things going?", "lovely weather today", "the weather is horrendous",
        "let's go to the chippy"])
    return [politics, chitchat]


def test_article_flow(encoder, routes, tmp_path):
    rl = SemanticRouter(encoder=encoder, routes=routes, auto_sync="local")
    assert rl(POLITICS).name == "politics"
    assert rl(WEATHER).name == "chitchat"
    assert rl(LLAMA).name is None
    assert rl.list_route_names() == ["politics", "chitchat"]
    # configs: to_config -> to_file -> from_file -> from_config routes the same
    config = rl.to_config()
    assert isinstance(config, RouterConfig)
    assert (config.encoder_type, config.encoder_name) == ("huggingface", encoder.name)
    assert [r.name for r in config.routes] == ["politics", "chitchat"]
    for name in ("nested/layer.json", "layer.yaml"):
        config.to_file(tmp_path / name)
        loaded = RouterConfig.from_file(tmp_path / name)
        assert loaded.to_dict() == config.to_dict()
        rl2 = RouteLayer.from_config(loaded, encoder=encoder)
        assert isinstance(rl2, SemanticRouter)
        assert [rl2(q).name for q in (POLITICS, WEATHER, LLAMA)] == ["politics", "chitchat", None]
    assert json.loads((tmp_path / "nested/layer.json").read_text())["routes"][0]["name"] == "politics"
    # json/yaml shortcuts of the router itself
    rl.to_json(tmp_path / "rl.json")
    assert SemanticRouter.from_json(tmp_path / "rl.json", encoder=encoder)(POLITICS).name == "politics"


def test_hybrid_router_with_bm25(encoder, routes):
    hr = HybridRouter(encoder=encoder, routes=routes)
    assert isinstance(hr.sparse_encoder, BM25Encoder) and hr.sparse_encoder.is_fitted
    assert hr(POLITICS).name == "politics"
    assert hr(WEATHER).name == "chitchat"
    assert hr(LLAMA).name is None
    layer = HybridRouteLayer(encoder=encoder, sparse_encoder=BM25Encoder(), routes=routes, alpha=0.3)
    assert layer.alpha == 0.3 and layer(POLITICS).name == "politics"
    assert HybridRouter.from_config(hr.to_config(), encoder=encoder).sparse_encoder is not None


def test_aurelio_layout_config_file(encoder, routes, tmp_path):
    path = tmp_path / "aurelio.yaml"
    path.write_text(yaml.safe_dump({"encoder_type": "huggingface", "encoder_name": encoder.name,
                                    "routes": [{**r.model_dump(mode="json"), "llm": None} for r in routes]}))
    config = LayerConfig.from_file(path)
    assert (config.encoder_type, config.encoder_name) == ("huggingface", encoder.name)
    rl = SemanticRouter.from_config(config, encoder=encoder)
    assert rl(POLITICS).name == "politics"
    # RouterConfig built in code, as aurelio users do
    built = RouterConfig(routes=routes, encoder_type="huggingface")
    built.add(Route(name="greet", utterances=["hello there"]))
    assert built.get("greet").utterances == ["hello there"] and built.get("nope") is None
    built.remove("greet")
    assert [r.name for r in built.routes] == ["politics", "chitchat"]
    with pytest.raises(KeyError, match="nope"):
        built.remove("nope")


def test_limit_thresholds_and_update(encoder, routes):
    rl = SemanticRouter(encoder=encoder, routes=routes)
    assert rl(WEATHER, limit=None).name == "chitchat"  # one passing route: a RouteChoice, as aurelio
    assert rl(LLAMA, limit=None) == RouteChoice()
    loose = SemanticRouter(encoder=encoder, routes=routes, score_threshold=-1.0)  # every route passes
    both = loose(POLITICS, limit=None)
    assert isinstance(both, list) and [c.name for c in both] == ["politics", "chitchat"]
    assert loose(POLITICS, limit=1).name == "politics"
    assert asyncio.run(rl.acall(WEATHER, limit=None)).name == "chitchat"
    assert asyncio.run(rl.acall(POLITICS)).name == "politics"
    assert asyncio.run(rl.acall(LLAMA, limit=3)) == RouteChoice()
    assert rl.get_thresholds() == {"politics": encoder.score_threshold, "chitchat": encoder.score_threshold}
    rl.update("politics", threshold=0.99)
    assert rl.get_thresholds()["politics"] == 0.99 and rl(POLITICS).name is None
    rl.set_threshold(0.2)
    assert rl.get_thresholds() == {"politics": 0.2, "chitchat": 0.2} and rl.score_threshold == 0.2
    assert rl(POLITICS).name == "politics"
    rl.set_threshold(0.99, route_name="chitchat")
    assert rl(WEATHER).name != "chitchat"
    assert rl.get("nope") is None and rl.get("politics").name == "politics"
    with pytest.raises(ValueError, match="At least one of"):
        rl.update("politics")
    assert rl.evaluate([POLITICS, LLAMA], ["politics", None]) == 1.0


def test_custom_base_encoder(encoder, routes):
    class MyEncoder(BaseEncoder):
        name = "my-encoder"
        score_threshold = 0.3

        def __call__(self, docs):
            return [list(v * 3.0) for v in encoder.encode(docs)]  # unnormalised on purpose

    mine = MyEncoder()
    assert mine.dimensions == encoder.dimensions
    rl = SemanticRouter(encoder=mine, routes=routes)
    assert rl(POLITICS).name == "politics"
    assert rl.get_thresholds()["politics"] == 0.3

    class Unfinished(BaseEncoder):
        pass

    with pytest.raises(NotImplementedError, match="Unfinished must implement __call__"):
        SemanticRouter(encoder=Unfinished(), routes=routes)


def test_config_files_bad_input(tmp_path, routes):
    with pytest.raises(ValueError, match="Unsupported file type"):
        RouterConfig.from_file(tmp_path / "layer.txt")
    with pytest.raises(ValueError, match="Unsupported file type"):
        RouterConfig(routes=routes).to_file(tmp_path / "layer.toml")
    (tmp_path / "bad.json").write_text('{"routes": [{"name": "a", "utterances": []}]}')
    with pytest.raises(ConfigError, match="invalid route"):
        RouterConfig.from_file(tmp_path / "bad.json")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="not a router config"):
        RouterConfig.from_file(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        RouterConfig.from_file(tmp_path / "absent.json")
    with pytest.raises(TypeError, match="RouterConfig or a dict"):
        SemanticRouter.from_config("layer.json")


def test_config_files_refuse_a_yaml_alias_bomb(tmp_path):
    from tests.test_config_validation import BOMB

    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB)
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"bomb\.yaml: not valid YAML: YAML aliases \(\*a\) are not allowed"):
        RouterConfig.from_file(path)
    assert time.perf_counter() - start < 5  # a guard against the expansion, not a benchmark


def test_config_files_keep_line_break_characters_and_write_atomically(tmp_path):
    # YAML reads NEL / U+2028 written raw as line breaks; the file must give back the exact text
    route = Route(name="odd\u2028name", utterances=["next\x85line", "para\u2029graph", "tab\tand\nnewline"])
    config = RouterConfig(routes=[route])
    path = tmp_path / "layer.yaml"
    path.write_text("old")
    config.to_file(path)
    assert RouterConfig.from_file(path).routes == [route]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layer.yaml"]  # no temporary file left


# -- aurelio's own import paths (semantic_router.routers/encoders/index/schema), code unchanged -------------
def test_aurelio_import_paths_run_unchanged_code(tmp_path):
    import numpy as np

    from semantic_router.encoders import DenseEncoder, SparseEncoder
    from semantic_router.index import HybridLocalIndex, LocalIndex, PostgresIndex, QdrantIndex
    from semantic_router.route import Route as AurelioRoute
    from semantic_router.routers import HybridRouter as AurelioHybrid
    from semantic_router.routers import SemanticRouter as AurelioRouter
    from semantic_router.schema import Message, SparseEmbedding, Utterance

    vectors = {"Hello": [1.0, 0.1, 0.0], "Hi": [0.9, 0.2, 0.0], "Bye": [0.0, 0.1, 1.0]}

    class Dense(DenseEncoder):  # aurelio's contract: __call__ only, keyword fields
        def __call__(self, docs):
            return [vectors.get(d, [0.5, 0.5, 0.5]) for d in docs]

    class Sparse(SparseEncoder):
        def __call__(self, docs):
            return [SparseEmbedding(embedding=np.array([[0, 0.1], [1, 0.2]])) for _ in docs]

    enc = Dense(name="dense", score_threshold=0.8)
    assert enc(["Hello"]) == [[1.0, 0.1, 0.0]] and enc.dimensions == 3
    with pytest.raises(NotImplementedError):
        DenseEncoder(name="base")(["x"])
    with pytest.raises(TypeError, match="unexpected keyword argument 'nmae'"):
        Dense(nmae="typo")
    routes = [AurelioRoute(name="greet", utterances=["Hello", "Hi"]), AurelioRoute(name="bye", utterances=["Bye"])]
    for index in (None, LocalIndex(init_async_index=True), QdrantIndex(index_name="aurelio-test")):
        rl = AurelioRouter(encoder=enc, routes=routes, index=index, auto_sync="local", init_async_index=True)
        assert rl.score_threshold == 0.8  # the encoder's, as aurelio reports it
        assert rl("Hello").name == "greet" and len(rl.index) == 3
        assert asyncio.run(rl.acall("Bye")).name == "bye"
    hybrid = AurelioHybrid(encoder=Dense(name="dense", score_threshold=0.3), sparse_encoder=Sparse(name="sparse"),
                           routes=routes)  # fused: 0.7 * dense + 0.3 * sparse
    assert hybrid("Hi").name == "greet"
    assert HybridLocalIndex is LocalIndex
    with pytest.raises(NotImplementedError, match="PostgresIndex"):
        PostgresIndex(index_name="x")
    assert Utterance(route="r", utterance="u", metadata={"a": 1}).to_str(True) == 'r: u | None | {"a": 1}'
    assert Message(role="user", content="hi").to_cohere() == {"role": "user", "message": "hi"}
    assert AurelioRoute.from_dict(routes[0].to_dict()) == routes[0] and routes[0].to_dict()["llm"] is None


def test_aurelio_sync_diff_and_remote_sync_on_an_empty_index():
    from semantic_router.index import QdrantIndex
    from semantic_router.routers import SemanticRouter as AurelioRouter

    class Dense(BaseEncoder):
        def __call__(self, docs):
            return [[float(len(d)), 1.0, 0.5] for d in docs]

    index = QdrantIndex()  # aurelio's bare QdrantIndex(): in memory
    AurelioRouter(encoder=Dense(), routes=[Route(name="a", utterances=["x", "y"])], index=index, auto_sync="local")
    other = AurelioRouter(encoder=Dense(), routes=[Route(name="a", utterances=["x", "z"])], index=index)
    assert other.get_utterance_diff() == ["  a: x", "+ a: y", "- a: z"]
    fresh = AurelioRouter(encoder=Dense(), routes=[], index=QdrantIndex(), auto_sync=None)
    fresh.sync("remote")  # nothing stored yet: the (empty) route set is written, as aurelio
    assert fresh.is_synced()


def test_aurelio_encoder_keywords_and_missing_config_file(tmp_path):
    from semantic_router.encoders import BM25Encoder, OpenAIEncoder

    enc = OpenAIEncoder(name="text-embedding-3-small", openai_api_key="sk-test")
    assert enc.name == "text-embedding-3-small"
    bm25 = BM25Encoder(use_default_params=True)
    bm25.fit([Route(name="r", utterances=["the quick brown fox", "lazy dog"])])  # routes, aurelio-style
    assert bm25.is_fitted and bm25(["quick fox"])[0].embedding.shape[1] == 2
    with pytest.raises(FileNotFoundError, match=r"\[Errno 2\] No such file or directory: '.*absent.json'"):
        RouterConfig.from_file(tmp_path / "absent.json")
