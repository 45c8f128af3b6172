"""The contract suite runs once per backend listed in tests/backends.BACKENDS."""

from __future__ import annotations

import importlib

import pytest

from tests.backends import BACKENDS, dropped_after


@pytest.fixture(params=BACKENDS)
def make_index(request):
    """Factory of fresh, empty indexes of one backend; every index made is dropped afterwards."""
    module = importlib.import_module(f"tests.backends.{request.param}")
    with dropped_after(module.make_index) as factory:
        yield factory


@pytest.fixture()
def index(make_index):
    return make_index()
