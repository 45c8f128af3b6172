"""An encoder adapted to a router's routes: a fine-tuned copy of a sentence-transformers model in a folder.

The folder is what `semantic_router.quality.adapt.adapt_encoder` writes: the model in safetensors, its
tokenizer and pooling config, and `adapted.json` (the manifest: base model, the adapted model's name, a
sha256 over every file, what training did). Loading checks the manifest and the digest before anything is
built, accepts only sentence-transformers' own module types and safetensors weights (a pickled
`pytorch_model.bin` could run code), and never reaches for a hub. The encoder's name is the base model's
plus the digest, so a router or shared state made with one adaptation never mixes with another's vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from semantic_router.encoders.huggingface import DEFAULT_THRESHOLDS, HuggingFaceEncoder
from semantic_router.errors import EncoderError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["MANIFEST", "AdaptedEncoder", "Manifest", "copy_model_dir", "read_manifest", "write_model_dir"]

MANIFEST = "adapted.json"
FORMAT = "semantic-router/adapted-encoder"
VERSION = 1
#: the only module classes a model folder may name in its modules.json (sentence-transformers imports them):
#: sentence-transformers' own, under any of its module paths (they moved between versions)
_MODULE_CLASSES = frozenset({"Transformer", "Pooling", "Normalize", "Dense"})
_UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".h5", ".msgpack")


class Manifest(BaseModel):
    """`adapted.json`: what the folder holds and how it was made."""

    model_config = ConfigDict(extra="forbid", strict=True)

    format: str = FORMAT
    version: int = Field(default=VERSION, ge=1, le=VERSION)
    name: str = Field(min_length=1, max_length=300)
    base: str = Field(min_length=1, max_length=300)
    dimensions: int = Field(ge=1, le=65536)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    score_threshold: float = Field(ge=-1.0, le=1.0, allow_inf_nan=False)
    training: dict[str, Any] = Field(default_factory=dict)


def folder_digest(folder: Path) -> str:
    """sha256 over every file of the folder but the manifest: relative path and content, in sorted order."""
    h = hashlib.sha256()
    for p in sorted(q for q in folder.rglob("*") if q.is_file() and q.name != MANIFEST):
        rel = p.relative_to(folder).as_posix()
        h.update(rel.encode() + b"\0")
        with p.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def read_manifest(folder: str | os.PathLike[str]) -> Manifest:
    """The folder's manifest, validated (EncoderError naming the folder when it is missing or bad)."""
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EncoderError(f"{str(folder)!r} is not an adapted encoder folder (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise EncoderError(f"cannot read {str(path)!r}: {exc}") from None
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        raise EncoderError(f"{str(path)!r} is not a valid adapted-encoder manifest: "
                           f"{'; '.join(e['msg'] for e in exc.errors())}") from None
    if manifest.format != FORMAT:
        raise EncoderError(f"{str(path)!r} is not an adapted-encoder manifest (format {manifest.format!r})")
    return manifest


def check_folder(folder: Path, manifest: Manifest) -> None:
    """Before loading: no pickled weights, only known module types, every file as the digest says."""
    unsafe = sorted(p.name for p in folder.rglob("*") if p.suffix.lower() in _UNSAFE_SUFFIXES)
    if unsafe:
        raise EncoderError(f"adapted encoder {str(folder)!r} holds pickled files ({', '.join(unsafe[:3])}): "
                           "only safetensors weights are loaded")
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        types = {m["type"] for m in modules}
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise EncoderError(f"adapted encoder {str(folder)!r}: unreadable modules.json ({exc})") from None
    foreign = sorted(t for t in types if not (isinstance(t, str) and t.startswith("sentence_transformers.")
                                              and t.rpartition(".")[2] in _MODULE_CLASSES))
    if foreign:
        raise EncoderError(f"adapted encoder {str(folder)!r} names module types this library does not load: {foreign}")
    if folder_digest(folder) != manifest.digest:
        raise EncoderError(f"adapted encoder {str(folder)!r} does not match its manifest's digest "
                           "(files changed or corrupt)")


class AdaptedEncoder(HuggingFaceEncoder):
    """A folder written by `adapt_encoder`: same model size and query cost as its base, its own name.

    `name` is ``<base>+adapted-<12 hex digits of the digest>``; `base` names the model it was tuned from.
    Passing `name=` checks the folder is that adaptation (a config or saved router names it)."""

    type = "adapted"

    def __init__(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        score_threshold: float | None = None,
        cache_size: int = 4096,
        show_progress: bool | None = None,
    ) -> None:
        folder = Path(path)
        manifest = read_manifest(folder)
        if name is not None and name != manifest.name:
            raise EncoderError(f"the adapted encoder in {str(folder)!r} is {manifest.name!r}, not {name!r}")
        super().__init__(name=manifest.name, model_path=folder, device=device, batch_size=batch_size,
                         score_threshold=manifest.score_threshold if score_threshold is None else score_threshold,
                         cache_size=cache_size, show_progress=show_progress)
        self.path = folder
        self.manifest = manifest
        self.base = manifest.base

    @property
    def dimensions(self) -> int:
        return self.manifest.dimensions

    def _load(self) -> SentenceTransformer:
        check_folder(self.path, self.manifest)
        return super()._load()

    def use_model(self, model: SentenceTransformer) -> None:
        """Serve with `model`, already in memory (the one just trained and saved here): no reload."""
        with self._load_lock:
            self._model = model

    def spec(self) -> dict[str, Any]:
        return {"type": self.type, "path": str(self.path), "name": self.name}

    def __repr__(self) -> str:
        return f"AdaptedEncoder(name={self.name!r}, base={self.base!r}, path={str(self.path)!r})"


def _fresh_temp(target: Path) -> Path:
    return target.parent / f".{target.name}.{os.getpid()}.{time.monotonic_ns()}.tmp-dir"


def _swap_in(tmp: Path, target: Path) -> None:
    """Rename the finished folder `tmp` to `target`; an old `target` is moved aside first and removed."""
    old = None
    if target.exists():
        old = _fresh_temp(target)
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except OSError:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_model_dir(model: SentenceTransformer, target: str | os.PathLike[str], base: str,
                    training: dict[str, Any]) -> Manifest:
    """Save `model` as an adapted-encoder folder at `target`, atomically: written under a temporary name
    beside it, then renamed (a reader sees the old folder or the new one, never half of one)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _fresh_temp(target)
    try:
        model.save(str(tmp), safe_serialization=True, create_model_card=False)  # a model card is prose, not model
        digest = folder_digest(tmp)
        size = model.get_embedding_dimension()
        if size is None:
            raise EncoderError("the adapted model does not report its vector size")
        manifest = Manifest(name=f"{base}+adapted-{digest[:12]}", base=base, dimensions=int(size), digest=digest,
                            score_threshold=DEFAULT_THRESHOLDS.get(base, 0.5), training=training)
        (tmp / MANIFEST).write_text(json.dumps(manifest.model_dump(mode="json"), indent=2), encoding="utf-8")
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def copy_model_dir(source: Path, target: Path) -> None:
    """Copy an adapted-encoder folder to `target` atomically (kept as is when `target` already is that model)."""
    manifest = read_manifest(source)
    try:
        if read_manifest(target).digest == manifest.digest:
            return
    except EncoderError:
        pass
    tmp = _fresh_temp(target)
    try:
        shutil.copytree(source, tmp)
        _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
