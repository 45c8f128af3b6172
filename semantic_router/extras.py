"""Optional dependencies: a missing one raises an ImportError that names the extra to install."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from types import ModuleType

#: extras whose packages include torch: CPU torch goes first (an unpinned torch pulls a multi-GB CUDA build)
_NEEDS_TORCH = {"local"}


def install_hint(*names: str) -> str:
    """The command that installs extras `names`. The distribution is not on a package index, so it installs
    from a clone of the repository (editable), CPU torch first where an extra needs torch."""
    command = f"pip install -e '.[{','.join(names)}]' in a clone of the repository"
    if _NEEDS_TORCH & set(names):
        command = "pip install torch==2.13.0, then " + command
    return command


@contextlib.contextmanager
def extra(name: str, user: str) -> Iterator[None]:
    """Wrap the imports `user` (e.g. "RedisIndex") needs from extra `name`: an ImportError inside
    becomes one that says how to install it (`install_hint`)."""
    try:
        yield
    except ImportError as exc:
        raise ImportError(f"{user} needs the '{name}' extra: {install_hint(name)} "
                          f"({type(exc).__name__}: {exc})") from exc


def require(module: str, name: str, user: str) -> ModuleType:
    """Import `module` for `user`, or raise the ImportError naming extra `name`."""
    with extra(name, user):
        return importlib.import_module(module)
