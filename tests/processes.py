"""Waiting for a `semantic-router serve` subprocess the tests started: ready, or a clear failure with its log."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import httpx


def wait_ready_process(proc: subprocess.Popen, url: str, timeout: float, log: Callable[[], str]) -> None:
    """Poll `url`/ready until 200; fail with the tail of `log()` when the process exits or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, f"serve exited: {log()[-3000:]}"
        if time.monotonic() > deadline:
            proc.terminate()  # so that reading its log cannot block on a live pipe
            proc.wait(10)
            raise AssertionError(f"not ready after {timeout} s: {log()[-3000:]}")
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
