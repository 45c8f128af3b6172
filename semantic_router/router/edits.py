"""Route-set edits as pure functions over a change's Draft (the store commits them).

Each returns what the public method returns; each validates against the LATEST route set (the
one the store hands it under the writers' lock), so concurrent writers never overwrite each other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeAlias, TypeVar

from semantic_router.decision.rules import Rule, make_rule
from semantic_router.errors import RouteNotFoundError
from semantic_router.router.learned import apply_extra
from semantic_router.route import Route
from semantic_router.router.snapshot import Draft

T = TypeVar("T")
#: an edit: applied to the latest Draft under the writers' lock, returns what the public method returns
Change: TypeAlias = Callable[[Draft], T]


def existing(routes: Mapping[str, Route], name: object) -> Route:
    if not isinstance(name, str):
        raise TypeError(f"route name must be a string, got {type(name).__name__}: {name!r:.80}")
    try:
        return routes[name]
    except KeyError:
        known = ", ".join(list(routes)[:10]) or "none"
        raise RouteNotFoundError(f"unknown route {name!r} (routes: {known})") from None


def checked_routes(routes: object) -> list[Route]:
    """A list of distinct Routes; one Route is taken as [route]; anything else is a TypeError."""
    if routes is None:
        return []
    if isinstance(routes, Route):
        return [routes]
    if isinstance(routes, (str, bytes, dict)) or not isinstance(routes, Sequence):
        raise TypeError(f"routes must be a Route or a list of Route objects, got {type(routes).__name__}: "
                        f"{routes!r:.80}")
    names: set[str] = set()
    for i, r in enumerate(routes):
        if not isinstance(r, Route):
            raise TypeError(f"routes[{i}] must be a Route, got {type(r).__name__}: {r!r:.80}")
        if r.name in names:
            raise ValueError(f"duplicate route name {r.name!r}")
        names.add(r.name)
    return list(routes)


def add(items: list[Route]) -> Change[None]:
    def change(draft: Draft) -> None:
        for r in items:
            if r.name in draft.routes:
                raise ValueError(f"route {r.name!r} already exists (use update() to change it)")
            draft.routes[r.name] = r.model_copy(deep=True)
    return change


def delete(name: str) -> Change[None]:
    def change(draft: Draft) -> None:
        existing(draft.routes, name)
        del draft.routes[name]
    return change


def update(name: str, given: dict[str, Any]) -> Change[Route]:
    def change(draft: Draft) -> Route:
        data = existing(draft.routes, name).model_dump()
        if "distance_threshold" in given:
            data.pop("score_threshold")
        data.update(given)
        route = Route.model_validate(data)
        draft.routes[name] = route
        return route
    return change


def add_utterances(name: str, items: list[str]) -> Change[None]:
    def change(draft: Draft) -> None:
        route = existing(draft.routes, name)
        merged = list(dict.fromkeys(route.utterances + items))
        draft.routes[name] = route.model_copy(update={"utterances": merged})
    return change


def delete_utterances(doomed_of: Callable[[Mapping[str, Route]], Collection[tuple[str, str]]]) -> Change[int]:
    """`doomed_of(routes)` -> the (route, utterance) pairs to delete; returns how many were."""
    def change(draft: Draft) -> int:
        doomed = doomed_of(draft.routes)
        new: dict[str, Route] = {}
        for n, r in draft.routes.items():
            keep = [u for u in r.utterances if (n, u) not in doomed]
            if keep:
                new[n] = r if len(keep) == len(r.utterances) else r.model_copy(update={"utterances": keep})
        draft.routes = new
        return len(doomed)
    return change


def settings(**values: Any) -> Change[None]:
    """A settings change (validated by Settings itself)."""
    def change(draft: Draft) -> None:
        draft.settings = dataclasses.replace(draft.settings, **values)
    return change


def set_rule(rule: Rule) -> Change[None]:
    """The rule the caller chose (`rl.rule = ...`): a settings change, synced like any other."""
    def change(draft: Draft) -> None:
        draft.rule = rule
        draft.settings = dataclasses.replace(draft.settings, rule_auto=False)
        draft.extra["rule"] = rule.spec()
    return change


def set_aggregation(value: str) -> Change[None]:
    """A new knn aggregation; a rule that ignores aggregation is switched to knn (as the constructor
    does), unless the caller chose that rule."""
    def change(draft: Draft) -> None:
        if not draft.rule.uses_index:
            if not draft.settings.rule_auto:
                raise ValueError(f"aggregation {value!r} needs the knn rule; this router's rule is "
                                 f"{draft.rule.name!r} (set rl.rule = 'knn' first)")
            draft.rule = make_rule("knn")
        settings(aggregation=value)(draft)
    return change


def clear() -> Change[None]:
    """Remove every route (and so every utterance)."""
    def change(draft: Draft) -> None:
        draft.routes = {}
    return change


def restore_extra(extra: dict[str, Any], trained_rule: dict[str, Any] | None) -> Change[None]:
    """Take back a config's learned state (fitted rule, calibration) and the saved rule's state."""
    def change(draft: Draft) -> None:
        apply_extra(draft, extra)
        draft.rule_state = trained_rule
    return change


class ExtraView(dict[str, Any]):
    """`rl.extra`: a copy of the fitted extras whose item changes are committed (and, for shared
    route sets, published) like any other change, so `rl.extra["key"] = value` keeps working.

    Every change is checked and takes effect as the same key would from a config: a new `rule`
    spec sets the rule (as `rl.rule = ...` does), a `calibration` calibrates; a bad one raises and
    changes nothing."""

    def __init__(self, data: dict[str, Any], commit: Callable[[Change[None]], None]) -> None:
        super().__init__(data)
        self.commit = commit

    def _commit(self, edit: Callable[[dict[str, Any]], object]) -> None:
        def change(draft: Draft) -> None:
            extra = dict(draft.extra)
            edit(extra)
            spec = extra.get("rule")
            if spec is not None and spec != draft.extra.get("rule"):
                try:
                    set_rule(make_rule(spec))(draft)
                except ValueError as exc:
                    raise ValueError(f"extra.rule: {exc}") from None
                extra["rule"] = draft.rule.spec()
            apply_extra(draft, extra)

        self.commit(change)

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"extra keys must be strings, got {type(key).__name__}: {key!r:.40}")
        self._commit(lambda extra: extra.__setitem__(key, value))
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._commit(lambda extra: extra.pop(key, None))
        super().__delitem__(key)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self._commit(lambda extra: extra.pop(key, None))
        return super().pop(key, *default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        items = dict(*args, **kwargs)
        self._commit(lambda extra: extra.update(items))
        super().update(items)
