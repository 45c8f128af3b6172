"""File paths named in a gateway config, confined to a root directory.

A config's paths (`signals.routes.path`, `server.api_keys_file`) resolve against the config's folder and must
stay inside its *root*: the config's folder, or a root the operator names at start-up. `..`, absolute paths and
symlinks that lead out of the root are refused, so a config sent through `PUT /admin/config` cannot read an
arbitrary file of the machine. Errors name the field and the path as written, never the file's content.
"""

from __future__ import annotations

import os
from pathlib import Path

from semantic_router.errors import ConfigError

__all__ = ["confine"]


def confine(path: str, base: str | Path | None, root: str | Path | None, field: str) -> Path:
    """`path` resolved against `base` (the current directory when None), symlinks followed; a ConfigError
    naming `field` when it leads outside `root`. Without a root (a config built in code) nothing is refused."""
    p = Path(path)
    if not p.is_absolute():
        p = (Path(base) if base is not None else Path.cwd()) / p
    if root is None:
        return p
    try:
        real = Path(os.path.realpath(p))
        inside = real.is_relative_to(os.path.realpath(root))
    except (OSError, ValueError) as exc:  # e.g. an embedded NUL byte
        raise ConfigError(f"{field}: {path!r} is not a usable path ({type(exc).__name__})") from None
    if not inside:
        raise ConfigError(f"{field}: {path!r} is outside the config root {str(root)!r}; paths in a gateway config "
                          "must stay inside the folder of its config file (or the root named at start-up)")
    return real
