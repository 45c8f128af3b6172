"""Guards: what a request must not carry, found before it is routed (`PIIDetector`: personal data)."""

from semantic_router.guards.pii import KINDS, Finding, PIIDetector

__all__ = ["KINDS", "Finding", "PIIDetector"]
