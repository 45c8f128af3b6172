"""Emulator of Cohere's embed API (`POST /v2/embed`, and `/v1/embed` of the older clients).

Checks the bearer key (401), the model (404), the 96-text limit, `input_type` (required by v3+
models) and `output_dimension` (400); serves deterministic vectors that differ slightly between
`search_query` and `search_document`, records every request, and injects failures (`faults`).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.emulators.server import FaultPlan, RequestLog, RunningServer, injected_response, start_server
from tests.emulators.vectors import fake_matrix, shorten

MODELS = {"embed-english-v3.0": 1024, "embed-multilingual-v3.0": 1024, "embed-english-light-v3.0": 384,
          "embed-v4.0": 1536}
V4_DIMENSIONS = (256, 512, 1024, 1536)
MAX_TEXTS = 96
INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


class CohereEmulator:
    """State and FastAPI app of one emulated Cohere server (base_url is `server.url`)."""

    def __init__(self, api_key: str | None = "co-test-emulator", models: dict[str, int] | None = None) -> None:
        self.api_key = api_key  # None: accept any key, like a self-hosted server
        self.models = dict(models or MODELS)
        self.faults = FaultPlan()
        self.log = RequestLog()
        self.latency = 0.0
        self.app = FastAPI()
        self.app.post("/v2/embed")(self._embed)
        self.app.post("/v1/embed")(self._embed)

    async def _embed(self, request: Request) -> JSONResponse:
        with self.log.serving():
            body: dict[str, Any] = await request.json()
            texts = list(body.get("texts") or [])
            self.log.add({
                "path": request.url.path,
                "model": body.get("model"),
                "input": texts,
                "batch_size": len(texts),
                "input_type": body.get("input_type"),
                "dimensions": body.get("output_dimension"),
                "embedding_types": body.get("embedding_types"),
                "key_ok": self._key_ok(request),
                "authorization": request.headers.get("authorization"),
            })
            injected = await injected_response(self.faults, self.latency,
                                               lambda status, msg: JSONResponse({"message": msg}, status))
            if injected is not None:
                return injected
            return self._answer(request, body, texts)

    def _key_ok(self, request: Request) -> bool:
        return self.api_key is None or request.headers.get("authorization") == f"Bearer {self.api_key}"

    def _answer(self, request: Request, body: dict[str, Any], texts: list[str]) -> JSONResponse:
        if not self._key_ok(request):
            return _error(401, "invalid api token")
        model = body.get("model")
        if model not in self.models:
            return _error(404, f"model '{model}' not found, make sure the correct model ID was used "
                               "and that you have access to the model.")
        if not texts or len(texts) > MAX_TEXTS:
            return _error(400, f"invalid request: number of texts must be 1..{MAX_TEXTS}, received {len(texts)}")
        input_type = body.get("input_type")
        if input_type not in INPUT_TYPES:
            return _error(400, f"invalid request: input_type must be one of {INPUT_TYPES}, got {input_type!r}")
        native = self.models[model]
        dims = body.get("output_dimension")
        if dims is not None and (model != "embed-v4.0" or dims not in V4_DIMENSIONS):
            return _error(400, f"invalid request: output_dimension {dims} is not supported by {model}")
        vectors = fake_matrix(texts, native, salt=input_type)
        if dims is not None:
            vectors = shorten(vectors, dims)
        meta = {"api_version": {"version": request.url.path[1:3]},
                "billed_units": {"input_tokens": sum(len(t.split()) for t in texts)}}
        rows = vectors.tolist()
        if request.url.path.startswith("/v1") and not body.get("embedding_types"):
            return JSONResponse({"id": str(uuid.uuid4()), "embeddings": rows, "texts": texts, "meta": meta,
                                 "response_type": "embeddings_floats"})
        return JSONResponse({"id": str(uuid.uuid4()), "embeddings": {"float": rows}, "texts": texts, "meta": meta,
                             "response_type": "embeddings_by_type"})

    def start(self) -> RunningServer:
        return start_server(self.app)
