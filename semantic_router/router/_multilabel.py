"""Multi-label evidence for route_many: which routes a query ALSO asks about.

A query about two topics ("the weather and the president") sits between them, so its cosine to
the second topic's utterances is diluted by the first. Once the routes already chosen are taken
as explained, what is left of the query (its component orthogonal to their best-matching
utterances) is compared with the other routes: a route whose utterances match that remainder as
well as its threshold asks is chosen too (greedy, like matching pursuit). Pure numpy; no I/O.
"""

from __future__ import annotations

import numpy as np

#: a remainder shorter than this (the chosen routes explain nearly all of the query) proves nothing
MIN_REMAINDER = 0.3


def explain_away(query: np.ndarray, matrix: np.ndarray, starts: np.ndarray, thresholds: np.ndarray,
                 chosen: list[int], allowed: np.ndarray, max_k: int) -> list[tuple[int, float]]:
    """(route, remainder score) of routes passing on what `chosen` leaves unexplained, in order.

    `matrix` holds every utterance vector (unit rows), route r's rows start at `starts[r]`;
    `allowed[r]` is False for routes a filter excludes."""
    if not chosen or not len(starts):
        return []
    ends = np.append(starts[1:], len(matrix))
    basis: list[np.ndarray] = []
    found: list[tuple[int, float]] = []
    taken = set(chosen)
    residual = query.astype(np.float64)

    def explain(route: int) -> None:
        nonlocal residual
        rows = matrix[starts[route]:ends[route]]
        v = rows[int(np.argmax(rows @ residual))].astype(np.float64)
        for b in basis:  # Gram-Schmidt: each explained direction counts once
            v = v - (v @ b) * b
        norm = np.linalg.norm(v)
        if norm > 1e-6:
            basis.append(v / norm)
            residual = residual - (residual @ basis[-1]) * basis[-1]

    for r in chosen:
        explain(r)
    while not max_k or len(chosen) + len(found) < max_k:
        length = np.linalg.norm(residual)
        if length < MIN_REMAINDER:
            break
        scores = np.maximum.reduceat(matrix @ (residual / length), starts).astype(np.float64)
        scores[~allowed] = -np.inf
        scores[list(taken)] = -np.inf
        margin = scores - thresholds
        best = int(np.argmax(margin))
        if not margin[best] >= 0:
            break
        found.append((best, float(scores[best])))
        taken.add(best)
        explain(best)
    return found
