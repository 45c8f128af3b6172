"""Sidecar of the Kubernetes Deployment: hot-reload the gateway when its mounted ConfigMap changes.

The kubelet updates a ConfigMap volume in place (it swaps the `..data` symlink atomically, within about a
minute of `kubectl apply`), but the gateway only re-reads its config file when told: SIGHUP, or `PUT
/admin/config` with an empty body. This loop hashes the mounted file every `--interval` seconds and, when the
content changed, sends that empty PUT with the admin key, so a change reaches every replica without a restart.
A rejected config (400: the gateway keeps its running config and names the bad field) is logged once and not
retried until the file changes again; an unreachable gateway is retried on the next tick. Standard library only.

    python config_watch.py --file /etc/semantic-router/config.yaml --url http://127.0.0.1:8080 \
        --key-env SR_ADMIN_KEY
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

log = logging.getLogger("config_watch")


def digest(path: Path) -> str | None:
    """sha256 of the file's bytes (the gateway's config version is its first 12 hex digits); None if unreadable."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        log.warning("cannot read %s: %s", path, exc.strerror or exc)
        return None


def put_reload(url: str, key: str, timeout: float) -> tuple[int, dict[str, object]]:
    """(status, JSON body) of an empty `PUT /admin/config` (re-read the file); status 0 when unreachable."""
    req = urllib.request.Request(url, data=b"", method="PUT", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the operator's own URL
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (OSError, ValueError) as exc:
        log.info("gateway not reachable at %s: %s", url, exc)
        return 0, {}


class Watcher:
    """Remembers the content the gateway was last asked to load; `tick()` asks again when the file differs."""

    def __init__(self, path: Path, base_url: str, key: str, timeout: float = 120.0) -> None:
        self.path, self.key, self.timeout = path, key, timeout
        self.url = base_url.rstrip("/") + "/admin/config"
        self.seen = digest(path)  # what the gateway read at start-up
        self.reloads = 0

    def tick(self) -> str:
        """One check: 'same', 'reloaded', 'rejected' or 'retry' (gateway unreachable, not ready, or unreadable file)."""
        now = digest(self.path)
        if now is None:
            return "retry"
        if now == self.seen:
            return "same"
        status, body = put_reload(self.url, self.key, self.timeout)
        if status == 200:
            self.seen, self.reloads = now, self.reloads + 1
            log.info("config reloaded: version %s", body.get("version"))
            return "reloaded"
        if status == 400:
            self.seen = now  # the gateway keeps its running config; retry only once the file changes again
            error = body.get("error")
            log.error("config rejected, gateway keeps its running config: %s",
                      error.get("message") if isinstance(error, dict) else body)
            return "rejected"
        if status in (401, 403):
            log.error("the gateway refused the admin key (HTTP %d): set server.admin_key_env and the same key here",
                      status)
        return "retry"

    def run(self, interval: float) -> None:
        while True:
            self.tick()
            time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, required=True, help="the mounted config file")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the gateway's HTTP address")
    parser.add_argument("--key-env", default="SR_ADMIN_KEY", help="environment variable holding the admin key")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between checks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s config_watch %(levelname)s %(message)s")
    key = os.environ.get(args.key_env, "").split(",")[0].strip()
    if not key:
        print(f"error: ${args.key_env} holds no admin key", file=sys.stderr)
        return 2
    if args.interval <= 0:
        print(f"error: --interval must be > 0, got {args.interval}", file=sys.stderr)
        return 2
    Watcher(args.file, args.url, key).run(args.interval)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
