"""How scores become decisions: decision rules, score aggregation and the route table."""

from semantic_router.decision import lda as _lda  # noqa: F401  (registers the `lda` rule with make_rule)
