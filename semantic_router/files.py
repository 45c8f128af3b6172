"""Plain-data files as the package reads and writes them: JSON or YAML read safely (no aliases, one-line
errors naming the file), YAML written so it reads back the same, every write atomic. Public so that layers
above the library (compat/, the gateway) save and load their own files the same way."""

from __future__ import annotations

from semantic_router._files import atomic_write
from semantic_router.config import dump_yaml, read_text_data

__all__ = ["atomic_write", "dump_yaml", "read_text_data"]
