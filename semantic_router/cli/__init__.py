"""Command line: `semantic-router route|routes|eval|fit ...` (also `python -m semantic_router`).

Needs the `cli` extra (typer, rich); `import semantic_router` never imports this package.
"""

from semantic_router.cli.app import app, main

__all__ = ["app", "main"]
