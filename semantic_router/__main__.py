"""`python -m semantic_router ...`: the `semantic-router` command line."""

from semantic_router.cli.app import run

if __name__ == "__main__":
    run()
