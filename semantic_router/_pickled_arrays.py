"""numpy arrays, dtypes and scalars rebuilt from an untrusted pickle, checked before numpy builds them.

numpy's own pickle hooks trust their input: `_reconstruct` allocates whatever shape it is given,
an object array's state with too short a list crashes the interpreter, and a dtype state can put
a field a terabyte past its buffer. A saved file's digest proves it is intact, not that it is
benign, so `PlainUnpickler` (semantic_router._saved) resolves numpy's names to the stand-ins
below: they take the same arguments, accept only plain numeric dtypes in their canonical state,
and check every declared shape against the bytes that came with it. `finish` swaps the stand-ins
left in the unpickled payload for the arrays and dtypes they built.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from semantic_router.errors import ConfigError

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct, scalar
    from numpy._core.numeric import _frombuffer
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar  # type: ignore[no-redef]
    from numpy.core.numeric import _frombuffer  # type: ignore[no-redef]

PLAIN_KINDS = "biufc"  # bool, integers, floats, complex: nothing that holds objects or offsets
MAX_NDIM = 32
_CANONICAL_STATE_TAIL = (None, None, None, -1, -1, 0)  # a plain dtype's state after (3, byte order)


def _refuse(what: str) -> ConfigError:
    return ConfigError(f"refusing a crafted numpy value: {what}")


class PendingDtype:
    """A dtype the pickle names (`numpy.dtype(spec, align, copy)` + state), built only once checked."""

    def __init__(self, spec: Any = None, align: Any = False, copy: Any = True) -> None:
        self.spec = spec
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def build(self) -> np.dtype:
        spec = self.spec.decode("ascii", "replace") if isinstance(self.spec, bytes) else self.spec
        if not isinstance(spec, str) or len(spec) > 8:
            raise _refuse(f"dtype {spec!r:.40}")
        try:
            dtype = np.dtype(spec)
        except (TypeError, ValueError) as exc:
            raise _refuse(f"dtype {spec!r}") from exc
        if dtype.kind not in PLAIN_KINDS or dtype.fields is not None or dtype.subdtype is not None:
            raise _refuse(f"dtype {spec!r} is not a plain number type")
        state = self.state
        if state is not None:
            if not (isinstance(state, tuple) and len(state) == 8 and state[0] == 3 and state[1] in ("<", ">", "|", "=")
                    and state[2:] == _CANONICAL_STATE_TAIL):
                raise _refuse(f"dtype state {state!r:.80}")
            if state[1] in ("<", ">"):
                dtype = dtype.newbyteorder(state[1])
        return dtype


def _dtype(value: Any) -> np.dtype:
    if isinstance(value, PendingDtype):
        return value.build()
    if isinstance(value, (bytes, str)):  # `_reconstruct`'s placeholder dtype (b"b")
        return PendingDtype(value).build()
    raise _refuse(f"expected a dtype, got {type(value).__name__}")


def _n_bytes(shape: Any, dtype: np.dtype) -> int:
    """The byte size a shape declares, in exact integers (no overflow); refuses malformed shapes."""
    if not isinstance(shape, tuple) or len(shape) > MAX_NDIM or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise _refuse(f"array shape {shape!r:.80}")
    return math.prod(shape) * dtype.itemsize


#: what the pickle's `numpy.ndarray` resolves to: accepted as `_reconstruct`'s type, never called
ARRAY_TYPE = type("ndarray_name", (), {"__repr__": lambda self: "numpy.ndarray"})()


class ArrayBuilder:
    """`_reconstruct(ndarray, shape, dtype)`: an empty array whose `__setstate__` brings the data;
    built only once the state's shape, dtype and bytes agree."""

    def __init__(self, subtype: Any, shape: Any, dtype: Any) -> None:
        if subtype is not ARRAY_TYPE:
            raise _refuse(f"array type {subtype!r:.60}")
        if _n_bytes(shape, _dtype(dtype)) != 0:  # numpy writes (0,): the data comes with the state
            raise _refuse(f"empty array declared with shape {shape!r:.80}")
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
            state = state[1:]
        if not (isinstance(state, tuple) and len(state) == 4):
            raise _refuse(f"array state of {type(state).__name__}")
        shape, dtype, fortran, raw = state
        dtype = _dtype(dtype)
        if not isinstance(raw, (bytes, bytearray)) or not isinstance(fortran, bool):
            raise _refuse(f"array data of {type(raw).__name__} (only plain number arrays are saved)")
        declared = _n_bytes(shape, dtype)
        if declared != len(raw):
            raise _refuse(f"array of shape {shape} declares {declared} bytes, the file holds {len(raw)}")
        array = _reconstruct(np.ndarray, (0,), b"b")
        array.__setstate__((1, shape, dtype, fortran, raw))
        self.array = array


def from_buffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """`numpy._core.numeric._frombuffer` (pickle protocol 5), with the byte count checked first."""
    dtype = _dtype(dtype)
    try:
        held = memoryview(buffer).nbytes
    except TypeError:
        raise _refuse(f"array buffer of {type(buffer).__name__}") from None
    declared = _n_bytes(shape, dtype)
    if declared != held or order not in ("C", "F"):
        raise _refuse(f"array of shape {shape!r:.80} declares {declared} bytes, the file holds {held}")
    return _frombuffer(buffer, dtype, shape, order)


def make_scalar(dtype: Any, data: Any = None) -> Any:
    """`numpy._core.multiarray.scalar`: a number from exactly its dtype's bytes."""
    dtype = _dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise _refuse(f"{dtype} scalar from {type(data).__name__}")
    return scalar(dtype, data)


#: (module, name) -> stand-in, under numpy 1.x and 2.x module names
NUMPY_NAMES: dict[tuple[str, str], Any] = {("numpy", "ndarray"): ARRAY_TYPE, ("numpy", "dtype"): PendingDtype}
for _pkg in ("numpy.core", "numpy._core"):
    NUMPY_NAMES[(f"{_pkg}.multiarray", "_reconstruct")] = ArrayBuilder
    NUMPY_NAMES[(f"{_pkg}.multiarray", "scalar")] = make_scalar
    NUMPY_NAMES[(f"{_pkg}.numeric", "_frombuffer")] = from_buffer


def finish(item: Any) -> Any:
    """`item` with every stand-in replaced by what it built (containers changed in place; the caller
    has bounded their depth and size)."""
    if isinstance(item, ArrayBuilder):
        if item.array is None:
            raise _refuse("array without its data")
        return item.array
    if isinstance(item, PendingDtype):
        return item.build()
    if isinstance(item, dict):
        for key, value in item.items():
            item[key] = finish(value)
    elif isinstance(item, list):
        item[:] = [finish(v) for v in item]
    elif isinstance(item, tuple):
        return tuple(finish(v) for v in item)
    return item
