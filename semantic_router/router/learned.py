"""Learned state a config, a saved file, `rl.extra` or a shared state carries in `extra` (fitted
rule, calibration), taken back into a change's draft: persistence of what `fit` learned, used by
loading, by edits and by sync (checked first by `decision.extra.check_extra`)."""

from __future__ import annotations

from typing import Any

from semantic_router.decision.calibration import Calibration
from semantic_router.decision.extra import check_extra
from semantic_router.decision.rules import make_rule


def apply_extra(draft: Any, extra: dict[str, Any]) -> None:
    """Take back the rule, its parameters and the calibration saved in a config's (or a shared
    state's, or `rl.extra`'s) `extra` into a change's draft, after checking them."""
    draft.extra = dict(check_extra(extra))
    spec = draft.extra.get("rule")
    if spec is not None and draft.settings.rule_auto and spec != draft.rule.spec():
        rule = make_rule(spec)
        same = rule.name == draft.rule.name and \
            {k: v for k, v in rule.params().items() if k != "lam"} == \
            {k: v for k, v in draft.rule.params().items() if k != "lam"}
        # a changed blend weight keeps what was learned; anything else retrains
        draft.rule = draft.rule.copy_with(**rule.params()) if same else rule
        draft.rule_trained = same
    draft.extra["rule"] = draft.rule.spec()
    cal = draft.extra.get("calibration")
    draft.calibration = Calibration.from_dict(cal) if cal else None
