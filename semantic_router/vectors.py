"""Vectors: the plain data encoders produce and indexes store (shared by both sides, so the index never
imports an encoder): the array types dense vectors and scores travel as, `SparseVector`, and the byte
layouts dense vectors are stored in (float32, float16, float64, bfloat16)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

#: dense vectors, (n, d) float32 rows: what a dense encoder returns and an index stores
Vectors: TypeAlias = npt.NDArray[np.float32]
#: float arrays of any precision (scores, sums): numpy's arithmetic types its results as `floating[Any]`
Floats: TypeAlias = npt.NDArray[np.floating[Any]]
#: integer arrays (route codes, ranks, indices) of any width
Ints: TypeAlias = npt.NDArray[np.integer[Any]]
#: boolean masks (which routes pass)
Bools: TypeAlias = npt.NDArray[np.bool_]
#: object arrays of exact strings (record ids, route names: a str array would drop trailing NULs)
Objects: TypeAlias = npt.NDArray[np.object_]

#: storage types of dense vectors (RediSearch's VECTOR TYPE names, lower case) -> little-endian numpy dtype;
#: bfloat16 is stored as the upper 16 bits of a float32, which numpy has no type for
VECTOR_DTYPES = {"float32": "<f4", "float16": "<f2", "float64": "<f8", "bfloat16": "<u2"}


def check_vector_dtype(dtype: Any) -> str:
    """A dense-vector storage type (case-insensitive), or a ValueError naming the supported ones."""
    name = dtype.lower() if isinstance(dtype, str) else dtype
    if name not in VECTOR_DTYPES:
        raise ValueError(f"vector dtype must be one of {sorted(VECTOR_DTYPES)}, got {dtype!r}")
    return name


def pack_dense(vector: Any, dtype: str = "float32") -> bytes:
    """A dense vector as the bytes of `dtype` (bfloat16: float32 rounded to nearest even, top 16 bits)."""
    arr = np.asarray(vector, dtype=np.float32)
    if dtype != "bfloat16":
        return arr.astype(VECTOR_DTYPES[dtype], copy=False).tobytes()
    bits = arr.astype("<f4").view("<u4").astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2").tobytes()


def unpack_dense(data: bytes, dtype: str = "float32") -> np.ndarray:
    """The float32 vector stored as `pack_dense(vector, dtype)`."""
    arr = np.frombuffer(data, dtype=VECTOR_DTYPES[dtype])
    if dtype == "bfloat16":
        return (arr.astype("<u4") << 16).view("<f4").astype(np.float32)
    return arr.astype(np.float32)


@dataclass(frozen=True)
class SparseVector:
    """A sparse vector as parallel index/value lists; the dot product of two is a similarity."""

    indices: tuple[int, ...] = ()
    values: tuple[float, ...] = ()
    _map: dict[int, float] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.indices) != len(self.values):
            raise ValueError(
                f"SparseVector needs as many indices as values, got {len(self.indices)} and {len(self.values)}"
            )
        self._map.update(zip(self.indices, self.values))

    @classmethod
    def from_dict(cls, pairs: Mapping[int, float]) -> SparseVector:
        """Build from `{index: weight}` pairs (the wire form remote indexes store)."""
        items = sorted((int(k), float(v)) for k, v in pairs.items())
        return cls(tuple(k for k, _ in items), tuple(v for _, v in items))

    def to_dict(self) -> dict[int, float]:
        return dict(self._map)

    def dot(self, other: SparseVector) -> float:
        small, large = (self, other) if len(self.indices) <= len(other.indices) else (other, self)
        return float(sum(v * large._map.get(i, 0.0) for i, v in zip(small.indices, small.values)))

    def __len__(self) -> int:
        return len(self.indices)


class SparseEmbedding(SparseVector):
    """aurelio's name and constructor for a sparse vector: `SparseEmbedding(embedding=array)` with
    one `[index, value]` row per non-zero entry. It is a `SparseVector`, so indexes store it as is."""

    def __init__(self, embedding: npt.ArrayLike | None = None, indices: Sequence[int] = (),
                 values: Sequence[float] = ()) -> None:
        if embedding is not None:
            arr = np.asarray(embedding, dtype=np.float64).reshape(-1, 2)
            indices, values = arr[:, 0].astype(np.int64).tolist(), arr[:, 1].tolist()
        super().__init__(tuple(int(i) for i in indices), tuple(float(v) for v in values))

    @property
    def embedding(self) -> Floats:
        """The `(n, 2)` array of `[index, value]` rows (aurelio's field)."""
        rows: Floats = np.array([self.indices, self.values], dtype=np.float64).T.reshape(-1, 2)
        return rows

    @classmethod
    def from_dict(cls, pairs: Mapping[int, float]) -> SparseEmbedding:
        items = sorted((int(k), float(v)) for k, v in pairs.items())
        return cls(indices=[k for k, _ in items], values=[v for _, v in items])

    @classmethod
    def from_compact_array(cls, array: npt.ArrayLike) -> SparseEmbedding:
        """From an `(n, 2)` array of `[index, value]` rows."""
        return cls(embedding=array)

    @classmethod
    def from_vector(cls, vector: npt.ArrayLike) -> SparseEmbedding:
        """From a dense 1-d array: its non-zero entries."""
        arr = np.asarray(vector).reshape(-1)
        nz = np.flatnonzero(arr)
        return cls(indices=nz.tolist(), values=arr[nz].tolist())

    @classmethod
    def from_sparse(cls, vector: SparseVector) -> SparseEmbedding:
        return cls(indices=vector.indices, values=vector.values)

    def to_pinecone(self) -> dict[str, list[int] | list[float]]:
        return {"indices": list(self.indices), "values": list(self.values)}
