"""Argument checks shared by every part: a bad value is refused with a ValueError that names the
argument and the value, never accepted as something else (`True` is no count, `2.0` no integer)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_int"]


def check_int(value: Any, name: str, minimum: int = 0) -> int:
    """`value` as an int when it is an integer (numpy's too, never a bool) of at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
