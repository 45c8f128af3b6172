"""RedisIndex factory for the contract suite: a real redis-server with RediSearch (or $REDIS_URL)."""

from semantic_router.index.redis import RedisIndex
from tests.redis_server import server_url


def make_index(name: str) -> RedisIndex:
    return RedisIndex(server_url(), name=name)
