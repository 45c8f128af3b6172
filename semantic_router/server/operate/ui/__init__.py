"""The gateway dashboard (`GET /ui`): routes, decisions, live counters and a try-a-prompt box."""

from __future__ import annotations

from semantic_router.server.operate.ui.router import ui_router

__all__ = ["ui_router"]
