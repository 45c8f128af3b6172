"""Learned state in a router's `extra` (the rule's spec, the calibration), checked where it enters.

`extra` reaches a router from a config, a saved file, `rl.extra[...] = ...` and other replicas'
shared state. `check_extra` validates it there (a clear error naming the bad field), so a bad
calibration or rule spec is refused once instead of failing, or answering NaN, on every query of
every replica. Plain data in, no router: configs (`config.py`) and the router both use it.
"""

from __future__ import annotations

from typing import Any

from semantic_router.decision.calibration import Calibration
from semantic_router.decision.rules import make_rule
from semantic_router.route import check_plain


def check_extra(extra: Any, where: str = "extra") -> dict[str, Any]:
    """`extra` if it is plain JSON data (bounded depth) whose `rule` spec makes a rule and whose
    `calibration` is a valid Calibration; else a ValueError naming `where` and the field."""
    if not isinstance(extra, dict):
        raise ValueError(f"{where} must be a mapping, got {type(extra).__name__}: {extra!r:.60}")
    check_plain(extra, where)
    spec = extra.get("rule")
    if spec is not None:
        try:
            make_rule(spec)
        except ValueError as exc:
            raise ValueError(f"{where}.rule: {exc}") from None
    cal = extra.get("calibration")
    if cal is not None:
        try:
            Calibration.from_dict(cal)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}.{exc}" if str(exc).startswith("calibration") else f"{where}: {exc}") from None
    return extra
