"""The process-wide registry of Qdrant clients: one in-process store per folder (Qdrant locks the
folder, so every index on one path shares a client, closed with its last user or at exit) and one
lock per client serialising lease swaps inside this process."""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any

from qdrant_client import QdrantClient

_REGISTRY = threading.Lock()
_PATH_CLIENTS: dict[str, list[Any]] = {}  # folder -> [client, users]
_GUARDS: dict[int, threading.Lock] = {}


def swap_guard(client: Any) -> threading.Lock:
    """The lock serialising lease swaps made through `client` in this process."""
    with _REGISTRY:
        return _GUARDS.setdefault(id(client), threading.Lock())


def open_path(path: str) -> tuple[str, QdrantClient]:
    """(registry key, the shared client) for the store in folder `path`; counts one more user."""
    key = os.path.realpath(path)
    with _REGISTRY:
        entry = _PATH_CLIENTS.setdefault(key, [None, 0])
        if entry[0] is None:
            entry[0] = QdrantClient(path=path)
        entry[1] += 1
        return key, entry[0]


def release_path(key: str) -> None:
    """One user fewer of the store at `key`; the last one closes it."""
    with _REGISTRY:
        entry = _PATH_CLIENTS.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _PATH_CLIENTS[key]
    entry[0].close()


@atexit.register
def _close_all() -> None:
    """Close in-process stores before interpreter teardown (their __del__ would fail noisily then)."""
    with _REGISTRY:
        clients = [entry[0] for entry in _PATH_CLIENTS.values()]
        _PATH_CLIENTS.clear()
    for client in clients:
        client.close()
