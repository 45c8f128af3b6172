"""A lock holder frozen past its lease (SIGSTOP) cannot overwrite the change of the writer that
took the lock meanwhile: its fenced write fails with StateConflict, and its retry keeps both."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from semantic_router.index.pinecone import PineconeIndex
from semantic_router.index.redis import RedisIndex
from tests.backends.pinecone import emulator

pytestmark = pytest.mark.slow  # freezes real writer processes past their leases

ROOT = Path(__file__).resolve().parent.parent
LEASE = 0.6


def redis_pair(redis_url: str) -> tuple[RedisIndex, dict]:
    name = f"frozen{uuid.uuid4().hex[:8]}"
    return RedisIndex(redis_url, name=name, lock_lease=LEASE), {"backend": "redis", "url": redis_url, "name": name}


def pinecone_pair(_redis_url: str) -> tuple[PineconeIndex, dict]:
    name = f"frozen{uuid.uuid4().hex[:8]}"
    url = emulator().url
    return (PineconeIndex(api_key="pclocal", control_host=url, name=name, lock_ttl=LEASE),
            {"backend": "pinecone", "url": url, "name": name})


@pytest.mark.parametrize("pair", [redis_pair, pinecone_pair], ids=["redis", "pinecone"])
def test_frozen_lock_holder_gets_a_conflict_and_its_retry_keeps_both_changes(pair, redis_url):
    index, spec = pair(redis_url)
    index.write_state({"version": 1, "changes": ["seed"]})
    proc = subprocess.Popen([sys.executable, "-m", "tests.fencing_worker", json.dumps({**spec, "lease": LEASE})],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert json.loads(proc.stdout.readline()) == {"ready": 1}
        os.kill(proc.pid, signal.SIGSTOP)  # frozen while holding the lock: its lease runs out
        with index.lock(timeout=10.0) as lease:  # a second writer gets in once the lease expired
            state = index.read_state()
            index.write_state({"version": 2, "changes": [*state["changes"], "second writer"]},
                              expected_version=1, lease=lease)
        os.kill(proc.pid, signal.SIGCONT)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        first = json.loads(proc.stdout.readline())
        assert first["first"] == "conflict" and "lost" in first["error"]
        assert json.loads(proc.stdout.readline()) == {"retry": "ok", "version": 3}
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
    assert index.read_state() == {"version": 3, "changes": ["seed", "second writer", "frozen writer"]}
    index.drop()
