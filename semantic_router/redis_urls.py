"""Redis URLs as safe to log or save: shared by the Redis index and the gateway's Redis users (cluster state,
response cache), so none of them reaches into another's module for it."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["strip_password"]


def strip_password(url: str) -> str:
    """The URL without its password (userinfo or ``?password=``), safe to log or save."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k.lower() != "password"])
    return urlunsplit(parts._replace(netloc=netloc, query=query))
