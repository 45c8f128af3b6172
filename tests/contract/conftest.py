"""The contract suite runs once per backend: the Index contract (records and search) on every backend
in tests/backends (BACKENDS and RECORDS_ONLY), the coordination contract on those that coordinate."""

from __future__ import annotations

import importlib

import pytest

from tests.backends import BACKENDS, RECORDS_ONLY, backend_params, dropped_after


@pytest.fixture(params=backend_params(BACKENDS + RECORDS_ONLY))
def backend(request):
    """The backend's factory module (tests/backends/<name>.py): `make_index` (and `steal_lock` for the
    coordinating ones; test_coordination_contract.py narrows this fixture to them)."""
    return importlib.import_module(f"tests.backends.{request.param}")


@pytest.fixture()
def make_index(backend):
    """Factory of fresh, empty indexes of one backend; every index made is dropped afterwards."""
    with dropped_after(backend.make_index) as factory:
        yield factory


@pytest.fixture()
def index(make_index):
    return make_index()
