"""The contract suite runs once per backend listed in tests/backends.BACKENDS."""

from __future__ import annotations

import importlib
import uuid

import pytest

from tests.backends import BACKENDS


@pytest.fixture(params=BACKENDS)
def make_index(request):
    """Factory of fresh, empty indexes of one backend; every index made is dropped afterwards."""
    module = importlib.import_module(f"tests.backends.{request.param}")
    made = []

    def factory(name: str | None = None):
        idx = module.make_index(name or f"t{uuid.uuid4().hex[:10]}")
        made.append(idx)
        return idx

    yield factory
    for idx in made:
        try:
            idx.drop()
        except Exception:
            pass


@pytest.fixture()
def index(make_index):
    return make_index()
