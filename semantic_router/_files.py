"""Atomic file writes: a reader sees the old file or the new one, never a half-written one.

Every writer of the package goes through here. Data goes to a uniquely named temporary file in
the target's folder, is flushed and fsynced, then `os.replace`d over the target (and the folder
fsynced so the rename survives a crash). A failing or interrupted write leaves the old file
byte-identical and removes its temporary file; concurrent writers to one path never collide.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["TEMP_PREFIX", "atomic_open", "atomic_write"]

#: temporary files are named ``.<target name>.<pid>.<random>.tmp`` (hidden, next to the target)
TEMP_PREFIX = "."


def _read_umask() -> int:
    """The process umask (read once: setting it back and forth later would race with other threads)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _mode_for(target: Path) -> int:
    """Permissions of the new file: the old file's, else what `open()` would have given it."""
    try:
        return target.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_UMASK


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's) or cannot tell: keep its file
    return True


def _sweep(target: Path) -> None:
    """Remove temporary files of `target` left by writers killed mid-write (their process is gone).

    Files of live writers (this process included) are kept, so concurrent saves never lose theirs."""
    pattern = re.compile(rf"{re.escape(TEMP_PREFIX + target.name)}\.(\d+)\.[A-Za-z0-9_]+\.tmp")
    try:
        names = [p.name for p in target.parent.iterdir()]
    except OSError:
        return
    for name in names:
        found = pattern.fullmatch(name)
        if found and int(found.group(1)) != os.getpid() and not _pid_alive(int(found.group(1))):
            with contextlib.suppress(OSError):
                (target.parent / name).unlink()


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file for writing that replaces `path` when the block ends without error.

    `mode` is "wb" or "w" (text, `encoding` defaulting to UTF-8). If the block raises, `path` is
    untouched and the temporary file is removed; files left by writers that were killed mid-write
    are removed by the next write to the same path."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', got {mode!r}")
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"cannot write {str(target)!r}: it is a folder")
    folder = target.parent
    _sweep(target)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{target.name}.{os.getpid()}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, _mode_for(target))  # mkstemp makes 0600 files
        with os.fdopen(fd, mode, encoding=(encoding or "utf-8") if mode == "w" else None) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(folder)


def atomic_write(path: str | Path, data: bytes | str, encoding: str = "utf-8") -> Path:
    """Write `data` (bytes, or text encoded with `encoding`) to `path` atomically; returns the path."""
    if isinstance(data, str):
        data = data.encode(encoding)
    elif not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"atomic_write takes bytes or str, got {type(data).__name__}")
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)
