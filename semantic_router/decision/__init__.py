"""How scores become decisions: decision rules, score aggregation and the route table."""

# importing the modules registers their rules with make_rule
from semantic_router.decision import classifier as _classifier  # noqa: F401
from semantic_router.decision import lda as _lda  # noqa: F401
