"""One extra's smoke check, run by scripts/extras_smoke.sh inside a fresh virtualenv holding the project's wheel
and ONLY that extra: `python scripts/extras_smoke.py EXTRA`. Prints one `ok` line or fails with a traceback.

Each check runs what the extra is for, as far as this machine can without network or credentials (a remote
service is reached up to its connection, which must fail with the library's own error, proving the SDK is
wired), and makes sure the venv really lacks the other extras.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.append(str(ROOT))  # after site-packages: `semantic_router` is the installed wheel, `tests` the checkout's

import semantic_router  # noqa: E402
from semantic_router import Route, RouteLayer  # noqa: E402

#: a module of each extra, absent from every other extra's venv (the `cli` extra's typer is not one: the `local`
#: and `fastembed` extras bring it through huggingface-hub, the `server` extra on purpose)
MARKERS = {"local": "sentence_transformers", "hybrid": "rank_bm25", "qdrant": "qdrant_client", "pinecone": "pinecone",
           "redis": "redis", "openai": "openai", "cohere": "cohere", "fastembed": "fastembed", "fit": "matplotlib",
           "server": "fastapi", "extproc": "envoy", "guards": "presidio_analyzer", "learn": "sklearn"}
#: extras that bring another on purpose (the external processor is a front door of the gateway) or by their own
#: dependencies (sentence-transformers requires scikit-learn, the `learn` extra's package)
INCLUDES = {"extproc": {"server"}, "local": {"learn"}}
ROUTES = [Route(name="politics", utterances=["isn't politics the best thing ever", "don't you just love the president"]),
          Route(name="chitchat", utterances=["how's the weather today?", "lovely weather today"])]
PORT_WAIT = 120.0


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The venv's `semantic-router` console script."""
    exe = Path(sys.executable).with_name("semantic-router")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdin=subprocess.DEVNULL)


def expect_one_error_line(out: subprocess.CompletedProcess[str], needle: str) -> None:
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], out.stderr


def hash_router(**kwargs: object) -> RouteLayer:
    from tests.hash_encoder import HashEncoder  # no model: the checkout's deterministic test encoder

    return RouteLayer(encoder=HashEncoder(), routes=ROUTES, **kwargs)


def local() -> None:
    """The main job on the embedded defaults: the bundled model, offline, routes a query."""
    rl = RouteLayer(routes=ROUTES)
    assert rl("don't you love politics?").name == "politics"


def hybrid() -> None:
    from semantic_router.encoders import BM25Encoder

    rl = hash_router(sparse_encoder=BM25Encoder())
    assert rl("don't you just love the president").name == "politics"


def qdrant() -> None:
    from semantic_router.index import QdrantIndex

    rl = hash_router(index=QdrantIndex(location=":memory:"))
    assert rl("don't you just love the president").name == "politics"


def pinecone() -> None:
    from semantic_router.errors import IndexBackendError
    from semantic_router.index import PineconeIndex

    index = PineconeIndex(api_key="smoke", control_host="http://127.0.0.1:1", retries=0)
    try:
        index.count()
    except IndexBackendError:
        return  # the SDK made the call: nothing listens there
    raise AssertionError("a Pinecone call to a closed port succeeded")


def redis() -> None:
    from semantic_router.errors import IndexBackendError
    from semantic_router.index import RedisIndex

    try:
        RedisIndex(url="redis://127.0.0.1:1", retries=0)
    except IndexBackendError as exc:
        assert "unreachable" in str(exc)
        return
    raise AssertionError("a Redis connection to a closed port succeeded")


def _remote_encoder(cls_name: str) -> None:
    import semantic_router.encoders as encoders
    from semantic_router.errors import EncoderError

    encoder = getattr(encoders, cls_name)(api_key="smoke", base_url="http://127.0.0.1:1/v1", max_retries=0, timeout=5)
    try:
        encoder.encode(["hello"])
    except EncoderError as exc:
        assert "connection" in str(exc), exc
        return
    raise AssertionError(f"{cls_name} reached a closed port")


def openai() -> None:
    _remote_encoder("OpenAIEncoder")


def cohere() -> None:
    _remote_encoder("CohereEncoder")


def fastembed() -> None:
    """fastembed runs ONNX models; the bundled one comes from the `local` extra (its weights, and torch to export
    it once), so alone it constructs and names that extra when asked to encode with the bundled model."""
    from fastembed import TextEmbedding  # noqa: F401 - the runtime imports

    from semantic_router.encoders import FastEmbedEncoder
    from semantic_router.errors import EncoderError

    encoder = FastEmbedEncoder()
    assert encoder.dimensions == 384
    try:
        encoder.encode(["hello"])
    except EncoderError as exc:
        assert "'local' extra" in str(exc), exc
        return
    raise AssertionError("the bundled model encoded without the 'local' extra")


def fit() -> None:
    rl = hash_router()
    texts = ["don't you just love the president", "lovely weather today", "politics is great", "weather today",
             "tell me about cars"]
    report = rl.fit(texts, ["politics", "chitchat", "politics", "chitchat", None], progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "fit.png"
        report.after_report.plot(png)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def learn() -> None:
    """A signal trains on a few labelled texts (scikit-learn), saves and loads back; the built-in artifacts ship."""
    from semantic_router.learn import builtin_path, read_classifier, train_signal
    from tests.hash_encoder import HashEncoder

    texts = ["refund my order", "money back please", "where is my refund", "i want a refund",
             "the app crashes", "it shows an error", "the screen stays black", "login is broken"]
    labels = ["billing"] * 4 + ["bug"] * 4
    signal, report = train_signal(texts, labels, encoder=HashEncoder(), cv=2, progress=False)
    assert report.n == 8 and signal.labels == ("billing", "bug")
    with tempfile.TemporaryDirectory() as tmp:
        loaded = read_classifier(signal.save(Path(tmp) / "s.npz"), HashEncoder())
        assert loaded.predict(["refund my order please"]) == signal.predict(["refund my order please"])
    assert builtin_path("domains").is_file() and builtin_path("jailbreak").is_file()


def free_ports(n: int) -> list[int]:
    """`n` loopback ports free a moment ago."""
    ports = []
    for _ in range(n):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    return ports


def server() -> None:
    """`semantic-router serve` with demo backends answers a chat request (a keyword-only config: the bundled
    model is the `local` extra's); `classify` on the example config names that extra in one line."""
    import httpx

    gateway, backend = free_ports(2)
    config = {"models": {"m": {"backends": [{"base_url": f"http://127.0.0.1:{backend}/v1"}]}},
              "signals": {"keywords": [{"name": "hi", "words": ["hello"]}]},
              "decisions": [{"name": "greet", "rule": {"signal": "keywords:hi"}, "model": "m"}]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gateway.yaml"
        path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
        exe = Path(sys.executable).with_name("semantic-router")
        proc = subprocess.Popen([str(exe), "serve", str(path), "--port", str(gateway), "--demo-backends",
                                 "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + PORT_WAIT
            while True:
                assert proc.poll() is None, proc.stderr.read().decode()  # type: ignore[union-attr]
                try:
                    if httpx.get(f"http://127.0.0.1:{gateway}/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the gateway did not get ready"
                time.sleep(0.2)
            r = httpx.post(f"http://127.0.0.1:{gateway}/v1/chat/completions", timeout=30,
                           json={"model": "auto", "messages": [{"role": "user", "content": "hello there"}]})
            assert r.status_code == 200 and r.headers["x-router-decision"] == "greet", r.text
        finally:
            proc.terminate()
            proc.wait(30)
    expect_one_error_line(cli("classify", "examples/gateway/config.yaml", "hi"), "'local' extra")


def extproc() -> None:
    """`serve --ext-proc-port P --no-http` with demo backends decides a chat request sent as Envoy sends it (a
    keyword-only config: no model), and stops on SIGTERM with status 0."""
    import signal

    import grpc

    from tests.server.envoy_client import Envoy

    ext_port, backend = free_ports(2)
    config = {"virtual_models": ["MoM"], "models": {"m": {"backends": [{"base_url": f"http://127.0.0.1:{backend}/v1"}],
                                                          "reasoning_family": "chat_template_kwargs"}},
              "signals": {"keywords": [{"name": "hi", "words": ["hello"]}]},
              "decisions": [{"name": "greet", "rule": {"signal": "keywords:hi"}, "model": "m", "reasoning": "on"}]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gateway.yaml"
        path.write_text(json.dumps(config), encoding="utf-8")
        exe = Path(sys.executable).with_name("semantic-router")
        proc = subprocess.Popen([str(exe), "serve", str(path), "--ext-proc-port", str(ext_port), "--no-http",
                                 "--demo-backends", "--log-level", "warning"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            with grpc.insecure_channel(f"127.0.0.1:{ext_port}") as channel:
                grpc.channel_ready_future(channel).result(timeout=PORT_WAIT)
            envoy = Envoy(ext_port, {"m": f"http://127.0.0.1:{backend}/v1"})
            try:
                out = envoy.chat({"model": "MoM", "messages": [{"role": "user", "content": "hello there"}]})
            finally:
                envoy.close()
            assert out.upstream_headers["x-selected-model"] == "m" and out.status == 200, out
            assert out.upstream_body["chat_template_kwargs"] == {"enable_thinking": True}, out.upstream_body
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(30)
        assert code == 0, proc.stderr.read().decode()  # type: ignore[union-attr]


def guards() -> None:
    """Personal data found and redacted offline (presidio's recognizers, no model, nothing downloaded)."""
    from semantic_router.guards import PIIDetector

    detector = PIIDetector()
    text = "write to ada@example.org, card 4111 1111 1111 1111"
    assert [f.kind for f in detector.find(text)] == ["email", "card"], detector.find(text)
    assert detector.redact(text) == "write to <EMAIL>, card <CARD>"


def cli_() -> None:
    """`routes` needs no model; `route` names the `local` extra its bundled model needs."""
    out = cli("routes", "examples/topics.yaml", "--json")
    assert out.returncode == 0 and {"account", "billing"} <= {r["name"] for r in json.loads(out.stdout)}, out.stderr
    expect_one_error_line(cli("route", "examples/topics.yaml", "reset my password"), "'local' extra")


CHECKS: dict[str, Callable[[], None]] = {
    "local": local, "hybrid": hybrid, "qdrant": qdrant, "pinecone": pinecone, "redis": redis, "openai": openai,
    "cohere": cohere, "fastembed": fastembed, "fit": fit, "server": server, "extproc": extproc, "cli": cli_,
    "guards": guards, "learn": learn}


def main(extra: str) -> None:
    site = Path(semantic_router.__file__).resolve()
    assert ROOT not in site.parents, f"semantic_router comes from the checkout ({site}), not the venv's wheel"
    others = {m for e, m in MARKERS.items()
              if e != extra and e not in INCLUDES.get(extra, ()) and find_spec(m) is not None}
    assert not others, f"the '{extra}' venv also holds {sorted(others)}: not a venv of one extra"
    start = time.perf_counter()
    CHECKS[extra]()
    print(f"ok {extra} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main(sys.argv[1])
