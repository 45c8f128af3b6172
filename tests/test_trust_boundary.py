"""The trust boundary of the library (issue 16): shared state never chooses the encoder, its
clients, URLs or credentials; it is only checked against the process's own encoder."""

from __future__ import annotations

import socket
import threading

import pytest

from semantic_router import Route, RouteLayer
from semantic_router.errors import ConfigError, SyncError
from semantic_router.index.local import LocalIndex
from tests.hash_encoder import HashEncoder

ROUTES = [
    Route(name="stocks", utterances=["tell me about the stock market", "how are my shares doing"]),
    Route(name="weather", utterances=["how's the weather today?", "lovely weather today"]),
]


@pytest.fixture()
def listener():
    """A real listening loopback socket that records every connection made to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.1)
    seen: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            seen.append(conn.recv(4096))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    stop.set()
    thread.join(2)
    server.close()


def poisoned_index(port: int, name: str, dims: int) -> LocalIndex:
    """A shared index whose state (written by someone who can write it) names an OpenAI-compatible
    encoder at a host of their choosing."""
    index = LocalIndex()
    RouteLayer(encoder=HashEncoder(384), routes=ROUTES, index=index, auto_sync="local", rule="knn",
               refresh_interval=float("inf")).close()
    state = index.read_state()
    state["encoder"] = {"type": "openai", "name": name, "dimensions": dims, "max_retries": 0,
                        "base_url": f"http://127.0.0.1:{port}/v1"}
    index.write_state(state)
    return index


def test_a_shared_state_never_chooses_where_the_encoder_sends_credentials(listener, monkeypatch):
    port, seen = listener
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-of-this-process")
    index = poisoned_index(port, "text-embedding-3-small", 1536)
    with pytest.raises(SyncError, match="text-embedding-3-small.*all-MiniLM-L6-v2.*encoder="):
        rl = RouteLayer.from_index(index)  # the process default (the bundled model) is checked, not replaced
        rl("how is the stock market doing")  # (before issue 16: sent with this process's key to the state's host)
    with pytest.raises(SyncError, match="text-embedding-3-small"):
        RouteLayer.from_index(index, encoder=HashEncoder(384))
    assert seen == []  # nothing ever connected to the host the state names


def test_the_state_describing_the_same_model_elsewhere_still_uses_the_process_encoder(listener, monkeypatch):
    port, seen = listener
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-of-this-process")
    mine = HashEncoder(384)
    index = poisoned_index(port, mine.name, 384)  # same model name and size, but a hostile base_url
    rl = RouteLayer.from_index(index, encoder=mine)
    assert rl.encoder is mine
    assert rl("how is the stock market doing").name == "stocks"
    assert rl.route_batch(["lovely weather", "my shares"])[0].name == "weather"
    rl.close()
    assert seen == []


def test_a_dimension_mismatch_is_a_clear_error():
    index = LocalIndex()
    RouteLayer(encoder=HashEncoder(64), routes=ROUTES, index=index, auto_sync="local",
               refresh_interval=float("inf")).close()
    with pytest.raises(SyncError, match=r"hash-words.*64 dims.*hash-words.*32 dims"):
        RouteLayer.from_index(index, encoder=HashEncoder(32))


def test_a_hybrid_state_gets_the_process_sparse_encoder_never_one_it_describes(listener):
    from semantic_router.encoders.bm25 import BM25Encoder

    port, seen = listener
    index = LocalIndex()
    RouteLayer(encoder=HashEncoder(384), routes=ROUTES, index=index, sparse_encoder=BM25Encoder(), auto_sync="local",
               refresh_interval=float("inf")).close()
    rl = RouteLayer.from_index(index, encoder=HashEncoder(384))  # the default BM25 is the one the state names
    assert isinstance(rl.sparse_encoder, BM25Encoder) and rl("lovely weather today").name == "weather"
    rl.close()
    state = index.read_state()
    state["sparse_encoder"] = {"type": "openai", "name": "x", "base_url": f"http://127.0.0.1:{port}/v1"}
    index.write_state(state)
    with pytest.raises(SyncError, match="sparse_encoder="):
        RouteLayer.from_index(index, encoder=HashEncoder(384))
    assert seen == []


def test_assigning_an_encoder_takes_effect_for_the_same_model_and_is_refused_for_another():
    first, second = HashEncoder(384), HashEncoder(384)
    rl = RouteLayer(encoder=first, routes=ROUTES, rule="knn")
    rl.encoder = second  # the same model (name, dimensions): a cached or remote copy, say
    before = first.calls
    assert rl("is the stock market up").name == "stocks"
    rl.add(Route(name="food", utterances=["a pizza please"]))
    assert first.calls == before and second.calls == 2  # the query and the new utterance (before: ignored)
    assert rl.encoder is second and rl("a pizza please").name == "food"

    class OtherModel(HashEncoder):
        name = "another-model"

    for other in (HashEncoder(64), OtherModel(384)):
        with pytest.raises(ValueError, match=r"rl.encoder = .*would not compare.*reencode=True"):
            rl.encoder = other
    with pytest.raises(TypeError, match="DenseEncoder"):
        rl.encoder = "text-embedding-3-small"
    assert rl.encoder is second and rl("a pizza please").name == "food"


def test_a_shared_router_publishes_with_the_encoder_assigned(redis_url):
    import uuid

    from semantic_router.index.redis import RedisIndex

    name = f"enc{uuid.uuid4().hex[:8]}"
    writer = RouteLayer(encoder=HashEncoder(384), routes=ROUTES, index=RedisIndex(redis_url, name=name),
                        auto_sync="local", rule="knn", refresh_interval=float("inf"))
    writer.encoder = replacement = HashEncoder(384)
    writer.add(Route(name="food", utterances=["a pizza please"]))
    assert replacement.calls == 1 and writer.index.read_state()["encoder"]["name"] == "hash-words"
    writer.index.drop()
    writer.close()


class SaltedModel(HashEncoder):
    """Another 384-dim model: other vectors for the same words."""

    name = "salted-words"

    def _word(self, word: str):
        return super()._word("salt:" + word)


def test_loading_with_another_model_is_refused_unless_the_caller_asks_to_reencode(tmp_path):
    path = tmp_path / "router.pkl"
    RouteLayer(encoder=HashEncoder(384), routes=ROUTES).save(path)
    other = SaltedModel(384)
    with pytest.raises(ConfigError, match=r"made by 'hash-words' \(384 dims\).*'salted-words'.*reencode=True"):
        RouteLayer.load(path, encoder=other)  # before issue 16: loaded, then every query found no route
    assert other.calls == 0
    rl = RouteLayer.load(path, encoder=other, reencode=True)
    assert other.calls == 4  # every utterance encoded with the new model
    assert rl("how is the stock market doing").name == "stocks" and rl.encoder is other
    with pytest.raises(ConfigError, match="another model"):
        RouteLayer.from_file(path, encoder=SaltedModel(64))
    with pytest.raises(ConfigError, match="vectors have dimension 384"):
        RouteLayer.load(path, encoder=HashEncoder(64))
    same = HashEncoder(384)
    assert RouteLayer.load(path, encoder=same)("lovely weather today").name == "weather"
    assert same.calls == 1  # the query only: the stored vectors were used
