"""A backend that dies or stalls mid-stream: the official OpenAI SDK raises `openai.APIError` instead of handing
back a silently truncated answer; the break is counted; a client that leaves mid-answer is counted, not logged
(real gateway and stand-in backends on loopback)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from semantic_router.server.http import create_app
from semantic_router.server.config import parse_config
from semantic_router.server.demo import DemoBackend, run_in_thread
from semantic_router.server.runtime import Runtime
from tests.server.conftest import error_logs, wait_ready


def _event(content: str, role: bool = False) -> bytes:
    delta = {"role": "assistant", "content": content} if role else {"content": content}
    chunk = {"id": "chatcmpl-dying", "object": "chat.completion.chunk", "created": 1, "model": "dying",
             "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


class DyingBackend:
    """Answers every chat completion with a 200 SSE stream of `events`, then `tail` (e.g. half an event), then
    closes the connection without ending the chunked body, as a backend process that dies would."""

    def __init__(self, events: list[bytes], tail: bytes = b"") -> None:
        self.events, self.tail = events, tail
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.served = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += conn.recv(65536)
                length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                  if line.lower().startswith(b"content-length")))
                body = head.split(b"\r\n\r\n", 1)[1]
                while len(body) < length:
                    body += conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                             b"transfer-encoding: chunked\r\n\r\n")
                for piece in [*self.events, self.tail]:
                    if piece:
                        conn.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                        time.sleep(0.02)
                self.served += 1

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def serve() -> Iterator[Any]:
    """Start gateways (and servers) for one test; all stop at its end."""
    started: list[Any] = []

    def start(models: dict[str, Any]) -> str:
        config = {"models": models, "decisions": [{"name": "d", "model": next(iter(models))}]}
        server = run_in_thread(create_app(Runtime.build(parse_config(config))))
        started.append(server)
        wait_ready(server.url)
        return server.url

    yield start
    for server in started:
        server.stop()


def sdk_stream(url: str, model: str) -> tuple[str, BaseException | None]:
    """The text an OpenAI SDK stream yielded, and what it raised (None: it ended normally)."""
    client = openai.OpenAI(base_url=url + "/v1", api_key="k", max_retries=0, timeout=30)
    text = ""
    try:
        for chunk in client.chat.completions.create(model=model, stream=True,
                                                    messages=[{"role": "user", "content": "tell me a story"}]):
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
    except openai.APIError as exc:
        return text, exc
    return text, None


def upstream_errors(url: str) -> dict[str, int]:
    return httpx.get(url + "/stats").json()["upstream_errors"]


@pytest.mark.parametrize("tail", [b"", b'data: {"id": "chatcmpl-dying", "choi'], ids=["between events", "mid-event"])
def test_a_backend_that_dies_mid_stream_makes_the_sdk_raise(serve, tail):
    dying = DyingBackend([_event("Once", role=True), _event(" upon"), _event(" a time")], tail)
    try:
        url = serve({"dying": {"backends": [{"base_url": dying.url}]}})
        with error_logs() as errors:
            text, raised = sdk_stream(url, "dying")
        assert isinstance(raised, openai.APIError), f"the stream ended silently with {text!r}"
        assert "stopped mid-answer" in raised.message and "incomplete" in raised.message
        assert raised.body["code"] == "upstream_stream_broken"
        assert text == "Once upon a time"  # every complete event arrived; half an event never does
        assert upstream_errors(url) == {"stream_broken": 1}
        metrics = httpx.get(url + "/metrics").text
        assert 'router_upstream_errors_total{model="dying",reason="stream_broken"} 1.0' in metrics
        assert not errors, [e.getMessage() for e in errors]
        raw = httpx.post(url + "/v1/chat/completions", timeout=10, json={
            "model": "dying", "stream": True, "messages": [{"role": "user", "content": "again"}]}).text
        assert raw.rstrip().endswith('"code": "upstream_stream_broken"}}') and "[DONE]" not in raw
    finally:
        dying.close()


@pytest.mark.parametrize("limits", [{"stream_idle_timeout": 0.5, "timeout": 30.0}, {"timeout": 1.0}],
                         ids=["stream_idle_timeout", "model timeout"])
def test_a_backend_that_stalls_mid_stream_is_cut_after_the_idle_timeout(serve, limits):
    stalling = DemoBackend(name="stalling", delay=8.0)  # the role chunk at once, then 8 s to the first word
    backend = run_in_thread(stalling.app())
    try:
        url = serve({"stalling": {"backends": [{"base_url": backend.url + "/v1"}], **limits}})
        with error_logs() as errors:
            start = time.perf_counter()
            text, raised = sdk_stream(url, "stalling")
            took = time.perf_counter() - start
        assert isinstance(raised, openai.APIError), f"the stream ended silently with {text!r}"
        assert "sent nothing for too long" in raised.message and raised.body["code"] == "upstream_stream_timeout"
        assert took < 5.0, took
        assert upstream_errors(url) == {"stream_timeout": 1}
        deadline = time.monotonic() + 5
        while stalling.cancelled < 1:  # the stalled upstream request was closed
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert not errors, [e.getMessage() for e in errors]
    finally:
        backend.stop()


def test_a_client_leaving_mid_answer_is_counted_not_logged(serve):
    slow = DemoBackend(name="slow", delay=0.2)
    backend = run_in_thread(slow.app())
    try:
        url = serve({"slow": {"backends": [{"base_url": backend.url + "/v1"}]}})
        with error_logs() as errors:
            for _ in range(3):
                with httpx.stream("POST", url + "/v1/chat/completions", timeout=10, json={
                        "model": "slow", "stream": True, "messages": [{"role": "user", "content": "a b c d e f"}]}) as r:
                    next(r.iter_lines())  # the first event, then hang up
            deadline = time.monotonic() + 5
            while httpx.get(url + "/stats").json()["client_disconnects"].get("stream", 0) < 3:
                assert time.monotonic() < deadline, httpx.get(url + "/stats").json()
                time.sleep(0.05)
            while slow.cancelled < 3:  # each upstream request was closed with its client
                assert time.monotonic() < deadline
                time.sleep(0.02)
        assert not errors, [e.getMessage() for e in errors]
        assert 'router_client_disconnects_total{phase="stream"} 3.0' in httpx.get(url + "/metrics").text
    finally:
        backend.stop()
