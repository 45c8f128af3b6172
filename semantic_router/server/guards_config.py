"""Config sections of learned signals and guards: `signals.classifiers` / `signals.domains` and `guards`.

A classifier signal named N (a built-in `builtin:NAME` model or a `train-signal` artifact path) gives rule keys
`N:<label>`; a binary one also `classifier:N` (its positive label at its threshold). `signals.domains: [math, ...]`
is the built-in domain classifier named `domain`. A guard named G gives `guard:G` (matched when it fired).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DOMAIN_SIGNAL", "ClassifierGuard", "ClassifierSignal", "GuardConfig", "PIIGuard", "classifier_specs"]

DOMAIN_SIGNAL = "domain"  # the name `signals.domains` gives the built-in domain classifier
GuardAction = Literal["block", "route", "tag"]
# a signal type or guard name: config.py's names without ':' (it is the "TYPE" of "TYPE:NAME" rule keys)
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/@+-]{0,63}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ClassifierSignal(Strict):
    """A learned text classifier: `model` is `builtin:domains`, `builtin:jailbreak` or a path to an artifact of
    `semantic-router train-signal` (relative to the config file). `labels`: report only these (default: all);
    `threshold`: the probability a label needs to match (default: the artifact's own, else the top label)."""

    name: Name
    model: str = Field(min_length=1)
    labels: list[str] | None = None
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _labels(self) -> ClassifierSignal:
        if self.labels is not None and not self.labels:
            raise ValueError("'labels' needs at least one label (or leave it out for all)")
        return self


class _Guard(Strict):
    name: Name
    model_on_match: str | None = Field(default=None, description="with action route: the model to send it to")
    message: str = Field(default="This request was refused by the gateway's {guard} guard.", min_length=1,
                         description="with action block: the refusal's text ({guard} names the guard)")

    def _check_action(self, action: str) -> None:
        if action == "route" and self.model_on_match is None:
            raise ValueError("action 'route' needs 'model_on_match' (the model to send such requests to)")
        if action != "route" and self.model_on_match is not None:
            raise ValueError(f"'model_on_match' is only for action 'route' (this guard's action is {action!r})")


class ClassifierGuard(_Guard):
    """A guard from a learned binary classifier (e.g. `builtin:jailbreak`): fires when its positive label's
    probability reaches `threshold` (default: the artifact's chosen operating point)."""

    type: Literal["classifier"]
    model: str = Field(min_length=1)
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    action: GuardAction = "block"

    @model_validator(mode="after")
    def _valid(self) -> ClassifierGuard:
        self._check_action(self.action)
        return self


class PIIGuard(_Guard):
    """Personal data in any message (`entities`: kinds of `semantic_router.guards.KINDS`, default every kind but
    person). `redact` forwards the request with each finding replaced by `<KIND>`; nothing is restored."""

    type: Literal["pii"]
    entities: list[str] | None = None
    min_score: float = Field(default=0.4, ge=0.0, le=1.0)
    names_model: str | None = Field(default=None, description="an installed spaCy pipeline (for kind person)")
    action: Literal["block", "redact", "route", "tag"] = "redact"

    @model_validator(mode="after")
    def _valid(self) -> PIIGuard:
        self._check_action(self.action)
        return self


GuardConfig = Annotated[ClassifierGuard | PIIGuard, Field(discriminator="type")]


def classifier_specs(classifiers: list[ClassifierSignal], domains: list[str] | None) -> list[ClassifierSignal]:
    """Every classifier signal, the `domains` shorthand included (as the classifier `domain`)."""
    out = list(classifiers)
    if domains is not None:
        out.append(ClassifierSignal(name=DOMAIN_SIGNAL, model="builtin:domains", labels=list(domains)))
    return out


def learned_problems(classifiers: list[ClassifierSignal], domains: list[str] | None, guards: list[GuardConfig],
                     models: set[str], builtin_types: tuple[str, ...]) -> list[tuple[str, str]]:
    """(dotted path, message) for every bad reference of the learned signals and guards."""
    problems: list[tuple[str, str]] = []
    names = [c.name for c in classifiers]
    for i, c in enumerate(classifiers):
        if c.name in builtin_types:
            problems.append((f"signals.classifiers[{i}].name", f"{c.name!r} is a built-in signal type"))
        elif names.count(c.name) > 1:
            problems.append((f"signals.classifiers[{i}].name", f"duplicate classifier name {c.name!r}"))
        elif domains is not None and c.name == DOMAIN_SIGNAL:
            problems.append((f"signals.classifiers[{i}].name", f"{DOMAIN_SIGNAL!r} is the signals.domains classifier"))
    if domains is not None:
        if not domains:
            problems.append(("signals.domains", "name at least one domain (or leave signals.domains out)"))
        dup = sorted({d for d in domains if domains.count(d) > 1})
        if dup:
            problems.append(("signals.domains", f"duplicate domain(s) {dup}"))
    guard_names = [g.name for g in guards]
    for i, g in enumerate(guards):
        if guard_names.count(g.name) > 1:
            problems.append((f"guards[{i}].name", f"duplicate guard name {g.name!r}"))
        if g.model_on_match is not None and g.model_on_match not in models:
            problems.append((f"guards[{i}].model_on_match", f"unknown model {g.model_on_match!r}"))
    return problems


def unknown_signal(kind: str, name: str, classifiers: list[ClassifierSignal], guards: list[GuardConfig],
                   builtin_types: tuple[str, ...]) -> str | None:
    """Why `kind:name` names no signal of this config (None: it may; labels are checked when models load)."""
    learned = {c.name for c in classifiers}
    if kind == "guard":
        known = sorted(g.name for g in guards)
        return None if name in known else f"unknown guard {name!r} (guards: {known})"
    if kind == "classifier":
        return None if name in learned else f"unknown classifier {name!r} (classifiers: {sorted(learned)})"
    if kind in builtin_types or kind in learned:
        return None
    return (f"unknown signal type {kind!r}: one of {', '.join(builtin_types)} or a classifier's name "
            f"({', '.join(sorted(learned)) or 'none declared'})")
