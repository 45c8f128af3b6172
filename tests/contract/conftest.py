"""The contract suite runs once per backend listed in tests/backends.BACKENDS."""

from __future__ import annotations

import importlib

import pytest

from tests.backends import BACKENDS, dropped_after


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The backend's factory module (tests/backends/<name>.py): `make_index`, `steal_lock`."""
    return importlib.import_module(f"tests.backends.{request.param}")


@pytest.fixture()
def make_index(backend):
    """Factory of fresh, empty indexes of one backend; every index made is dropped afterwards."""
    with dropped_after(backend.make_index) as factory:
        yield factory


@pytest.fixture()
def index(make_index):
    return make_index()
