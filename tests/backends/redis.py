"""RedisIndex factory for the contract suite: a real redis-server with RediSearch (or $REDIS_URL)."""

from semantic_router.index.redis import RedisIndex
from tests.redis_server import server_url


def make_index(name: str) -> RedisIndex:
    return RedisIndex(server_url(), name=name)


def steal_lock(index: RedisIndex) -> None:
    """Overwrite the lease with another owner's, as if ours expired and another writer took it."""
    import redis

    redis.Redis.from_url(server_url()).set(index.lock_key, "intruder", px=60_000)
