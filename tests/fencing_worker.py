"""A writer in its own process for the frozen-writer tests: it takes the index lock, reads the
state, reports ready, waits for a line on stdin (the test freezes it meanwhile), then makes a
fenced write; on StateConflict it retries once under a fresh lock. Answers are JSON lines.

Usage: python -m tests.fencing_worker '{"backend": "redis", "url": ..., "name": ..., "lease": 0.5}'
"""

from __future__ import annotations

import json
import sys


def open_index(spec: dict):
    if spec["backend"] == "redis":
        from semantic_router.index.redis import RedisIndex

        return RedisIndex(spec["url"], name=spec["name"], lock_lease=spec["lease"])
    from semantic_router.index.pinecone import PineconeIndex

    return PineconeIndex(api_key="pclocal", control_host=spec["url"], name=spec["name"], lock_ttl=spec["lease"])


def change(index, lease, expected: int, changes: list) -> None:
    index.write_state({"version": expected + 1, "changes": [*changes, "frozen writer"]},
                      expected_version=expected, lease=lease)


def main() -> None:
    from semantic_router.errors import StateConflict

    index = open_index(json.loads(sys.argv[1]))
    with index.lock(timeout=10.0) as lease:
        state = index.read_state()
        print(json.dumps({"ready": state["version"]}), flush=True)
        sys.stdin.readline()  # frozen and resumed by the test meanwhile
        try:
            change(index, lease, state["version"], state["changes"])
            print(json.dumps({"first": "ok"}), flush=True)
            return
        except StateConflict as exc:
            print(json.dumps({"first": "conflict", "error": str(exc)}), flush=True)
    with index.lock(timeout=10.0) as lease:  # the retry: re-read, re-apply
        state = index.read_state()
        change(index, lease, state["version"], state["changes"])
        print(json.dumps({"retry": "ok", "version": state["version"] + 1}), flush=True)


if __name__ == "__main__":
    main()
