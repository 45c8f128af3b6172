"""An Envoy stand-in for the ext_proc tests and benchmark: a real gRPC client on loopback that sends exactly the
messages Envoy's ext_proc filter sends in BUFFERED mode (the same proto types, the same order, one message
answered before the next), applies the mutations it gets back, and routes on the model header to the backends.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2 as pm
from envoy.service.ext_proc.v3 import external_processor_pb2 as ep
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as epg

CHAT = "/v1/chat/completions"
BUFFERED = pm.ProcessingMode.BUFFERED
STREAMED = pm.ProcessingMode.STREAMED


def header_map(headers: dict[str, str]) -> base_pb2.HeaderMap:
    """Envoy sends values as `raw_value` bytes."""
    return base_pb2.HeaderMap(headers=[base_pb2.HeaderValue(key=k, raw_value=v.encode()) for k, v in headers.items()])


def request_headers(body: bytes | None, path: str = CHAT, method: str = "POST", extra: dict[str, str] | None = None,
                    content_length: bool = True) -> ep.ProcessingRequest:
    headers = {":authority": "gateway.local", ":path": path, ":method": method, ":scheme": "http",
               "user-agent": "OpenAI/Python 1.0", "x-forwarded-proto": "http", "x-request-id": "req-1"}
    if body is not None:
        headers["content-type"] = "application/json"
        if content_length:
            headers["content-length"] = str(len(body))
    headers.update(extra or {})
    # the first message of a stream carries the filter's processing mode (Envoy 1.31+)
    config = ep.ProtocolConfiguration(request_body_mode=BUFFERED, response_body_mode=BUFFERED)
    return ep.ProcessingRequest(request_headers=ep.HttpHeaders(headers=header_map(headers),
                                                               end_of_stream=body is None),
                                protocol_config=config)


def request_body(body: bytes, end_of_stream: bool = True) -> ep.ProcessingRequest:
    return ep.ProcessingRequest(request_body=ep.HttpBody(body=body, end_of_stream=end_of_stream))


def response_headers(status: int, headers: dict[str, str]) -> ep.ProcessingRequest:
    return ep.ProcessingRequest(response_headers=ep.HttpHeaders(
        headers=header_map({":status": str(status), **headers}), end_of_stream=False))


def response_body(body: bytes, end_of_stream: bool = True) -> ep.ProcessingRequest:
    return ep.ProcessingRequest(response_body=ep.HttpBody(body=body, end_of_stream=end_of_stream))


class Stream:
    """One ext_proc stream: `send(message)` returns the processor's answer to it."""

    def __init__(self, stub: epg.ExternalProcessorStub, timeout: float = 10.0) -> None:
        self.outbox: queue.Queue[ep.ProcessingRequest | None] = queue.Queue()
        self.call = stub.Process(iter(self.outbox.get, None), timeout=timeout)

    def send(self, message: ep.ProcessingRequest) -> ep.ProcessingResponse:
        self.outbox.put(message)
        return next(self.call)

    def close(self) -> list[ep.ProcessingResponse]:
        """Half-close (Envoy's end of the request) and drain: the processor ends the stream."""
        self.outbox.put(None)
        return list(self.call)

    def cancel(self) -> None:
        self.call.cancel()


def set_headers(common: ep.CommonResponse) -> dict[str, str]:
    out = {}
    for option in common.header_mutation.set_headers:
        h = option.header
        out[h.key] = h.raw_value.decode() if h.raw_value else h.value
    return out


@dataclass
class Forwarded:
    """What the stand-in Envoy did with one request: the processor's answers and the upstream exchange."""

    answers: list[ep.ProcessingResponse] = field(default_factory=list)
    upstream_body: dict[str, Any] | None = None
    upstream_headers: dict[str, str] = field(default_factory=dict)
    status: int = 0
    client_headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    immediate: ep.ImmediateResponse | None = None
    exchange_ms: list[float] = field(default_factory=list)  # each message's round trip to the processor

    def json(self) -> Any:
        return json.loads(self.body)


class Envoy:
    """A channel to the processor plus a route table {model header value: backend base URL (…/v1)}."""

    def __init__(self, port: int, routes: dict[str, str] | None = None, model_header: str = "x-selected-model") -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = epg.ExternalProcessorStub(self.channel)
        self.routes = routes or {}
        self.model_header = model_header
        self.http = httpx.Client(timeout=10)

    def close(self) -> None:
        self.channel.close()
        self.http.close()

    def stream(self, timeout: float = 10.0) -> Stream:
        return Stream(self.stub, timeout)

    def chat(self, payload: dict[str, Any] | bytes, headers: dict[str, str] | None = None,
             default_route: str | None = None) -> Forwarded:
        """The whole BUFFERED flow of one chat completion, as Envoy runs it."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        out = Forwarded()
        stream = self.stream()

        def send(message: ep.ProcessingRequest) -> ep.ProcessingResponse:
            start = time.perf_counter()
            answer = stream.send(message)
            out.exchange_ms.append((time.perf_counter() - start) * 1e3)
            return answer

        try:
            first = send(request_headers(body, extra=headers))
            out.answers.append(first)
            if first.HasField("immediate_response"):
                return self._immediate(out, first)
            sent = dict(headers or {}, **{"content-length": str(len(body))})
            for k, v in set_headers(first.request_headers.response).items():
                sent[k] = v
            second = send(request_body(body))
            out.answers.append(second)
            if second.HasField("immediate_response"):
                return self._immediate(out, second)
            common = second.request_body.response
            upstream = common.body_mutation.body if common.HasField("body_mutation") else body
            sent.update(set_headers(common))
            for name in common.header_mutation.remove_headers:
                sent.pop(name, None)
            assert int(sent["content-length"]) == len(upstream), "content-length does not match the body"
            out.upstream_headers = sent
            out.upstream_body = json.loads(upstream)
            target = self.routes.get(sent.get(self.model_header, ""), default_route)
            assert target is not None, f"no route for {sent.get(self.model_header)!r}"
            r = self.http.post(target + "/chat/completions", content=upstream,
                               headers={"content-type": "application/json"})
            third = send(response_headers(r.status_code, {"content-type": r.headers["content-type"]}))
            out.answers.append(third)
            client_headers = {"content-type": r.headers["content-type"]}
            client_headers.update(set_headers(third.response_headers.response))
            fourth = send(response_body(r.content))
            out.answers.append(fourth)
            resp = fourth.response_body.response
            out.body = resp.body_mutation.body if resp.HasField("body_mutation") else r.content
            out.status, out.client_headers = r.status_code, client_headers
            return out
        finally:
            stream.close()

    @staticmethod
    def _immediate(out: Forwarded, answer: ep.ProcessingResponse) -> Forwarded:
        im = answer.immediate_response
        out.immediate, out.status, out.body = im, im.status.code, im.body
        out.client_headers = {o.header.key: o.header.raw_value.decode() for o in im.headers.set_headers}
        return out


def iter_sse(body: bytes) -> Iterator[bytes]:
    for event in body.split(b"\n\n"):
        if event.startswith(b"data: "):
            yield event[6:]
