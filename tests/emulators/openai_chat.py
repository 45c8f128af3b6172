"""Emulator of OpenAI chat completions with tool calls (`POST /v1/chat/completions`) for the real `openai` SDK.

Checks the bearer key (401), the model (404) and the request shape the real API insists on (400:
tools, tool_choice, every assistant tool call answered by a tool message), records every request,
fails or stalls the next N requests on demand (`faults`), and answers either with scripted replies
(`queue_calls`, `queue_text`) or, when nothing is queued, deterministically: it calls the tool whose
name matches the query, filling string arguments from "... in <Place>" and numbers from the query.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.emulators.openai_embeddings import _error
from tests.emulators.server import FaultPlan, RequestLog, RunningServer, injected_response, start_server

MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1-mini")
ROLES = {"system", "developer", "user", "assistant", "tool"}
_PLACE = re.compile(r"\bin ([A-Z][\w'-]*(?: [A-Z][\w'-]*)*)")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_EMPTY = {"string": "", "integer": 0, "number": 0, "boolean": False, "array": [], "object": {}, "null": None}


@dataclass(frozen=True)
class Scripted:
    """One queued answer: tool calls as (name, raw JSON arguments), or plain text when there are none."""

    calls: tuple[tuple[str, str], ...] = ()
    content: str | None = None


class ChatEmulator:
    """State and FastAPI app of one emulated OpenAI chat server."""

    def __init__(self, api_key: str | None = "sk-test-emulator", models: tuple[str, ...] = MODELS) -> None:
        self.api_key = api_key  # None: accept any key, like a self-hosted server
        self.models = set(models)
        self.faults = FaultPlan()
        self.log = RequestLog()
        self.latency = 0.0
        self._script: list[Scripted] = []
        self._lock = threading.Lock()
        self._ids = 0
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._completions)

    # -- scripting ------------------------------------------------------------------------------
    def queue_calls(self, *calls: tuple[str, dict[str, Any] | str]) -> None:
        """Answer the next valid request with these tool calls; a str argument is sent as-is (bad JSON)."""
        encoded = tuple((name, args if isinstance(args, str) else json.dumps(args)) for name, args in calls)
        with self._lock:
            self._script.append(Scripted(calls=encoded))

    def queue_text(self, content: str) -> None:
        """Answer the next valid request with text and no tool call."""
        with self._lock:
            self._script.append(Scripted(content=content))

    @property
    def queued(self) -> int:
        with self._lock:
            return len(self._script)

    def reset(self) -> None:
        """Empty the request log, the fault plan and the script."""
        self.log.clear()
        self.faults.clear()
        self.latency = 0.0
        with self._lock:
            self._script.clear()

    # -- HTTP -----------------------------------------------------------------------------------
    async def _completions(self, request: Request) -> JSONResponse:
        with self.log.serving():
            body: dict[str, Any] = await request.json()
            key_ok = self.api_key is None or request.headers.get("authorization") == f"Bearer {self.api_key}"
            self.log.add({"path": request.url.path, "model": body.get("model"), "messages": body.get("messages"),
                          "tools": body.get("tools"), "tool_choice": body.get("tool_choice"),
                          "temperature": body.get("temperature"), "key_ok": key_ok,
                          "authorization": request.headers.get("authorization")})
            injected = await injected_response(self.faults, self.latency,
                                               lambda status, msg: _error(status, msg, None, "server_error"))
            if injected is not None:
                return injected
            if not key_ok:
                return _error(401, "Incorrect API key provided: sk-wr***ng.", "invalid_api_key")
            if body.get("model") not in self.models:
                return _error(404, f"The model `{body.get('model')}` does not exist or you do not have access to it.",
                              "model_not_found")
            problem = _shape_problem(body)
            if problem:
                return _error(400, problem, None)
            return JSONResponse(self._answer(body))

    def _answer(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            scripted = self._script.pop(0) if self._script else None
            self._ids += 1
            n = self._ids
        if scripted is None:
            scripted = _default_answer(body)
        calls = [{"id": f"call_{n}_{i}", "type": "function", "function": {"name": name, "arguments": args}}
                 for i, (name, args) in enumerate(scripted.calls)]
        message = {"role": "assistant", "content": scripted.content, "refusal": None, "tool_calls": calls or None}
        return {"id": f"chatcmpl-emu-{n}", "object": "chat.completion", "created": int(time.time()),
                "model": body["model"], "system_fingerprint": None,
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": "tool_calls" if calls else "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}

    def start(self) -> RunningServer:
        """Serve on a free port; the SDK's base_url is `server.url + "/v1"`."""
        return start_server(self.app)


def _shape_problem(body: dict[str, Any]) -> str | None:
    """What the real API would reject with a 400 (None: acceptable)."""
    messages, tools = body.get("messages"), body.get("tools")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    if tools is not None:
        if not isinstance(tools, list) or not all(
                isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("function"), dict)
                and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(t["function"].get("name"))) for t in tools):
            return "Invalid 'tools': each must be {'type': 'function', 'function': {'name': ...}}"
    if body.get("tool_choice") == "required" and not tools:
        return "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
    open_ids: set[str] = set()
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ROLES:
            return f"Invalid value for 'messages[{i}].role': {role!r}"
        if role == "tool":
            if m.get("tool_call_id") not in open_ids:
                return (f"Invalid parameter: messages with role 'tool' must be a response to a preceeding message "
                        f"with 'tool_calls' (messages[{i}])")
            open_ids.discard(m["tool_call_id"])
            continue
        if open_ids:
            return ("An assistant message with 'tool_calls' must be followed by tool messages responding to each "
                    f"'tool_call_id'. The following tool_call_ids did not have response messages: {sorted(open_ids)}")
        if role == "assistant":
            open_ids = {c["id"] for c in m.get("tool_calls") or []}
    return None


def _default_answer(body: dict[str, Any]) -> Scripted:
    """Call the tool named in the last user message (else the first), arguments guessed from that message."""
    tools = body.get("tools") or []
    text = next((m.get("content") or "" for m in reversed(body["messages"]) if m.get("role") == "user"), "")
    if not tools:
        return Scripted(content=f"You said: {text}")
    words = re.findall(r"[a-z]+", text.lower())
    fn = next((t["function"] for t in tools if any(w in words for w in t["function"]["name"].lower().split("_")
                                                   if len(w) > 3)), tools[0]["function"])
    params = fn.get("parameters") or {}
    place, number = _PLACE.search(text), _NUMBER.search(text)
    args: dict[str, Any] = {}
    for key, prop in (params.get("properties") or {}).items():
        kinds = prop.get("type", "string")
        kind = kinds if isinstance(kinds, str) else next(k for k in kinds if k != "null")
        named = next((e for e in prop.get("enum", []) if str(e).lower() in text.lower()), None)
        if named is not None or "enum" in prop:
            if named is not None or key in params.get("required", []):
                args[key] = prop["enum"][0] if named is None else named
        elif kind == "string" and place:
            args[key] = place.group(1)
        elif kind in ("integer", "number") and number:
            args[key] = int(float(number.group())) if kind == "integer" else float(number.group())
        elif key in params.get("required", []):
            args[key] = _EMPTY.get(kind)
    return Scripted(calls=((fn["name"], json.dumps(args)),))
