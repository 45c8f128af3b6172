"""Index factories for the contract suite: one module per backend, each with `make_index(name)`.

`BACKENDS` implement both interfaces (records and search, and `Coordinator`); `RECORDS_ONLY` implement
records and search alone (the Index contract runs on both lists, the coordination contract on the first).

A backend module may raise `pytest.skip` only when its service is explicitly optional; in CI
every backend here runs against a real server or an in-process/emulated service.
"""

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

BACKENDS = ["local", "redis", "qdrant", "pinecone"]
RECORDS_ONLY = ["records_only"]
#: backends whose runs belong to the full suite only (`-m "not slow"` leaves them out): the Pinecone
#: emulator answers slowest, about a second per test
SLOW_BACKENDS = {"pinecone"}


def backend_params(names: list[str]) -> list[Any]:
    """`names` as fixture params, the slow backends marked `slow`."""
    import pytest

    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_BACKENDS else n for n in names]


@contextlib.contextmanager
def dropped_after(make: Callable[..., Any], prefix: str = "t") -> Iterator[Callable[..., Any]]:
    """A factory of indexes (a fresh random name unless one is given) that drops every index it made."""
    made: list[Any] = []

    def factory(name: str | None = None, **kw: Any) -> Any:
        idx = make(name or f"{prefix}{uuid.uuid4().hex[:10]}", **kw)
        made.append(idx)
        return idx

    try:
        yield factory
    finally:
        for idx in made:
            with contextlib.suppress(Exception):
                idx.drop()
