"""A router instance in its own process, driven by JSON lines on stdin (for the sharing tests).

Commands: {"op": "open", "url", "name", "mode", "routes": [...]}, {"op": "route", "texts": [...]},
{"op": "add", "route": {...}}, {"op": "add_slow", "route", "pause"}, {"op": "delete", "name"}, {"op": "refresh"},
{"op": "sync", "mode"},
{"op": "hold_lock"} (takes the index lock and never lets go), {"op": "quit"}.
Each answer is one JSON line: {"ok": true, ...} or {"ok": false, "error": "..."}.

The worker encodes with the test HashEncoder, not the real model: what is shared between processes is
the index and its state, and a child that imports no torch starts in about a second instead of ~10.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_encoder():
    """The encoder of every sharing-test router, in the workers and in the test process alike (the index
    refuses a router whose encoder differs from the one that wrote it)."""
    from tests.hash_encoder import HashEncoder

    return HashEncoder(dims=64)


def main() -> None:
    from semantic_router import Route, RouteLayer
    from semantic_router.index.redis import RedisIndex

    encoder = make_encoder()
    rl = None
    print(json.dumps({"ok": True, "ready": True}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        try:
            out: dict = {}
            if op == "open":
                index = RedisIndex(cmd["url"], name=cmd["name"], lock_lease=cmd.get("lease", 10.0))
                routes = [Route(**r) for r in cmd.get("routes", [])]
                if cmd.get("barrier"):  # start at the same moment as the other process
                    while time.time() < cmd["barrier"]:
                        time.sleep(0.001)
                before = encoder.calls
                rl = RouteLayer(encoder=encoder, routes=routes, index=index, auto_sync=cmd["mode"],
                                lock_timeout=cmd.get("lock_timeout", 30.0),
                                refresh_interval=cmd.get("refresh_interval", 5.0))
                out["encoded"] = encoder.calls - before
            elif op == "route":
                before = encoder.calls
                out["names"] = [c.name for c in rl.route_batch(cmd["texts"])]
                out["encoded"] = encoder.calls - before
            elif op == "add":
                rl.add(Route(**cmd["route"]))
            elif op == "add_slow":  # announces the state write, then pauses before it (to be frozen there)
                real, calls = rl.index.write_state, []

                def slow(state, real=real, calls=calls, cmd=cmd, **kwargs):
                    if not calls:
                        calls.append(1)
                        print(json.dumps({"ok": True, "publishing": True}), flush=True)
                        time.sleep(cmd.get("pause", 0.5))
                    return real(state, **kwargs)

                rl.index.write_state = slow
                try:
                    rl.add(Route(**cmd["route"]))
                finally:
                    del rl.index.write_state
                out["attempts"] = len(calls)
            elif op == "delete":
                rl.delete(cmd["name"])
            elif op == "refresh":
                out["changed"] = rl.refresh()
            elif op == "sync":
                rl.sync(cmd["mode"])
            elif op == "hold_lock":
                lock = rl.index.lock(5.0)
                lock.__enter__()
            elif op == "quit":
                print(json.dumps({"ok": True}), flush=True)
                return
            if rl is not None:
                out["routes"] = sorted(rl.list_route_names())
            print(json.dumps({"ok": True, **out}), flush=True)
        except Exception as exc:  # reported to the test
            print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}), flush=True)


if __name__ == "__main__":
    main()
