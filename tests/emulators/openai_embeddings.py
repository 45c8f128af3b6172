"""Emulator of the OpenAI embeddings API (`POST /v1/embeddings`) for tests with the real `openai` SDK.

Checks the bearer key (401), the model (404), the 2048-input limit and `dimensions` support
(400), serves deterministic vectors (tests/emulators/vectors.py) as floats or base64, records
every request, and fails or stalls the next N requests on demand (`faults`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.emulators.server import FaultPlan, RequestLog, RunningServer, injected_response, start_server
from tests.emulators.vectors import fake_matrix, shorten, to_base64

MODELS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
MAX_INPUTS = 2048


def _error(status: int, message: str, code: str | None, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status_code=status)


class OpenAIEmulator:
    """State and FastAPI app of one emulated OpenAI server."""

    def __init__(self, api_key: str | None = "sk-test-emulator", models: dict[str, int] | None = None) -> None:
        self.api_key = api_key  # None: accept any key, like a self-hosted server
        self.models = dict(models or MODELS)
        self.faults = FaultPlan()
        self.log = RequestLog()
        self.latency = 0.0  # seconds every request takes (to observe client-side concurrency)
        self.app = FastAPI()
        self.app.post("/v1/embeddings")(self._embeddings)

    async def _embeddings(self, request: Request) -> JSONResponse:
        with self.log.serving():
            body: dict[str, Any] = await request.json()
            inputs = body.get("input")
            texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
            self.log.add({
                "path": request.url.path,
                "model": body.get("model"),
                "input": texts,
                "batch_size": len(texts),
                "dimensions": body.get("dimensions"),
                "encoding_format": body.get("encoding_format"),
                "key_ok": self._key_ok(request),
                "authorization": request.headers.get("authorization"),
            })
            injected = await injected_response(self.faults, self.latency,
                                               lambda status, msg: _error(status, msg, None, "server_error"))
            if injected is not None:
                return injected
            return self._answer(request, body, texts)

    def _key_ok(self, request: Request) -> bool:
        return self.api_key is None or request.headers.get("authorization") == f"Bearer {self.api_key}"

    def _answer(self, request: Request, body: dict[str, Any], texts: list[str]) -> JSONResponse:
        if not self._key_ok(request):
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        model = body.get("model")
        if model not in self.models:
            return _error(404, f"The model `{model}` does not exist or you do not have access to it.",
                          "model_not_found")
        if not texts or len(texts) > MAX_INPUTS or not all(isinstance(t, str) and t for t in texts):
            return _error(400, f"'input' must be 1..{MAX_INPUTS} non-empty strings", None)
        native = self.models[model]
        dims = body.get("dimensions")
        if dims is not None and (not model.startswith("text-embedding-3") or not 0 < dims <= native):
            return _error(400, f"This model does not support specifying dimensions={dims}.", None)
        vectors = fake_matrix(texts, native)
        if dims is not None:
            vectors = shorten(vectors, dims)
        as_b64 = body.get("encoding_format") == "base64"
        data = [{"object": "embedding", "index": i, "embedding": to_base64(v) if as_b64 else v.tolist()}
                for i, v in enumerate(vectors)]
        tokens = sum(len(t.split()) for t in texts)
        return JSONResponse({"object": "list", "data": data, "model": model,
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def start(self) -> RunningServer:
        """Serve on a free port; the SDK's base_url is `server.url + "/v1"`."""
        return start_server(self.app)
