"""A process that builds staged routers over given vectors and exits while their refinements run.

Usage: python -m tests.refine_exit_worker ROUTERS UTTERANCES ROUTES close|leave
Builds ROUTERS routers (the classifier rule with `sync_budget=0`, so each publishes an interim and
refines it in the background), prints "refining N" once N refinements run, then either closes the
routers ("close": prints "closed <seconds> <workers still alive>") or leaves them open ("leave"), and
returns. The last exit hook prints "at exit <workers still alive>": the library's own hook (registered
later, so run earlier) must have stopped them, else the exit may hang inside BLAS.
"""

from __future__ import annotations

import atexit
import sys
import threading
import time

REFINE_THREAD = "semantic-router-refine"


def refining() -> int:
    return sum(t.name == REFINE_THREAD and t.is_alive() for t in threading.enumerate())


atexit.register(lambda: print(f"at exit {refining()}", flush=True))  # before the library's: runs after it


def main(routers: int, utterances: int, n_routes: int, mode: str) -> None:
    import numpy as np

    from benchmarks.changepath import clustered
    from benchmarks.scale import LookupEncoder
    from semantic_router import Route, RouteLayer
    from semantic_router.decision.classifier import ClassifierRule

    per = utterances // n_routes
    vectors = clustered(n_routes, per)
    encoder = LookupEncoder(np.concatenate(list(vectors.values())))
    routes = [Route(name=name, utterances=[f"u{r * per + i}" for i in range(per)]) for r, name in enumerate(vectors)]
    layers = [RouteLayer(encoder=encoder, routes=routes, rule=ClassifierRule(sync_budget=0.0)) for _ in range(routers)]
    print(f"refining {refining()} pending {sum(rl.rule.pending for rl in layers)}", flush=True)
    if mode == "close":
        t0 = time.monotonic()
        for rl in layers:
            rl.close()
        print(f"closed {time.monotonic() - t0:.3f} {refining()}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
