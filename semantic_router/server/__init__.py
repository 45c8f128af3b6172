"""The routing gateway: an OpenAI-compatible service that sends each request to the right model.

Needs the `server` extra (`pip install -e '.[server]'` in a clone of the repository). The library never imports this
package; names are loaded lazily so `semantic_router.server.cli` can be imported without the extra.
"""

from __future__ import annotations

import importlib
from typing import Any

from semantic_router.extras import install_hint

_EXPORTS = {
    "create_app": "semantic_router.server.http",
    "GatewayState": "semantic_router.server.state",
    "GatewayConfig": "semantic_router.server.config",
    "load_config": "semantic_router.server.config",
    "parse_config": "semantic_router.server.config",
    "Runtime": "semantic_router.server.runtime",
    "Classification": "semantic_router.server.decide.classify",
    "register_plugin": "semantic_router.server.act.plugins",
    "PluginContext": "semantic_router.server.act.plugins",
}

__all__ = list(_EXPORTS) + ["require_extra"]


def require_extra() -> None:
    """Raise an ImportError naming the `[server]` extra when its packages are missing."""
    missing = []
    for module in ("fastapi", "uvicorn", "httpx", "prometheus_client"):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ImportError(f"the gateway needs the 'server' extra ({', '.join(missing)} missing): "
                          f"{install_hint('server')}")


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        require_extra()
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'semantic_router.server' has no attribute {name!r}")
