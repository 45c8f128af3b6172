"""RedisVL's router data types (Route, RouteMatch, RoutingConfig, DistanceAggregationMethod) and
the vectorizer mapping, kept apart from the router so each file has one job.

Distances are cosine distances, `1 - cosine similarity`, as in RedisVL; the library underneath
works in similarities, and the conversions live here.
"""

from __future__ import annotations

import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, TypeAdapter, ValidationError, field_validator, model_validator

from semantic_router import Route as CoreRoute
from semantic_router.encoders import DenseEncoder, HuggingFaceEncoder
from semantic_router.index import VECTOR_DTYPES, pack_dense

__all__ = ["Route", "RouteMatch", "RoutingConfig", "DistanceAggregationMethod", "HFTextVectorizer",
           "DEFAULT_MODEL", "DistanceThreshold", "to_core_route", "from_core_route", "check_distance",
           "core_aggregation", "as_encoder", "vectorizer_dict", "check_redisvl_dtype", "vector_dtype"]

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"  # the bundled model (RedisVL defaults to all-mpnet-base-v2)
HF_TYPES = ("hf", "huggingface")  # vectorizer types that name a Hugging Face model
REDISVL_DTYPES = ("bfloat16", "float16", "float32", "float64", "int8", "uint8")  # RedisVL's VectorDataType

DistanceThreshold = Annotated[float, Field(strict=False, gt=0.0, le=2.0)]
_DISTANCE = TypeAdapter(DistanceThreshold)


def check_distance(value: Any, what: str) -> float:
    """A cosine distance threshold in (0, 2], or a ValueError naming the bad value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what}: distance_threshold must be a number in (0, 2], got {value!r}")
    try:
        return float(_DISTANCE.validate_python(value))
    except ValidationError:
        raise ValueError(f"{what}: distance_threshold must be in (0, 2], got {value!r}") from None


class Route(BaseModel):
    """A RedisVL route: a name, reference phrases and the largest distance a query may have."""

    model_config = ConfigDict(extra="forbid")

    name: str
    references: list[str]
    metadata: dict[str, Any] = Field(default_factory=dict)
    distance_threshold: DistanceThreshold = 0.5

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or not v.strip():
            raise ValueError("Route name must not be empty")  # RedisVL's words
        return v

    @field_validator("references")
    @classmethod
    def _references(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("References must not be empty")
        blank = [i for i, ref in enumerate(v) if not ref.strip()]
        if blank:
            raise ValueError(f"All references must be non-empty strings (empty or blank: reference {blank[0]})")
        return v


class RouteMatch(BaseModel):
    """The answer for one route: its name and aggregated distance; both None when nothing matched."""

    name: str | None = None
    distance: float | None = None


class DistanceAggregationMethod(Enum):
    """How the distances of a route's matching references combine into the route's distance."""

    avg = "avg"
    min = "min"
    sum = "sum"


class RoutingConfig(BaseModel):
    """How many routes `route_many` returns by default, and how distances are aggregated.

    Settings of later RedisVL versions (default_route, cost_optimization...) are refused rather
    than ignored; the long-deprecated `distance_threshold` is dropped with a warning, as in RedisVL."""

    model_config = ConfigDict(extra="forbid")

    max_k: Annotated[StrictInt, Field(gt=0)] = 1
    aggregation_method: DistanceAggregationMethod = DistanceAggregationMethod.avg

    @model_validator(mode="before")
    @classmethod
    def _deprecated_threshold(cls, data: Any) -> Any:
        if isinstance(data, dict) and "distance_threshold" in data:
            warnings.warn("RoutingConfig.distance_threshold is ignored: set distance_threshold per Route",
                          DeprecationWarning, stacklevel=2)
            data = {k: v for k, v in data.items() if k != "distance_threshold"}
        return data


# RedisVL aggregates distances; the library aggregates similarities (1 - distance) per route.
_AGGREGATIONS: dict[DistanceAggregationMethod, Literal["mean", "max"]] = {DistanceAggregationMethod.avg: "mean",
                                                              DistanceAggregationMethod.min: "max"}


def core_aggregation(method: Any) -> Literal["mean", "max"]:
    """The library's aggregation for a RedisVL method: avg -> mean, min -> max similarity.

    `sum` is refused: RedisVL sums the distances of a route's matching references (more
    matches make a larger distance), which no similarity aggregate reproduces."""
    try:
        method = DistanceAggregationMethod(method)
    except ValueError:
        raise ValueError(f"aggregation_method must be one of avg, min, sum; got {method!r}") from None
    if method not in _AGGREGATIONS:
        raise ValueError("aggregation_method 'sum' is not supported: RedisVL sums cosine distances, which grows "
                         "with the number of matching references and has no similarity equivalent; use avg or min")
    return _AGGREGATIONS[method]


def to_core_route(route: Any) -> CoreRoute:
    """This library's Route for a RedisVL Route (or its dict form)."""
    if isinstance(route, dict):
        route = Route.model_validate(route)
    if not isinstance(route, Route):
        raise TypeError(f"expected a redisvl-style Route, got {type(route).__name__}: {route!r:.80}")
    return CoreRoute.model_validate({"name": route.name, "utterances": list(route.references),
                                     "metadata": dict(route.metadata), "distance_threshold": route.distance_threshold})


def from_core_route(route: CoreRoute, default_similarity: float) -> Route:
    """A RedisVL Route for one of this library's routes (threshold shown as a distance)."""
    similarity = route.score_threshold if route.score_threshold is not None else default_similarity
    # 12 digits undo the float noise of 1 - (1 - d), so 0.71 reads back as 0.71
    return Route(name=route.name, references=list(route.utterances), metadata=dict(route.metadata),
                 distance_threshold=round(1.0 - similarity, 12))


# -- vectorizers -----------------------------------------------------------------------------
def check_redisvl_dtype(dtype: Any) -> str:
    """A vector dtype, checked as RedisVL checks it (its message); int8/uint8, which RedisVL accepts,
    are refused: unit vectors cast to integers are all but zero (use float16 or bfloat16 to halve storage)."""
    if not isinstance(dtype, str) or dtype.lower() not in REDISVL_DTYPES:
        raise ValueError(f"Invalid data type: {dtype}. Supported types are: {list(REDISVL_DTYPES)}")
    if dtype.lower() not in VECTOR_DTYPES:
        raise ValueError(f"dtype {dtype!r} is not supported: normalised embeddings cast to integers lose almost "
                         f"everything; use one of {sorted(VECTOR_DTYPES)} (float16 or bfloat16 halve the storage)")
    return dtype.lower()


def vector_dtype(encoder: Any) -> str:
    """The dtype an encoder's vectors are stored in: an HFTextVectorizer's own, float32 for the others."""
    return str(getattr(encoder, "dtype", "float32"))


class HFTextVectorizer(HuggingFaceEncoder):
    """RedisVL's `HFTextVectorizer(model=...)`: this library's HuggingFaceEncoder with RedisVL's
    vectorizer API (`embed`, `embed_many`, `dims`, `type == "hf"`; the model name is `name`, as
    `model` is the loaded model here).

    Without `model` it is the bundled all-MiniLM-L6-v2 (offline), not RedisVL's all-mpnet-base-v2;
    `model` may be a local folder of any sentence-transformers model (docs/migration.md). `dtype`
    is the type of `as_buffer` bytes and of the router's stored vectors, as in RedisVL."""

    type = "hf"

    def __init__(self, model: str = DEFAULT_MODEL, dtype: str = "float32", **kwargs: Any) -> None:
        self.dtype = check_redisvl_dtype(dtype)
        if Path(model).is_dir():  # a local copy of RedisVL's default model (or any other), used offline;
            kwargs.setdefault("model_path", model)  # its name stays the path, so to_dict/from_dict find it again
        super().__init__(name=str(model), **kwargs)

    @property
    def dims(self) -> int:
        return self.dimensions

    def embed(self, text: str, preprocess: Any = None, as_buffer: bool = False, **kwargs: Any) -> list[float] | bytes:
        """One text's vector (bytes of `dtype` with `as_buffer=True`), as RedisVL returns it."""
        if not isinstance(text, str):
            raise TypeError("Must pass in a str value to embed.")
        return self.embed_many([text], preprocess, as_buffer=as_buffer, **kwargs)[0]

    def embed_many(self, texts: list[str], preprocess: Any = None, batch_size: int = 10, as_buffer: bool = False,
                   **kwargs: Any) -> list[list[float]] | list[bytes]:
        """Vectors of several texts, in order."""
        if not isinstance(texts, list):
            raise TypeError("Must pass in a list of str values to embed.")
        dtype = self.dtype
        if "dtype" in kwargs:  # deprecated in RedisVL too
            warnings.warn("Argument dtype is deprecated and will be removed in the next major release.",
                          DeprecationWarning, stacklevel=2)
            dtype = check_redisvl_dtype(kwargs.pop("dtype"))
        items = [preprocess(t) for t in texts] if preprocess else texts
        vectors = self.encode(items)
        return [pack_dense(v, dtype) for v in vectors] if as_buffer else vectors.tolist()

    def spec(self) -> dict[str, Any]:
        return {**super().spec(), "type": HuggingFaceEncoder.type}  # configs name this library's encoder


def as_encoder(vectorizer: Any) -> DenseEncoder:
    """The dense encoder for a RedisVL `vectorizer` argument.

    Accepts None (bundled model), one of this library's DenseEncoders, a RedisVL vectorizer dict
    `{"type": "hf", "model": ...}`, or an object with `type == "hf"` and a `model` name (a RedisVL
    HFTextVectorizer), with its `dtype`. Anything else (remote vectorizers) raises a TypeError saying what to pass."""
    if vectorizer is None:
        return HFTextVectorizer()
    if isinstance(vectorizer, DenseEncoder):
        return vectorizer
    get = vectorizer.get if isinstance(vectorizer, dict) else lambda key: getattr(vectorizer, key, None)
    kind, model = get("type"), get("model")
    if kind in HF_TYPES and isinstance(model, str) and model:
        return HFTextVectorizer(model, dtype=get("dtype") or "float32")
    raise TypeError(
        f"unsupported vectorizer {vectorizer!r:.120}: only Hugging Face vectorizers (type 'hf') map to this "
        "library; for other providers pass one of semantic_router.encoders (e.g. OpenAIEncoder(), CohereEncoder())"
    )


def vectorizer_dict(encoder: DenseEncoder) -> dict[str, str]:
    """RedisVL's `{"type", "model"}` entry for an encoder (`hf` for Hugging Face models)."""
    kind = "hf" if isinstance(encoder, HuggingFaceEncoder) else encoder.type
    return {"type": kind, "model": encoder.name}
