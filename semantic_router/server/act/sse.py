"""Server-sent events as chat-completions streams use them: the one parser of `data:` payloads (the forwarder
reads usage from a stream's tail, the response cache assembles a whole stream) and the encoder of replayed events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

__all__ = ["sse_data", "sse_event"]


def sse_data(raw: bytes) -> Iterator[bytes]:
    """The `data:` payloads of an SSE byte stream, in order (multi-line data joined by newlines)."""
    text = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    for block in text.split(b"\n\n"):
        lines = [ln[5:].removeprefix(b" ") for ln in block.split(b"\n") if ln.startswith(b"data:")]
        if lines:
            yield b"\n".join(lines)


def sse_event(payload: dict[str, Any]) -> bytes:
    """One `data:` event holding `payload` as compact JSON."""
    return b"data: " + json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"
