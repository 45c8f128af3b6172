"""Optional dependencies: a missing one raises an ImportError that names the extra to install."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from types import ModuleType

DISTRIBUTION = "semantic-router-fast"


@contextlib.contextmanager
def extra(name: str, user: str) -> Iterator[None]:
    """Wrap the imports `user` (e.g. "RedisIndex") needs from extra `name`: an ImportError inside
    becomes one that says ``pip install 'semantic-router-fast[name]'``."""
    try:
        yield
    except ImportError as exc:
        raise ImportError(f"{user} needs the '{name}' extra: pip install '{DISTRIBUTION}[{name}]' "
                          f"({type(exc).__name__}: {exc})") from exc


def require(module: str, name: str, user: str) -> ModuleType:
    """Import `module` for `user`, or raise the ImportError naming extra `name`."""
    with extra(name, user):
        return importlib.import_module(module)
