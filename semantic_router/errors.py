"""Exceptions the package raises on purpose, so callers can catch them by kind, and the one way
a pydantic validation failure is told in their messages (`describe_errors`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


class SemanticRouterError(Exception):
    """Base class of every error this package raises on purpose.

    `status` is the remote service's HTTP-like status when there was one (None otherwise) and
    `retryable` says whether trying the same call again may succeed (transient faults)."""

    status: int | None = None
    retryable: bool = False

    def __init__(self, *args: object, status: int | None = None, retryable: bool | None = None) -> None:
        super().__init__(*args)
        self.status = status
        if retryable is not None:
            self.retryable = retryable


class EncoderError(SemanticRouterError):
    """An encoder failed or returned something unusable."""


class IndexBackendError(SemanticRouterError):
    """An index backend failed (connection, protocol, or a broken contract)."""


class ConfigError(SemanticRouterError, ValueError):
    """A config, JSON/YAML file or saved router is corrupt, foreign or inconsistent."""


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """A config or saved-router file that does not exist; also a FileNotFoundError, as `open()` raises."""

    def __str__(self) -> str:  # OSError would print "[Errno 2] None: ..." once errno is set
        return str(self.args[0]) if self.args else ""


class RouteNotFoundError(SemanticRouterError, KeyError):
    """A route name that the router does not hold."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class SyncError(SemanticRouterError):
    """Remote state could not be reconciled (lock timeout, incompatible encoder, conflict)."""


class StateConflict(SyncError):
    """A fenced state write lost: the stored version moved on, or this writer's lease expired.

    Nothing was written; re-read the state and apply the change again."""

    retryable = True


class RemoteStateLost(SyncError):
    """The shared index lost data this router relies on (state missing, or records missing
    against the state): routing on it would silently answer wrong."""


class LockTimeout(SyncError, TimeoutError):
    """Another writer held the index lock for longer than the timeout."""


class ArgumentError(SemanticRouterError, ValueError):
    """Function-call arguments that do not fit their schema (missing, unknown or wrongly typed)."""


class LLMRequiredError(SemanticRouterError, ValueError):
    """A dynamic route matched but the router has no LLM to fill its function arguments."""


def describe_errors(exc: ValidationError, prefix: tuple[Any, ...] = ()) -> str:
    """One line per error of a pydantic ValidationError: ``dotted.path: message (got value)``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (*prefix, *err["loc"])) or "(top level)"
        msg = err["msg"]
        if err["type"] not in ("missing", "extra_forbidden") and "input" in err:
            msg += f" (got {type(err['input']).__name__}: {err['input']!r:.60})"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)
