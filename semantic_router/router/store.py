"""RouteStore: owns the current Snapshot and the one commit path every change goes through.

A change runs under the writers' lock: take the latest snapshot (for a shared index: the latest
published state), let the change edit a Draft, encode only utterances no snapshot has a vector
for, train the decision rule from vectors already in hand and build the new Snapshot off to the
side while writing the new records (on a remote index the two overlap), publish it (fenced state
write when shared), swap the reference, and only then delete records nothing references any more.
A failure before the swap leaves the router as it was (records this change wrote are taken back);
queries never wait for any of it.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from semantic_router.decision.rules import Rule
from semantic_router.decision.table import RouteTable
from semantic_router.errors import (
    RemoteStateLost,
    RouteNotFoundError,
    StateConflict,
    SyncError,
)
from semantic_router.index.base import Index, Record
from semantic_router.index.coordination import LeaseToken
from semantic_router.router.refiner import Refiner
from semantic_router.router.snapshot import (
    ID_SCHEME,
    Draft,
    Snapshot,
    ids_function,
    record_codes,
    route_ids,
    signature,
    unit_rows,
)

if TYPE_CHECKING:
    from semantic_router.router.sync import Syncer

log = logging.getLogger(__name__)
T = TypeVar("T")

CONFLICT_RETRIES = 5


@dataclass(frozen=True)
class Utterance:
    """One stored utterance of a route."""

    id: str
    route: str
    utterance: str


@dataclass(frozen=True)
class Plan:
    """A change worked out before its snapshot is built: per-route ids and vectors, records to write
    (fresh ones first, then hybrid rewrites), ids to collect after publishing, originals to restore."""

    ids: dict[str, dict[str, str]]
    vectors: dict[str, np.ndarray | None]
    sparse: Any
    records: list[Record]
    doomed: list[str]
    originals: list[Record]

    def fresh_ids(self) -> list[str]:
        """Ids of the records this change adds (a failed change deletes them again)."""
        return [r.id for r in self.records[: len(self.records) - len(self.originals)]]


class RouteStore:
    """The route set of one router: `snapshot` for readers, `commit` for writers."""

    def __init__(self, encoder: Any, index: Index, snapshot: Snapshot, syncer: Syncer | None = None) -> None:
        self.encoder = encoder
        self.index = index
        self.syncer = syncer
        self._current = snapshot
        self._mutex = threading.RLock()  # one writer at a time within this process
        self.refiner = Refiner(lambda: self._current, self._install_refined)

    @property
    def snapshot(self) -> Snapshot:
        """The one reference queries read; replaced whole, never edited."""
        return self._current

    @snapshot.setter
    def snapshot(self, new: Snapshot) -> None:
        self._current = new
        self.refiner.submit(new)  # a staged rule is finished in the background

    def _install_refined(self, snap: Snapshot, rule: Rule) -> bool:
        """Publish the refined rule of `snap` if `snap` is still current (a newer change trains its own)."""
        with self._mutex:
            if self._current is not snap:
                return False
            self._current = snap.evolve(rule=rule)
            return True

    def use_encoder(self, encoder: Any) -> None:
        """Encode with `encoder` from the next change on (the caller checked it is the same model)."""
        with self._mutex:
            self.encoder = encoder
            if self.syncer is not None:
                self.syncer.encoder = encoder

    def final_rule(self) -> Rule:
        """The current rule once any staged training has finished (blocks meanwhile)."""
        return self.refiner.wait()

    def close(self) -> None:
        """Stop the background refinement in progress (within one L-BFGS evaluation; the interim keeps
        serving) and start no other."""
        self.refiner.close()

    # -- the commit path ---------------------------------------------------------------------------
    def commit(self, change: Callable[[Draft], T], *, present: set[str] | None = None, prune: bool = False,
               publish: bool = True) -> T:
        """Apply `change` to the latest route set and publish the result; returns what `change` returns.

        `present`: ids the index holds (None: exactly the current snapshot's records); with `prune`,
        every other present record is removed. `publish=False` adopts without writing shared state."""
        with self._mutex:
            for attempt in range(CONFLICT_RETRIES):
                try:
                    return self._attempt(change, present, prune, publish)
                except StateConflict as exc:
                    log.info("shared state moved on during a change (attempt %d): %s", attempt + 1, exc)
                    last = exc
            raise SyncError(f"gave up after {CONFLICT_RETRIES} conflicting writes to the shared state: {last}") \
                from last

    def _attempt(self, change: Callable[[Draft], T], present: set[str] | None, prune: bool, publish: bool) -> T:
        with self._writing() as lease:
            base, expected, present = self._latest(present)
            draft = base.draft()
            draft.shared = bool(expected)
            result = change(draft)
            scheme = base.id_scheme if self.syncer is None else max(base.id_scheme, ID_SCHEME)
            if scheme != base.id_scheme:  # re-key records written under the legacy id scheme
                present = set(self.index.ids()) if present is None else present
            plan = self.plan(base, draft, present, prune, scheme)
            written = plan.fresh_ids()
            new = self._write_while(plan, written, lambda: self._snapshot(base, draft, plan, scheme))
            try:
                if self.syncer is not None and publish:
                    new = self.syncer.publish(new, expected, lease)
                elif self.syncer is not None and expected is not None:
                    new = new.evolve(remote_version=expected)
            except BaseException:
                self._take_back(written)
                raise
            if plan.doomed:  # until they are collected, queries of `new` may meet the old records
                self._fence(new, True)
            self.snapshot = new
            if self._collect(plan.doomed):
                self._fence(new, False)
            return result

    @contextlib.contextmanager
    def _writing(self) -> Iterator[LeaseToken | None]:
        if self.syncer is None:
            yield None
        else:
            with self.syncer.writing() as lease:
                yield lease

    def _latest(self, present: set[str] | None) -> tuple[Snapshot, int | None, set[str] | None]:
        """The snapshot to change (adopting a newer shared state first) and the state version read."""
        base = self.snapshot
        if self.syncer is None:
            return base, None, present
        state = self.syncer.read()
        if state is None:
            if base.remote_version > 0:
                return self._lost(base, "the shared state is gone", 0, present)
            return base, 0, present
        if self.syncer.is_other(state, base) or base.remote_lost:  # a newer state, or one republished after a loss
            base = self.adopted(state)
        if self.syncer.records_missing(state, base):
            return self._lost(base, "records listed in the shared state are missing (deleted, or too corrupt to be "
                              "indexed)", state.version, present)
        return base, state.version, present

    def _lost(self, base: Snapshot, why: str, version: int, present: set[str] | None):
        if not self.syncer.local_truth:
            self.snapshot = base.evolve(remote_lost=why)
            raise RemoteStateLost(
                f"{why} in index {self.index.describe()}: the shared index lost data (restarted without "
                "persistence?). Re-create it from a saved router, or open with auto_sync='local' to rewrite it "
                "from this router's copy")
        log.warning("%s: rewriting the shared index from this router's copy (auto_sync=%r)", why, self.syncer.mode)
        return base, version, set(self.index.ids()) if present is None else present

    def _write_while(self, plan: Plan, written: list[str], make: Callable[[], Snapshot]) -> Snapshot:
        """Write the plan's records while `make` builds the snapshot: for a remote index in a worker
        thread, so the rule's training (BLAS) and the index server's work overlap; an in-process index
        only after (its writes would compete with the training, and with queries, for the GIL).
        Either failing fails the change, with what it wrote taken back."""
        if not plan.records:
            return make()
        self._fence(self._current, True)  # queries of the current snapshot may meet the new records from now on
        if not self.index.is_remote:
            new = make()
            self._write(plan.records, written, plan.originals)
            return new
        with ThreadPoolExecutor(1, thread_name_prefix="route-store-write") as pool:
            writing = pool.submit(self._write, plan.records, written, plan.originals)
            try:
                new = make()
            except BaseException:
                with contextlib.suppress(BaseException):
                    writing.result()
                self._take_back(written)
                raise
            writing.result()
        return new

    def plan(self, base: Snapshot, draft: Draft, present: set[str] | None = None, prune: bool = False,
             scheme: int | None = None) -> Plan:
        """What publishing `draft` takes: every route's ids and vectors, the records to write, the ids
        to delete once it is published, and the stored records a failed write must restore (hybrid rewrites).

        A vector comes from the base snapshot (by utterance), else from the index (records it holds:
        adopted, synced or re-keyed routes), else from the encoder (new utterances only). Work is
        per route (ids hashed in one batch, a fully encoded route's matrix is one slice, not a stack)."""
        scheme = base.id_scheme if scheme is None else scheme
        make_ids = ids_function(scheme)
        same_ids = scheme == base.id_scheme
        ids: dict[str, dict[str, str]] = {}
        vectors: dict[str, np.ndarray | None] = {}
        known: dict[str, dict[str, np.ndarray]] = {}  # route -> utterance -> the base snapshot's vector
        untouched: set[str] = set()
        for name, route in draft.routes.items():
            old = base.vectors.get(name)
            if same_ids and base.routes.get(name) is route:  # untouched route: nothing to recompute
                untouched.add(name)
                ids[name] = base.ids[name]
                if old is not None:
                    vectors[name] = old  # the very same array (rules reuse its work)
                    continue
            else:
                ids[name] = route_ids(name, route.utterances, base.ids.get(name, {}) if same_ids else {}, make_ids)
            if old is not None and same_ids and list(base.ids[name]) == route.utterances:
                vectors[name] = old  # same utterances (a threshold or metadata change): the same array
            elif old is not None:
                known[name] = dict(zip(base.ids[name], old))
        if present is None:  # incremental: only changed routes can write or drop records
            held_sets = {n: set(base.ids.get(n, {}).values()) for n in draft.routes if n not in untouched}

            def is_held(n: str, i: str) -> bool:
                return n in untouched or i in held_sets[n]

            write = [(n, u, i) for n in held_sets for u, i in ids[n].items() if i not in held_sets[n]]
            doomed = [i for n, m in base.ids.items() if n not in draft.routes for i in m.values()]
            doomed += [i for n in held_sets for i in held_sets[n] - set(ids[n].values())]
        else:
            def is_held(n: str, i: str) -> bool:
                return i in present

            desired = {i for m in ids.values() for i in m.values()}
            write = [(n, u, i) for n, m in ids.items() for u, i in m.items() if i not in present]
            doomed = list((present - desired) if prune else (base.known_ids - desired))
        doomed.sort()
        need_all = not draft.rule.uses_index
        needed = {n: [u for u, i in ids[n].items() if u not in known.get(n, ()) and (need_all or not is_held(n, i))]
                  for n in ids if n not in vectors}
        # the index is read for routes it may hold records of (an empty `present`: it holds none)
        read_index = {n for n, us in needed.items() if us and (present or any(is_held(n, ids[n][u]) for u in us))}
        found, blocks = self._find_vectors(needed, read_index)
        for name, rows in known.items():
            found.setdefault(name, {}).update(rows)
        for name in draft.routes:
            if name not in vectors:
                vectors[name] = self._matrix(list(ids[name]), found.get(name, {}), blocks.get(name))
        records = self._records(write, found, vectors, ids)
        sparse, rewritten, originals = self._sparse(base, draft, records, bool(write or doomed))
        return Plan(ids, vectors, sparse, records + rewritten, doomed, originals)

    def _find_vectors(self, needed: dict[str, list[str]], read_index: set[str]
                      ) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
        """Vectors of the `needed` utterances per route: read from the index for `read_index` routes,
        else encoded (all in one call). Also each route all of whose utterances were encoded, in
        order: its rows as one slice of the encoded matrix (no per-row stacking)."""
        found: dict[str, dict[str, np.ndarray]] = {}
        for name in sorted(read_index):
            for r in self.index.records(route=name):
                found.setdefault(r.route, {})[r.utterance] = r.dense
        lacking = {n: [u for u in us if u not in found.get(n, ())] for n, us in needed.items()}
        lacking = {n: us for n, us in lacking.items() if us}
        blocks: dict[str, np.ndarray] = {}
        if lacking:
            dense = np.asarray(self.encoder.encode([u for us in lacking.values() for u in us]), dtype=np.float32)
            start = 0
            for name, us in lacking.items():
                block = dense[start:start + len(us)]
                start += len(us)
                found.setdefault(name, {}).update(zip(us, block))
                blocks[name] = block
        return found, blocks

    @staticmethod
    def _matrix(utterances: list[str], found: dict[str, np.ndarray], block: np.ndarray | None) -> np.ndarray | None:
        """A route's read-only unit rows in utterance order, or None when some vector was not read."""
        if block is not None and len(block) == len(utterances):  # every row encoded, in this order
            return unit_rows(block)
        rows = [found.get(u) for u in utterances]
        return None if any(r is None for r in rows) else unit_rows(np.stack(rows))

    @staticmethod
    def _records(write: list[tuple[str, str, str]], found: dict[str, dict[str, np.ndarray]],
                 vectors: dict[str, np.ndarray | None], ids: dict[str, dict[str, str]]) -> list[Record]:
        """The records to write: each with the vector read or encoded for it, else its snapshot row."""
        position: dict[str, dict[str, int]] = {}
        records = []
        for n, u, i in write:
            vector = found.get(n, {}).get(u)
            if vector is None:
                if n not in position:
                    position[n] = {v: j for j, v in enumerate(ids[n])}
                vector = vectors[n][position[n][u]]
            records.append(Record(n, u, vector, id=i))
        return records

    def _sparse(self, base: Snapshot, draft: Draft, records: list[Record], changed: bool):
        """Hybrid routers: a freshly fitted copy of the sparse encoder; when utterances changed,
        every stored document vector is rewritten (corpus statistics moved)."""
        if base.sparse_encoder is None:
            return None, [], []
        if not changed and base.sparse_encoder.is_fitted:
            return base.sparse_encoder, [], []
        sparse = copy.deepcopy(base.sparse_encoder)
        utterances = [u for r in draft.routes.values() for u in r.utterances]
        if utterances:
            sparse.fit(utterances)
        if not changed:
            return sparse, [], []
        added = {r.id for r in records}
        originals = [r for r in self.index.records() if r.id not in added and r.route in draft.routes]
        rewritten = [copy.copy(r) for r in originals]
        targets = records + rewritten
        for r, vec in zip(targets, sparse.encode_documents([r.utterance for r in targets])):
            r.sparse = vec
        return sparse, rewritten, originals

    def _snapshot(self, base: Snapshot, draft: Draft, plan: Plan, scheme: int) -> Snapshot:
        """The new snapshot: the plan's routes and vectors, the rule trained on them, the route table."""
        ids, vectors, sparse = plan.ids, plan.vectors, plan.sparse
        routes = list(draft.routes.values())
        names = [r.name for r in routes]
        rule = draft.rule
        same_columns = names == list(base.table.names) and all(vectors[n] is base.vectors.get(n) for n in names)
        if names and not rule.uses_index and not (same_columns and (rule is base.rule or draft.rule_trained)):
            saved = draft.rule_state
            if saved and saved.get("name") == rule.name and saved.get("signature") == signature(names, ids):
                rule = Rule.from_state(saved)  # learned state from a saved router: no retraining
            else:
                rule = rule.train({n: vectors[n] for n in names}, names, base.rule)
        by_id = None  # hits of a shared or remote index count by record id (see RouteTable.codes)
        if self.index.is_remote or self.syncer is not None:
            by_id = record_codes(names, ids)
        table = RouteTable.build(routes, draft.settings.score_threshold, self.encoder.score_threshold, by_id)
        extra = {**draft.extra, "rule": rule.spec()}
        frozen_ids = {n: m if isinstance(m, MappingProxyType) else MappingProxyType(m)  # never a proxy of a proxy
                      for n, m in ids.items()}
        return Snapshot(MappingProxyType(dict(draft.routes)), MappingProxyType(frozen_ids),
                        MappingProxyType(vectors), table, rule, draft.settings, MappingProxyType(extra),
                        draft.calibration, sparse, base.version + 1, base.remote_version, scheme,
                        sum(len(m) for m in ids.values()), remote_hash=base.remote_hash)

    def _write(self, records: list[Record], written: list[str], originals: list[Record]) -> None:
        if not records:
            return
        try:
            self.index.upsert(records)
        except BaseException:
            self._take_back(written)
            if originals:
                with contextlib.suppress(Exception):
                    self.index.upsert(originals)
            raise

    def _take_back(self, written: list[str]) -> None:
        """Delete records this change wrote that no published state references."""
        if not written:
            return
        keep: set[str] = set()
        if self.syncer is not None:
            with contextlib.suppress(Exception):
                state = self.syncer.read()
                if state is not None:
                    keep = self.syncer.referenced_ids(state)
        doomed = [i for i in written if i not in keep and i not in self.snapshot.known_ids]
        if doomed:
            with contextlib.suppress(Exception):
                self.index.delete(ids=doomed)

    def _collect(self, doomed: list[str]) -> bool:
        """Garbage: records the published snapshot no longer references (best effort; a remote
        router ignores stray records, and the next prune removes them). True when none is left."""
        if not doomed:
            return True
        try:
            self.index.delete(ids=doomed)
        except Exception as exc:  # the change is published: do not report it as failed
            log.warning("could not delete %d unreferenced records: %s", len(doomed), exc)
            return False
        return True

    @staticmethod
    def _fence(snap: Snapshot, open_: bool) -> None:
        """Open or close `snap`'s RecordFence (its id -> route map made once, here, off the query path)."""
        if snap.table.record_codes is not None:
            return  # a shared or remote route set always counts hits by record id
        if open_ and snap.fence.codes is None:
            snap.fence.codes = record_codes(snap.table.names, snap.ids)
        snap.fence.open = open_

    # -- adopting a shared state ----------------------------------------------------------------------
    def refresh(self) -> bool:
        """Adopt the shared state if another instance changed it; True if anything changed.

        Lost remote data is noticed here too: the snapshot is marked (queries that need the index
        then raise RemoteStateLost) or, where this router's copy is the truth, the index is rewritten."""
        if self.syncer is None:
            return False
        state = self.syncer.read()
        snap = self.snapshot
        other = state is not None and self.syncer.is_other(state, snap)
        lost = (state is None and snap.remote_version > 0) or (
            state is not None and not other and self.syncer.records_missing(state, snap))
        if lost:
            if self.syncer.local_truth:
                self.commit(lambda draft: None)  # the commit path notices the loss and rewrites
                return True
            why = "the shared state is gone" if state is None else \
                "records of the shared state are missing (deleted, or too corrupt to be indexed)"
            self.snapshot = snap.evolve(remote_lost=why)
            return False
        if state is None or not (other or snap.remote_lost):
            return False
        with self._mutex:  # a newer state, another lineage, or the state republished after a loss: adopt it
            if self.syncer.is_other(state, self.snapshot) or self.snapshot.remote_lost:
                self.snapshot = self.adopted(state)
        return True

    def adopted(self, state: Any) -> Snapshot:
        """The snapshot of a newer shared state (routes, settings, extras), built off to the side:
        nothing is encoded, vectors of changed routes are read from the index."""
        base = self.snapshot
        draft = self.syncer.draft_from(state, base)
        rebased = base.evolve(id_scheme=state.id_scheme)
        plan = self.plan(rebased, draft, present=self.syncer.referenced_ids(state), prune=False,
                         scheme=state.id_scheme)
        return self._snapshot(rebased, draft, plan, state.id_scheme).evolve(remote_version=state.version,
                                                                            remote_hash=state.hash)

    # -- reading ---------------------------------------------------------------------------------
    def utterances(self, route_name: str | None = None, ids: Sequence[str] | None = None) -> list[Utterance]:
        """Stored utterances (of one route, or with these ids) of the current snapshot."""
        snap = self.snapshot
        if route_name is None:
            names = list(snap.routes)
        else:
            if not isinstance(route_name, str):
                raise TypeError(f"route name must be a string, got {type(route_name).__name__}: {route_name!r:.80}")
            if route_name not in snap.routes:
                known = ", ".join(list(snap.routes)[:10]) or "none"
                raise RouteNotFoundError(f"unknown route {route_name!r} (routes: {known})")
            names = [route_name]
        found = [Utterance(i, n, u) for n in names for u, i in snap.ids[n].items()]
        if ids is None:
            return found
        by_id = {u.id: u for u in found}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise KeyError(f"unknown utterance id(s): {missing[:5]}")
        return [by_id[i] for i in ids]
