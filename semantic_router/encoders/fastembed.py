"""Dense encoder on `fastembed` (ONNX Runtime, no torch at encode time), offline by default.

With no arguments it serves the bundled all-MiniLM-L6-v2: the sentence-transformers checkpoint is
exported to ONNX once with torch's exporter into a user cache directory, the tokenizer is copied
beside it, and the result is registered with fastembed as a local custom model. Later runs reuse
the export (a marker records the source fingerprint). A file lock plus an atomic rename keep two
processes exporting at once from corrupting it. Nothing here reaches a model hub.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from semantic_router.extras import install_hint
from semantic_router.encoders.base import InputType, LocalModelEncoder
from semantic_router.encoders.huggingface import (
    DEFAULT_MODEL,
    DEFAULT_THRESHOLDS,
    bundled_model_path,
)
from semantic_router.errors import EncoderError

_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
EXPORT_VERSION = 1  # bump when the export recipe changes, so caches are rebuilt
MARKER = "export.json"
ONNX_FILE = "model.onnx"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "config.json")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
LOCK_TIMEOUT = 900.0  # seconds to wait for another process's export
#: exports done by this process; tests read it to prove the cache is reused
export_count = 0


def cache_root() -> Path:
    """`$SEMANTIC_ROUTER_CACHE`, else the platform's user cache dir (~/.cache/semantic_router)."""
    env = os.environ.get("SEMANTIC_ROUTER_CACHE")
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs

        return Path(platformdirs.user_cache_dir("semantic_router"))
    except ImportError:
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "semantic_router"


def _fingerprint(source: Path) -> str:
    """Hash of the recipe version and every source file's path, size and mtime (cheap, no reading)."""
    digest = hashlib.sha256(f"export-v{EXPORT_VERSION}|{source.resolve()}".encode())
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"|{path.relative_to(source)}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return digest.hexdigest()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _valid(target: Path, fingerprint: str) -> bool:
    marker = _read_json(target / MARKER)
    onnx = target / ONNX_FILE
    return (marker.get("fingerprint") == fingerprint and onnx.is_file()
            and onnx.stat().st_size == marker.get("onnx_bytes"))


def ensure_export(source: Path) -> Path:
    """Directory holding the ONNX export of the checkpoint at `source`; exports it on first use."""
    source = Path(source)
    fingerprint = _fingerprint(source)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", source.name if source.name != "model" else source.parent.name)
    target = cache_root() / "onnx" / f"{slug}-{fingerprint[:16]}"
    if _valid(target, fingerprint):
        return target
    from filelock import FileLock, Timeout

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(target) + ".lock", timeout=LOCK_TIMEOUT):
            if _valid(target, fingerprint):  # another process exported it while we waited
                return target
            for leftover in target.parent.glob(target.name + ".tmp-*"):  # crashed earlier exports
                shutil.rmtree(leftover, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
            tmp.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary readable directory
            try:
                info = export_onnx(source, tmp)
                info["fingerprint"] = fingerprint
                (tmp / MARKER).write_text(json.dumps(info, indent=2), encoding="utf-8")  # written last
                if target.exists():
                    shutil.rmtree(target)  # stale or half-written by an old version
                os.replace(tmp, target)  # atomic: readers see no directory or a complete one
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except Timeout as exc:
        raise EncoderError(f"timed out after {LOCK_TIMEOUT:g}s waiting for another export into {target}") from exc
    return target


def export_onnx(source: Path, out: Path) -> dict[str, Any]:
    """Export a (sentence-)transformers checkpoint to `out/model.onnx` with its tokenizer; return facts."""
    global export_count
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import onnxruntime as ort
        import torch
        from transformers import AutoModel
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise EncoderError("exporting the model to ONNX needs torch and transformers, the 'local' extra: "
                           f"{install_hint('local', 'fastembed')}") from exc

    model = AutoModel.from_pretrained(str(source), local_files_only=True).eval()

    class HiddenStates(torch.nn.Module):
        """The encoder with one output, last_hidden_state, so pooling happens in fastembed."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    ids = torch.randint(1000, 2000, (2, 16), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    sample = (ids, mask, torch.zeros_like(ids))
    axes = {name: {0: "batch", 1: "sequence"} for name in (*_INPUTS, "last_hidden_state")}
    onnx_path = out / ONNX_FILE
    options = dict(input_names=list(_INPUTS), output_names=["last_hidden_state"], dynamic_axes=axes,
                   opset_version=18)
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # silence "torchvision is not installed" chatter
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            try:
                torch.onnx.export(HiddenStates(model), sample, str(onnx_path), dynamo=True, external_data=False,
                                  verbose=False, **options)
            except Exception:  # older torch, or a model torch.export cannot trace: the TorchScript exporter
                torch.onnx.export(HiddenStates(model), sample, str(onnx_path), dynamo=False, **options)
        finally:
            exporter_log.setLevel(level)
        expected = model(input_ids=sample[0], attention_mask=sample[1], token_type_ids=sample[2])
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {n: t.numpy() for n, t in zip(_INPUTS, sample)})[0]
    error = float(np.abs(got - expected.last_hidden_state.numpy()).max())
    if error > 1e-3:
        raise EncoderError(f"ONNX export of {source} disagrees with torch (max abs error {error:.2g})")

    _copy_tokenizer(source, out)
    pooling = _read_json(source / "1_Pooling" / "config.json")
    export_count += 1
    return {
        "source": str(source),
        "dimensions": int(model.config.hidden_size),
        "pooling": "CLS" if pooling.get("pooling_mode_cls_token") else "MEAN",
        "onnx_bytes": onnx_path.stat().st_size,
        "onnx_sha256": hashlib.sha256(onnx_path.read_bytes()).hexdigest(),
        "torch": torch.__version__,
        "max_abs_error": error,
    }


def _copy_tokenizer(source: Path, out: Path) -> None:
    """Copy tokenizer files; cap model_max_length at sentence-transformers' max_seq_length (256 for MiniLM)."""
    for name in _TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, out / name)
    max_seq = _read_json(source / "sentence_bert_config.json").get("max_seq_length")
    config_path = out / "tokenizer_config.json"
    if max_seq and config_path.is_file():
        config = _read_json(config_path)
        config["model_max_length"] = min(int(max_seq), int(config.get("model_max_length") or max_seq))
        config_path.write_text(json.dumps(config), encoding="utf-8")


class FastEmbedEncoder(LocalModelEncoder):
    """fastembed `TextEmbedding` on the bundled model (default), a local directory, or a fastembed model name."""

    type = "fastembed"

    def __init__(
        self,
        name: str | None = None,
        model_path: str | os.PathLike[str] | None = None,
        batch_size: int = 64,
        threads: int | None = None,
        score_threshold: float | None = None,
        cache_size: int = 4096,
    ) -> None:
        """`model_path`: an ONNX directory (model.onnx + tokenizer) or a checkpoint to export; `name` alone:
        a model from fastembed's catalogue (downloaded by fastembed unless already cached)."""
        super().__init__(cache_size=cache_size)
        if name is None and model_path is None or name in _ALIASES:
            name = DEFAULT_MODEL
        self.name = name or Path(model_path).name  # type: ignore[arg-type]
        self.model_path = str(model_path) if model_path is not None else None
        self.batch_size = batch_size
        self.threads = threads
        self.score_threshold = score_threshold if score_threshold is not None else DEFAULT_THRESHOLDS.get(self.name, 0.5)
        self._dims: int | None = 384 if self.name == DEFAULT_MODEL and self.model_path is None else None

    def _load(self) -> Any:
        try:
            from fastembed import TextEmbedding
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise EncoderError(f"FastEmbedEncoder needs the 'fastembed' extra: {install_hint('fastembed')}") from exc
        if self.model_path is None and self.name != DEFAULT_MODEL:
            try:
                model = TextEmbedding(model_name=self.name, threads=self.threads)
            except Exception as exc:
                raise EncoderError(f"fastembed could not load model {self.name!r}: {exc}") from exc
            self._dims = int(model.model_description.dim)
            return model
        source = Path(self.model_path) if self.model_path else bundled_model_path()
        onnx_dir = source if (source / ONNX_FILE).is_file() else ensure_export(source)
        registered = self._register(TextEmbedding, onnx_dir)
        try:
            return TextEmbedding(model_name=registered, specific_model_path=str(onnx_dir), threads=self.threads,
                                 local_files_only=True)
        except Exception as exc:
            raise EncoderError(f"fastembed could not load the ONNX model in {onnx_dir}: {exc}") from exc

    def _register(self, text_embedding: Any, onnx_dir: Path) -> str:
        """Register `onnx_dir` as a fastembed custom model (once per process); return its name."""
        from fastembed.common.model_description import ModelSource, PoolingType

        info = _read_json(onnx_dir / MARKER)
        dims = int(info.get("dimensions") or _read_json(onnx_dir / "config.json").get("hidden_size") or 0)
        if not dims:
            raise EncoderError(f"cannot tell the vector size of {onnx_dir}: no {MARKER} or config.json hidden_size")
        self._dims = dims
        key = hashlib.sha256(str(onnx_dir.resolve()).encode()).hexdigest()[:12]
        name = f"semantic-router/{onnx_dir.name[:40]}-{key}"
        if not any(m["model"].lower() == name.lower() for m in text_embedding.list_supported_models()):
            text_embedding.add_custom_model(
                model=name, pooling=PoolingType(info.get("pooling", "MEAN")), normalization=True,
                sources=ModelSource(hf=name), dim=dims, model_file=ONNX_FILE,
                output_name="last_hidden_state" if info else None,  # our exports name their output
                description=f"local ONNX export in {onnx_dir}",
            )
        return name

    @property
    def dimensions(self) -> int:
        if self._dims is None:
            _ = self.model
        return int(self._dims)  # type: ignore[arg-type]

    def _encode(self, texts: list[str], input_type: InputType) -> np.ndarray:
        return np.asarray(list(self.model.embed(texts, batch_size=self.batch_size)), dtype=np.float32)

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "name": self.name}
        if self.model_path is not None:
            out["model_path"] = self.model_path
        return out

