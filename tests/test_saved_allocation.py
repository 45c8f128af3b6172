"""A saved file cannot make `load()` allocate more than it holds, nor crash the interpreter
(issue 16 A3): declared array shapes and dtypes are checked against the file's bytes before numpy
builds anything. Each crafted file has a valid digest (integrity is not trust) and is loaded in a
fresh process whose peak memory growth is measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from semantic_router import Route, RouteLayer
from semantic_router._saved import decode_saved, encode_saved
from tests.hash_encoder import HashEncoder

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
HUGE = 150_000_000  # (1, HUGE) float64: 1.2 GB declared by a file of a few hundred bytes

#: loads the file in a fresh process; prints the error and the peak RSS growth in MB as JSON
LOADER = """
import json, resource, sys
from semantic_router import RouteLayer
from tests.hash_encoder import HashEncoder
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    RouteLayer.load(sys.argv[1], encoder=HashEncoder(32))
    error = None
except Exception as exc:
    error = f"{type(exc).__name__}: {exc}"
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps({"error": error, "grown_mb": grown}))
"""


class Crafted:
    """Pickles as the numpy calls a crafted file would make (numpy's own names, any arguments)."""

    def __init__(self, func, args, state=None) -> None:
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


def crafted_dtype(state: tuple) -> Crafted:
    return Crafted(np.dtype, ("V8", False, True), state)


CRAFTED = {
    # `_reconstruct` allocating the shape it is given
    "huge empty array": Crafted(_reconstruct, (np.ndarray, (1, HUGE), np.dtype("f8"))),
    # the array state declaring far more than the bytes it brings
    "huge declared shape": Crafted(_reconstruct, (np.ndarray, (0,), b"b"), (1, (1, HUGE), np.dtype("f8"), False, b"\0" * 8)),
    # an object array whose list is shorter than its shape (crashed the interpreter)
    "object array": Crafted(_reconstruct, (np.ndarray, (0,), b"b"), (1, (1, HUGE), np.dtype("O"), False, [1.0])),
    # a dtype whose one field lies a terabyte past each 16-byte element
    "far field dtype": Crafted(_reconstruct, (np.ndarray, (0,), b"b"),
                               (1, (1, 2), crafted_dtype((3, "|", None, ("a",), {"a": (np.dtype("f8"), 1 << 40)},
                                                          16, 1, 16)), False, b"\0" * 32)),
}


@pytest.fixture(scope="module")
def saved_payload(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("saved") / "router.pkl"
    RouteLayer(encoder=HashEncoder(32), routes=[Route(name="greet", utterances=["hello there"])], rule="knn").save(path)
    return decode_saved(path.read_bytes(), str(path))


def load_in_subprocess(path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", LOADER, str(path)], check=False, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert out.returncode == 0, f"the loader died (code {out.returncode}): {out.stderr[-2000:]}"
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # each case loads a crafted file in a memory-capped subprocess
@pytest.mark.parametrize("what", sorted(CRAFTED))
def test_a_crafted_array_is_refused_before_anything_is_allocated(tmp_path, saved_payload, what):
    payload = {**saved_payload, "records": {**saved_payload["records"], "dense": CRAFTED[what]}}
    path = tmp_path / "crafted.pkl"
    path.write_bytes(encode_saved({k: v for k, v in payload.items() if k not in ("format", "version")}))
    assert path.stat().st_size < 2000  # a small file with a valid digest
    result = load_in_subprocess(path)
    assert result["error"] is not None and result["error"].startswith("ConfigError: ")
    assert "crafted numpy value" in result["error"]
    assert result["grown_mb"] < 50, result  # before issue 16: 1.2 GB for the first, a crash for the object array


def test_rule_arrays_and_numpy_scalars_still_round_trip(tmp_path):
    rl = RouteLayer(encoder=HashEncoder(32), routes=[Route(name="greet", utterances=["hello there", "hi"]),
                                                     Route(name="bye", utterances=["goodbye", "see you"])])
    path = tmp_path / "router.pkl"
    rl.save(path)
    payload = decode_saved(path.read_bytes(), str(path))
    fortran = np.asfortranarray(np.arange(6, dtype=">f4").reshape(2, 3))
    payload["extra_arrays"] = [fortran, fortran[:, ::2], np.float64(0.5), np.int32(3), np.bool_(True)]
    back = decode_saved(encode_saved({k: v for k, v in payload.items() if k not in ("format", "version")}), "x")
    assert [type(a).__name__ for a in back["extra_arrays"]] == ["ndarray", "ndarray", "float64", "int32", "bool"]
    assert np.array_equal(back["extra_arrays"][0], fortran) and np.array_equal(back["extra_arrays"][1], fortran[:, ::2])
    assert type(back["records"]["dense"]) is np.ndarray
    loaded = RouteLayer.load(path, encoder=HashEncoder(32))
    assert loaded("hello there").name == "greet"
