"""Bulk writes for RedisIndex, streamed on one connection so the client and the server work at once.

redis-py's Pipeline packs every queued command before it sends the first, then waits for all the
replies: the client packs while the server idles, then the server executes while the client
idles. Here commands are built and packed one chunk at a time and sent at once, and replies are
read `window` chunks behind, so the server executes chunk i while the client packs chunk i+1, and
at most `window` chunks of replies wait in the server's output buffer. Commands are packed by
hiredis when it is installed (redis-py's own wrapper around it costs more than the packing), else by
the connection; redis-py's public Connection API sends them and reads the replies, with the connection's
own Retry (the same as the client's): a connection fault re-sends the whole stream, so every command
streamed must be idempotent (HSET, HDEL, DEL and RedisIndex's record-writing script are).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis
from redis.utils import HIREDIS_AVAILABLE

if HIREDIS_AVAILABLE:
    import hiredis

T = TypeVar("T")
Cmd = tuple[Any, ...]

#: default commands per packed send (small commands: about 400 kB of 384-d HSETs, joined in cache)
CHUNK = 250
#: default chunks sent ahead of the replies read
WINDOW = 4


def stream(client: redis.Redis, items: Sequence[T], command: Callable[[T], Cmd], *,
           chunk: int = CHUNK, window: int = WINDOW) -> list[Any]:
    """Send `command(item)` for every item on one pooled connection; the replies in order, an error
    reply as its ResponseError (not raised). Connection errors and timeouts are retried by the
    connection's Retry (re-sending everything), then raised."""
    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        return conn.retry.call_with_retry(lambda: _exchange(conn, items, command, chunk, window),
                                          lambda _error: conn.disconnect())
    except BaseException:
        conn.disconnect()  # replies may be pending: the pool must not hand this connection out as is
        raise
    finally:
        pool.release(conn)


def _exchange(conn: Any, items: Sequence[T], command: Callable[[T], Cmd], chunk: int, window: int) -> list[Any]:
    replies: list[Any] = []
    sizes: list[int] = []  # commands per chunk sent whose replies are not read yet
    for lo in range(0, len(items), chunk):
        part = items[lo:lo + chunk]
        cmds = [command(x) for x in part]
        packed = [b"".join(map(hiredis.pack_command, cmds))] if HIREDIS_AVAILABLE else conn.pack_commands(cmds)
        conn.send_packed_command(packed, check_health=not lo)
        sizes.append(len(part))
        if len(sizes) > window:
            replies += _read(conn, sizes.pop(0))
    for n in sizes:
        replies += _read(conn, n)
    return replies


def _read(conn: Any, n: int) -> list[Any]:
    out: list[Any] = []
    for _ in range(n):
        try:
            out.append(conn.read_response())
        except redis.exceptions.ResponseError as exc:  # an error reply: the caller checks it, the stream goes on
            out.append(exc)
    return out
