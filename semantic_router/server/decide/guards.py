"""Guards in the decide phase: what a request must not carry, checked before the response cache and before any
backend call. A guard fires (a jailbreak classifier at its threshold, personal data found) and its action says
what follows: `block` (an OpenAI-shaped refusal, no backend call), `route` (its `model_on_match`), `redact`
(personal data replaced by `<KIND>` in the body forwarded; nothing is restored into the answer) or `tag` (only
reported). Every verdict is also a signal, `guard:<name>`, that decisions may combine.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from semantic_router.errors import ConfigError
from semantic_router.server.decide.learned import Head, Scored
from semantic_router.server.decide.signals.base import SignalResult
from semantic_router.server.guards_config import ClassifierGuard, GuardConfig, PIIGuard
from semantic_router.server.ingress.errors import APIError

__all__ = ["GuardOutcome", "GuardVerdict", "Guards", "PIIRunner"]

_SEVERITY = {"block": 3, "route": 2, "redact": 1, "tag": 0}


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    """One guard's verdict on a request: fired or not, its score (a probability, or the most certain finding's
    score), the kinds of personal data found, and what its action did."""

    name: str
    type: str
    action: str
    matched: bool
    score: float | None
    kinds: tuple[str, ...] = ()
    ms: float = 0.0

    def signal(self) -> SignalResult:
        return SignalResult("guard", self.name, self.matched, self.score, self.ms)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "action": self.action, "matched": self.matched,
                "score": None if self.score is None else round(self.score, 4), "kinds": list(self.kinds),
                "ms": round(self.ms, 4)}


@dataclass(frozen=True)
class GuardOutcome:
    """Every guard's verdict and what they decide together: a block, a model to route to, a redacted body."""

    verdicts: list[GuardVerdict] = field(default_factory=list)
    body: dict[str, Any] | None = None  # the body to forward, when a guard redacted it
    route_model: str | None = None  # the model a prevailing `route` guard names
    message: str = ""  # a prevailing `block` guard's refusal

    @property
    def acting(self) -> GuardVerdict | None:
        """The fired guard whose action prevails (block > route > redact; tag never acts)."""
        fired = [v for v in self.verdicts if v.matched and v.action != "tag"]
        return max(fired, key=lambda v: _SEVERITY[v.action], default=None)

    @property
    def blocked(self) -> GuardVerdict | None:
        acting = self.acting
        return acting if acting is not None and acting.action == "block" else None

    @property
    def guarded(self) -> bool:
        """A guard acted on this request (blocked, routed or redacted): the response cache stays out of it."""
        return self.acting is not None

    def refusal(self) -> APIError:
        """The answer to a blocked request: HTTP 400 with code `content_filter` (as OpenAI-compatible services
        answer a prompt their filter refused), the guard named in the message; no backend is called."""
        return APIError(400, self.message, param="messages", code="content_filter")

    def headers(self) -> dict[str, str]:
        """`x-router-guard-<name>: <action>|pass` per guard (`<action>` when it fired), and `x-router-guard` the
        action that prevailed (`pass` when none)."""
        out = {f"x-router-guard-{v.name}": (v.action if v.matched else "pass") for v in self.verdicts}
        acting = self.acting
        if self.verdicts:
            out["x-router-guard"] = "pass" if acting is None else f"{acting.action}:{acting.name}"
        return out

    def as_dict(self) -> dict[str, Any]:
        acting = self.acting
        return {"verdicts": [v.as_dict() for v in self.verdicts],
                "action": None if acting is None else acting.action,
                "guard": None if acting is None else acting.name}


class PIIRunner:
    """A `pii` guard's detector (built once per config; presidio's recognizers compile at start)."""

    def __init__(self, spec: PIIGuard, field: str) -> None:
        try:
            from semantic_router.guards import PIIDetector
        except ImportError as exc:
            raise ConfigError(f"{field}: the pii guard needs the 'guards' extra ({exc})") from None
        self.spec = spec
        try:
            self.detector = PIIDetector(spec.entities, spec.min_score, spec.names_model)
        except ImportError as exc:
            raise ConfigError(f"{field}: {exc}") from None
        except ConfigError as exc:
            raise ConfigError(f"{field}: {exc}") from None

    def scan(self, texts: Sequence[str]) -> tuple[GuardVerdict, list[str] | None]:
        """The verdict on `texts` and, for action redact, the texts redacted (None: nothing to redact)."""
        start = time.perf_counter()
        found = [self.detector.find(t) for t in texts]
        flat = [f for fs in found for f in fs]
        redacted = None
        if flat and self.spec.action == "redact":
            redacted = [self.detector.redact(t, fs) if fs else t for t, fs in zip(texts, found)]
        kinds = tuple(sorted({f.kind for f in flat}))
        verdict = GuardVerdict(self.spec.name, "pii", self.spec.action, bool(flat),
                               max((f.score for f in flat), default=None), kinds, (time.perf_counter() - start) * 1e3)
        return verdict, redacted


def _segments(body: dict[str, Any]) -> list[tuple[dict[str, Any], str | int, str]]:
    """(container, key, text) of every text a chat body's messages carry: string contents and text parts."""
    out: list[tuple[dict[str, Any], str | int, str]] = []
    for m in body.get("messages") or []:
        content = m.get("content")
        if isinstance(content, str):
            out.append((m, "content", content))
        elif isinstance(content, list):
            out += [(part, "text", part["text"]) for part in content
                    if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)]
    return out


def _redacted_body(body: dict[str, Any], texts: Sequence[str]) -> dict[str, Any]:
    """A copy of `body` whose message texts are `texts` (in `_segments` order); `body` is left as it was."""
    new = dict(body)
    new["messages"] = copy.deepcopy(body["messages"])
    for (container, key, _), text in zip(_segments(new), texts):
        container[key] = text  # type: ignore[index]  # a message (str key) or a content part
    return new


class Guards:
    """The guards of one config: classifier guards (heads scored by the decide phase's `Scorer`) and pii
    guards. `check` is synchronous (run it in a worker thread)."""

    def __init__(self, specs: Sequence[GuardConfig], heads: dict[str, Head]) -> None:
        self.specs = list(specs)
        self.heads = heads  # guard name -> head, for classifier guards
        self.pii = {s.name: PIIRunner(s, f"guards[{i}]") for i, s in enumerate(self.specs) if isinstance(s, PIIGuard)}

    def __bool__(self) -> bool:
        return bool(self.specs)

    def _classifier(self, spec: ClassifierGuard, scored: Scored | None) -> GuardVerdict:
        head = self.heads[spec.name]
        if scored is None:
            return GuardVerdict(spec.name, "classifier", spec.action, False, None)
        proba = scored.proba[id(head)]
        positive = head.labels.index(head.positive_label) if head.positive_label in head.labels else len(head.labels) - 1
        threshold = spec.threshold if spec.threshold is not None else (head.threshold if head.threshold is not None
                                                                       else 0.5)
        p = float(proba[positive])
        return GuardVerdict(spec.name, "classifier", spec.action, p >= threshold, p, (), scored.ms)

    def check(self, scored: Scored | None, texts: Sequence[str], body: dict[str, Any] | None = None) -> GuardOutcome:
        """Every guard's verdict. `scored`: the last user turn under the classifier heads; `texts`: what the pii
        guards scan when there is no `body` (a /v1/route request); with `body` they scan its messages, and
        a redacting guard's findings come back as the outcome's `body`."""
        segments = _segments(body) if body is not None else []
        scanned = [t for _, _, t in segments] if body is not None else list(texts)
        verdicts: list[GuardVerdict] = []
        redacted: list[str] | None = None
        for spec in self.specs:
            if isinstance(spec, ClassifierGuard):
                verdicts.append(self._classifier(spec, scored))
                continue
            verdict, texts_out = self.pii[spec.name].scan(redacted if redacted is not None else scanned)
            verdicts.append(verdict)
            if texts_out is not None:
                redacted = texts_out
        new_body = _redacted_body(body, redacted) if body is not None and redacted is not None else None
        outcome = GuardOutcome(verdicts, new_body)
        acting = outcome.acting
        if acting is None or acting.action not in ("route", "block"):
            return outcome
        spec = next(s for s in self.specs if s.name == acting.name)
        return GuardOutcome(verdicts, new_body, spec.model_on_match, spec.message.replace("{guard}", spec.name))
