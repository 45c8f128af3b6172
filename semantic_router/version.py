"""The installed package's version, read from its metadata (so it is defined in pyproject.toml only)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "semantic-router-fast"
#: reported when the code runs from a source tree that was never installed
UNKNOWN = "0+unknown"


def package_version(distribution: str = DISTRIBUTION) -> str:
    """`distribution`'s installed version, or `UNKNOWN` when it is not installed."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return UNKNOWN
