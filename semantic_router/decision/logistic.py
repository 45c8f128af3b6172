"""Multinomial logistic regression for the classifier head: the exact solve, and a candidate-softmax one for large route sets.

The exact solve (`train_logistic`) costs two (N x d x R) products per L-BFGS evaluation: about 77
GFLOP at 100,000 utterances / 1,000 routes, minutes on one BLAS thread. Most of those products are
spent on routes no utterance is ever confused with. `train_candidate_logistic` minimises the same
L2-penalised log-loss with each route's utterances scored against that route's *candidates* only:
itself and its `k - 1` nearest routes by centroid cosine (`candidates`), which carry nearly all of
the softmax's mass. An evaluation then costs (N x d x k): 30x less at k = 32 of 1,000 routes.

It can also train only some columns (`free`): the other columns stay as in `start` and only the rows
of the free routes enter the loss. After a change, the routes whose utterances or candidate sets
changed are retrained that way from the previous head (see `changed_columns`), a block-coordinate
step that costs a few hundredths of a full training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from semantic_router.decision.rules import RefineCancelled, normalise
from semantic_router.vectors import Floats, Ints

#: routes each route's utterances are scored against in the candidate softmax (itself included)
CANDIDATES = 32
#: padded rows per block of routes evaluated together (bounds the temporaries: rows x k x 4 bytes)
BLOCK_ROWS = 16_384


def train_logistic(x: Floats, codes: Ints, n_classes: int, C: float = 10.0, max_iter: int = 300,
                   tol: float = 1e-4, start: tuple[Floats, Floats] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> tuple[Floats, Floats]:
    """Multinomial logistic regression, L2 penalty 1/(2C)|W|^2, L-BFGS: (W (d, K), b (K,)).

    Starts from zero, or from `start` = (W0, b0) (a warm start: the previous solution of a
    nearby problem). Deterministic for the same inputs (fixed start, fixed row order, no randomness).
    `should_stop` is asked before each of an evaluation's two (N x d x K) products; True raises
    `RefineCancelled`, so a closing router's refinement ends within one such product.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    k = n_classes
    rows = np.arange(n)
    codes = np.asarray(codes, dtype=np.int64)
    inv_c = 1.0 / C

    def loss_grad(theta: Floats) -> tuple[float, Floats]:
        _check(should_stop)
        w = theta[: d * k].reshape(d, k)
        z = x @ w.astype(np.float32) + theta[d * k:].astype(np.float32)
        z -= z.max(axis=1, keepdims=True)
        true = z[rows, codes].astype(np.float64)
        np.exp(z, out=z)
        total = z.sum(axis=1, keepdims=True)
        g = z / total  # probabilities
        loss = float((np.log(total[:, 0].astype(np.float64)) - true).sum()) + 0.5 * inv_c * float((w * w).sum())
        g[rows, codes] -= 1.0
        _check(should_stop)  # also between the evaluation's two big products: a stop waits for at most one of them
        grad_w = (x.T @ g).astype(np.float64) + inv_c * w
        return loss, np.concatenate([grad_w.ravel(), g.sum(axis=0, dtype=np.float64)])

    if start is None:
        theta0 = np.zeros(d * k + k)
    else:
        w0, b0 = start
        if w0.shape != (d, k) or b0.shape != (k,):
            raise ValueError(f"warm start must be W {(d, k)} and b {(k,)}, got {w0.shape} and {b0.shape}")
        theta0 = np.concatenate([np.asarray(w0, np.float64).ravel(), np.asarray(b0, np.float64)])
    theta = _minimise(loss_grad, theta0, max_iter, tol)
    return theta[: d * k].reshape(d, k).astype(np.float32), theta[d * k:].astype(np.float32)


def candidates(sums: Floats, k: int = CANDIDATES) -> Ints:
    """(R, min(k, R)) route columns: each route itself first, then its nearest routes by centroid cosine.

    From the routes' row sums (raw, not centred: a change elsewhere never reorders a route's
    neighbours); ties go to the lower column, so the sets are deterministic."""
    r = sums.shape[0]
    k = min(k, r)
    cent = normalise(np.asarray(sums, dtype=np.float64))
    sim = cent @ cent.T
    np.fill_diagonal(sim, np.inf)
    order = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    return np.ascontiguousarray(order, dtype=np.int64)


def changed_columns(names: Sequence[str], cands: Ints, before_names: Sequence[str], before_cands: Ints | None,
                    same_rows: Sequence[bool]) -> Ints:
    """Columns to retrain after a change: routes that are new or whose utterances changed (`same_rows[r]`
    False), and routes whose candidate set changed (a new neighbour, or one removed)."""
    if before_cands is None:
        return np.arange(len(names))
    where = {n: i for i, n in enumerate(before_names)}
    out = []
    for r, name in enumerate(names):
        old = where.get(name)
        if old is None or not same_rows[r]:
            out.append(r)
            continue
        now = [names[c] for c in cands[r]]
        then = [before_names[c] for c in before_cands[old]] if old < len(before_cands) else []
        if now != then:
            out.append(r)
    return np.asarray(out, dtype=np.int64)


def train_candidate_logistic(parts: Sequence[Floats], cands: Ints, C: float = 10.0, max_iter: int = 300,
                             tol: float = 1e-4, start: tuple[Floats, Floats] | None = None,
                             free: Ints | None = None, should_stop: Callable[[], bool] | None = None
                             ) -> tuple[Floats, Floats]:
    """Logistic head (W (d, R), b (R,)) where route r's rows `parts[r]` are scored against columns `cands[r]`.

    `cands[r, 0]` must be r. L2 penalty 1/(2C)|W|^2, L-BFGS from zero or `start`. With `free`
    (column indices; needs `start`), only those columns are trained, on the rows of those routes; the
    others keep `start`'s values. Deterministic; `should_stop` is polled before each block's products."""
    n_routes = len(parts)
    d = next((p.shape[1] for p in parts if p.ndim == 2), 0)
    cands = np.asarray(cands, dtype=np.int64)
    if cands.shape[0] != n_routes or not (cands[:, 0] == np.arange(n_routes)).all():
        raise ValueError(f"cands must be (R, k) with route r first in row r, got shape {cands.shape}")
    if start is None:
        wt0, b0 = np.zeros((n_routes, d)), np.zeros(n_routes)
    else:
        if start[0].shape != (d, n_routes) or start[1].shape != (n_routes,):
            raise ValueError(f"warm start must be W {(d, n_routes)} and b {(n_routes,)}, got "
                             f"{start[0].shape} and {start[1].shape}")
        wt0, b0 = np.asarray(start[0], np.float64).T.copy(), np.asarray(start[1], np.float64).copy()
    if free is None:
        free = np.arange(n_routes)
    elif start is None:
        raise ValueError("training only some columns (free) needs a start for the others")
    free = np.asarray(free, dtype=np.int64)
    if not len(free):
        return wt0.T.astype(np.float32), b0.astype(np.float32)
    pos = np.full(n_routes, -1)
    pos[free] = np.arange(len(free))
    blocks = [_slots(ids, x, mask, cands, pos, wt0, b0) for ids, x, mask in _blocks(parts, active_routes(cands, free))]
    # (free columns) x (free slots): sums each slot's gradient into its column (padding slots weigh 0)
    from scipy.sparse import csr_matrix

    slot_cols = np.concatenate([blk.cols.ravel() for blk in blocks])
    weight = np.concatenate([blk.valid.ravel() for blk in blocks]).astype(np.float64)
    scatter = csr_matrix((weight, (pos[slot_cols], np.arange(len(slot_cols)))), shape=(len(free), len(slot_cols)))
    inv_c = 1.0 / C
    nf = len(free)

    def loss_grad(theta: Floats) -> tuple[float, Floats]:
        dwt = np.zeros((n_routes, d), np.float32)  # change from `start`: zero outside the free columns
        dwt[free] = theta[: nf * d].reshape(nf, d) - wt0[free]
        db = np.zeros(n_routes, np.float32)
        db[free] = theta[nf * d:] - b0[free]
        loss, grads, gbias = 0.0, [], []
        for blk in blocks:
            _check(should_stop)
            x = blk.x
            delta = np.matmul(x, dwt[blk.cols].transpose(0, 2, 1))  # (B, n, m): only the free slots move
            delta += db[blk.cols][:, None, :]
            z = blk.z0.copy()
            np.put_along_axis(z, blk.at, np.take_along_axis(z, blk.at, axis=2) + delta, axis=2)
            z -= z.max(axis=2, keepdims=True)
            true = z[:, :, 0].astype(np.float64)
            np.exp(z, out=z)
            total = z.sum(axis=2, keepdims=True)
            z /= total
            loss += float(((np.log(total[:, :, 0].astype(np.float64)) - true) * blk.mask).sum())
            z[:, :, 0] -= 1.0
            z *= blk.mask[:, :, None]
            g = np.take_along_axis(z, blk.at, axis=2)  # (B, n, m)
            grads.append(np.matmul(g.transpose(0, 2, 1), x).reshape(-1, d))
            gbias.append(g.sum(axis=1, dtype=np.float64).ravel())
        wf = theta[: nf * d]
        loss += 0.5 * inv_c * float(wf @ wf)
        grad_w = scatter @ np.concatenate(grads).astype(np.float64) + inv_c * wf.reshape(nf, d)
        grad_b = scatter @ np.concatenate(gbias)
        return loss, np.concatenate([grad_w.ravel(), grad_b])

    theta = _minimise(loss_grad, np.concatenate([wt0[free].ravel(), b0[free]]), max_iter, tol)
    wt0[free] = theta[: nf * d].reshape(nf, d)
    b0[free] = theta[nf * d:]
    return wt0.T.astype(np.float32), b0.astype(np.float32)


def active_routes(cands: Ints, free: Ints) -> Ints:
    """Routes whose rows enter the loss when only columns `free` train: those with a free candidate."""
    is_free = np.zeros(len(cands), dtype=bool)
    is_free[free] = True
    return np.flatnonzero(is_free[cands].any(axis=1))


@dataclass(frozen=True)
class Slots:
    """A block's fixed part: its rows, the logits at `start`, and which candidate slots hold free columns.

    `at` (B, 1, m) indexes each route's free slots, padded by repeating its first one; `cols` (B, m) are
    their columns and `valid` (B, m) is 0 on the padding (the repeats move with the slot they copy)."""

    x: Floats
    mask: Floats
    z0: Floats
    at: Ints
    cols: Ints
    valid: Floats


def _slots(ids: Ints, x: Floats, mask: Floats, cands: Ints, pos: Ints, wt0: Floats, b0: Floats) -> Slots:
    cols = cands[ids]
    z0 = np.matmul(x, wt0[cols].astype(np.float32).transpose(0, 2, 1)) + b0[cols].astype(np.float32)[:, None, :]
    is_free = pos[cols] >= 0
    m = max(int(is_free.sum(axis=1).max()), 1)
    at = np.zeros((len(ids), m), np.int64)
    valid = np.zeros((len(ids), m), np.float32)
    for i, row in enumerate(is_free):
        where = np.flatnonzero(row)
        at[i] = np.concatenate([where, np.full(m - len(where), where[0])])
        valid[i, : len(where)] = 1.0
    return Slots(x, mask, z0.astype(np.float32), at[:, None, :], np.take_along_axis(cols, at, axis=1), valid)


def _blocks(parts: Sequence[Floats], routes: Ints) -> list[tuple[Ints, Floats, Floats]]:
    """`routes` in blocks of similar row counts: (route ids (B,), rows padded with zeros (B, n, d), mask (B, n))."""
    counts = np.array([len(parts[r]) for r in routes])
    order = routes[np.argsort(counts, kind="stable")]
    blocks, i = [], 0
    while i < len(order):
        j, low = i + 1, len(parts[order[i]])
        while j < len(order):  # grow while the padding stays under 25% and the block under BLOCK_ROWS
            top = len(parts[order[j]])
            if top > max(1.25 * low, low + 4) or (j + 1 - i) * top > BLOCK_ROWS:
                break
            j += 1
        ids = order[i:j]
        n = max(len(parts[r]) for r in ids)
        x = np.zeros((len(ids), n, parts[ids[0]].shape[1]), np.float32)
        mask = np.zeros((len(ids), n), np.float32)
        for slot, r in enumerate(ids):
            x[slot, : len(parts[r])] = parts[r]
            mask[slot, : len(parts[r])] = 1.0
        blocks.append((ids, x, mask))
        i = j
    return blocks


def _check(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise RefineCancelled("logistic training stopped on request")


def _minimise(loss_grad: Callable[[Floats], tuple[float, Floats]], theta0: Floats, max_iter: int, tol: float,
              memory: int = 10) -> Floats:
    """L-BFGS (two-loop recursion, backtracking Armijo line search) until the relative decrease of the
    loss falls to `tol` (scipy's `ftol`), the gradient's largest entry to 1e-5, or `max_iter` iterations.

    Not scipy's L-BFGS-B: at 10^5-10^6 parameters (a head of 1,000 routes) its own work cost 0.45-0.6 s per
    evaluation on this machine (scipy 1.17, measured), more than the candidate softmax's products; these
    vector updates cost milliseconds. Deterministic: no randomness, a fixed order of operations."""
    x: Floats = np.array(theta0, dtype=np.float64)
    f, g = loss_grad(x)
    pairs: list[tuple[Floats, Floats, float]] = []  # (s, y, 1 / y.s), oldest first
    for _ in range(max_iter):
        if float(np.abs(g).max(initial=0.0)) <= 1e-5:
            break
        d = -g
        alphas = []
        for s, y, rho in reversed(pairs):
            a = rho * float(s @ d)
            d -= a * y
            alphas.append(a)
        if pairs:
            s, y, rho = pairs[-1]
            d *= 1.0 / (rho * float(y @ y))  # the usual initial Hessian scale s.y / y.y
        for (s, y, rho), a in zip(pairs, reversed(alphas)):
            d += (a - rho * float(y @ d)) * s
        slope = float(g @ d)
        if not slope < 0:  # not a descent direction (rounding): restart from the gradient
            pairs.clear()
            d, slope = -g, -float(g @ g)
        step = 1.0 if pairs else min(1.0, 1.0 / max(float(np.linalg.norm(g)), 1e-12))
        for _ in range(40):
            x_new = x + step * d
            f_new, g_new = loss_grad(x_new)
            if f_new <= f + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break  # no decrease found: as good as it gets at this precision
        s, y = x_new - x, g_new - g
        sy = float(s @ y)
        if sy > 1e-10 * float(y @ y):
            pairs.append((s, y, 1.0 / sy))
            if len(pairs) > memory:
                pairs.pop(0)
        decrease = f - f_new
        x, f, g = x_new, f_new, g_new
        if decrease <= tol * max(abs(f), abs(f + decrease), 1.0):
            break
    return x
