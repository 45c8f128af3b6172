"""aurelio-labs' `semantic_router.schema` names: `RouteChoice`, `Utterance`, `SparseEmbedding`,
`Message`, as thin faces over this library's types (docs/migration.md)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from semantic_router.route import RouteChoice
from semantic_router.vectors import SparseEmbedding, SparseVector

__all__ = ["Message", "RouteChoice", "SparseEmbedding", "SparseVector", "Utterance"]

_OPENAI_ROLES = ("user", "assistant", "system", "tool")


class Utterance(BaseModel):
    """One utterance of a route as aurelio lists them (`index.get_utterances()`, diffs)."""

    route: str
    utterance: Any
    function_schemas: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    diff_tag: str = " "

    @classmethod
    def from_tuple(cls, tuple_obj: tuple) -> Utterance:
        """From `(route, utterance[, function_schemas[, metadata]])`."""
        route, utterance, *rest = tuple_obj
        schemas = rest[0] if rest else None
        metadata = rest[1] if len(rest) > 1 else {}
        return cls(route=route, utterance=utterance, function_schemas=schemas, metadata=metadata or {})

    def to_tuple(self) -> tuple:
        return self.route, self.utterance, self.function_schemas, self.metadata

    def to_str(self, include_metadata: bool = False) -> str:
        """`route: utterance`, with ` | function_schemas | metadata-json` when asked."""
        if include_metadata:
            return f"{self.route}: {self.utterance} | {self.function_schemas} | {json.dumps(self.metadata)}"
        return f"{self.route}: {self.utterance}"

    def to_diff_str(self, include_metadata: bool = False) -> str:
        return f"{self.diff_tag} {self.to_str(include_metadata=include_metadata)}"


class Message(BaseModel):
    """A chat message; `to_openai()` / `to_cohere()` give the providers' shapes."""

    role: str
    content: str

    def to_openai(self) -> dict[str, str]:
        if self.role.lower() not in _OPENAI_ROLES:
            raise ValueError(f"Role must be one of {', '.join(_OPENAI_ROLES)}, got {self.role!r}")
        return {"role": self.role, "content": self.content}

    def to_cohere(self) -> dict[str, str]:
        return {"role": self.role, "message": self.content}

    def to_mistral(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}

    def __str__(self) -> str:
        return f"{self.role}: {self.content}"
