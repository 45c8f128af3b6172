"""Atomic file writes: a failing, interrupted or concurrent write never leaves a half-written
file or a stray temporary file, and every writer of the package goes through them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from semantic_router import Route, RouteLayer
from semantic_router._files import atomic_open, atomic_write
from tests.hash_encoder import HashEncoder

OLD = b"the old content\n" * 100


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_atomic_write_replaces_and_keeps_permissions(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write(target, "first é")
    assert target.read_text(encoding="utf-8") == "first é"
    os.chmod(target, 0o640)
    atomic_write(target, b"second")
    assert target.read_bytes() == b"second"
    assert target.stat().st_mode & 0o777 == 0o640  # not mkstemp's 0600
    assert listing(tmp_path) == ["f.txt"]


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(TypeError, match="bytes or str"):
        atomic_write(tmp_path / "x", 5)
    with pytest.raises(ValueError, match="mode"), atomic_open(tmp_path / "x", "ab"):
        pass
    with pytest.raises(IsADirectoryError, match="folder"):
        atomic_write(tmp_path, b"x")
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "x", b"x")
    assert listing(tmp_path) == []


def test_a_writer_failing_midway_leaves_the_old_file(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(OLD)
    with pytest.raises(RuntimeError, match="serialiser broke"), atomic_open(target) as fh:
        fh.write(b"half of the new content")
        raise RuntimeError("serialiser broke")
    assert target.read_bytes() == OLD
    assert listing(tmp_path) == ["f.bin"]


def test_a_failing_rename_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    target.write_bytes(OLD)

    def broken(*args, **kwargs):
        raise OSError("disk unplugged")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk unplugged"):
        atomic_write(target, b"new")
    assert target.read_bytes() == OLD
    assert listing(tmp_path) == ["f.bin"]


def in_threads(jobs: list, repeat: int) -> list[BaseException]:
    """Run every job `repeat` times, each job in its own thread, all starting together: the errors."""
    start = threading.Barrier(len(jobs))

    def run(job) -> None:
        start.wait()
        for _ in range(repeat):
            job()

    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = [pool.submit(run, job) for job in jobs]
    return [f.exception() for f in futures if f.exception() is not None]


def test_concurrent_writes_to_one_path_never_raise(tmp_path):
    target = tmp_path / "f.bin"
    payloads = [bytes([i]) * 20_000 for i in range(8)]
    assert in_threads([lambda p=p: atomic_write(target, p) for p in payloads], repeat=20) == []
    assert target.read_bytes() in payloads  # one whole payload, never a mix
    assert listing(tmp_path) == ["f.bin"]


KILLED_WRITER = textwrap.dedent("""
    import sys, time
    from semantic_router._files import atomic_open
    with atomic_open(sys.argv[1]) as fh:
        fh.write(b"partial new content")
        fh.flush()
        print("writing", flush=True)
        time.sleep(60)
""")


def test_a_sigkilled_writer_leaves_the_old_file_and_the_next_write_cleans_up(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(OLD)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, env=env)
    assert proc.stdout.readline() == b"writing\n"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert target.read_bytes() == OLD
    leftovers = [n for n in listing(tmp_path) if n != "f.bin"]
    assert len(leftovers) == 1 and leftovers[0].startswith(f".f.bin.{proc.pid}.")  # the dead writer's file
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert listing(tmp_path) == ["f.bin"]


def test_a_live_writers_temporary_file_is_not_swept(tmp_path):
    target = tmp_path / "f.bin"
    with atomic_open(target) as fh:
        fh.write(b"slow writer")
        atomic_write(target, b"fast writer")  # sweeps only files of dead processes
        assert target.read_bytes() == b"fast writer"
    assert target.read_bytes() == b"slow writer"
    assert listing(tmp_path) == ["f.bin"]


# -- the package's writers --------------------------------------------------------------------------
@pytest.fixture()
def small_router():
    routes = [Route(name="greet", utterances=["hello there", "good morning"]),
              Route(name="bye", utterances=["goodbye friend", "see you later"])]
    return RouteLayer(encoder=HashEncoder(), routes=routes)


@pytest.mark.parametrize("name, write", [
    ("r.pkl", lambda rl, p: rl.save(p)),
    ("r.json", lambda rl, p: rl.to_json(p)),
    ("r.yaml", lambda rl, p: rl.to_yaml(p)),
    ("r.yml", lambda rl, p: rl.to_file(p)),
    ("r.pickle", lambda rl, p: rl.to_file(p)),
])
def test_router_writers_are_atomic(small_router, tmp_path, monkeypatch, name, write):
    target = tmp_path / name
    target.write_bytes(OLD)

    def broken(*args, **kwargs):
        raise OSError("rename failed")

    with monkeypatch.context() as m:
        m.setattr(os, "replace", broken)
        with pytest.raises(OSError, match="rename failed"):
            write(small_router, target)
    assert target.read_bytes() == OLD
    assert listing(tmp_path) == [name]
    write(small_router, target)
    assert RouteLayer.from_file(target, encoder=HashEncoder()).to_dict() == small_router.to_dict()
    assert listing(tmp_path) == [name]


def test_concurrent_saves_of_a_router_never_raise(small_router, tmp_path):
    target = tmp_path / "r.pkl"
    assert in_threads([lambda: small_router.save(target)] * 6, repeat=5) == []
    assert RouteLayer.load(target, encoder=HashEncoder()).to_dict() == small_router.to_dict()
    assert listing(tmp_path) == ["r.pkl"]


@pytest.mark.slow
def test_report_writers_are_atomic(small_router, tmp_path, monkeypatch):
    X = ["hello there friend", "goodbye my friend", "what is this"]
    y = ["greet", "bye", None]
    report = small_router.evaluate(X, y)
    fit_report = small_router.fit(X, y)
    targets = {"eval.json": lambda p: report.to_json(p), "fit.json": lambda p: fit_report.to_json(p),
               "plot.png": lambda p: report.plot(p)}
    for name in targets:
        (tmp_path / name).write_bytes(OLD)

    def broken(*args, **kwargs):
        raise OSError("rename failed")

    with monkeypatch.context() as m:
        m.setattr(os, "replace", broken)
        for name, write in targets.items():
            with pytest.raises(OSError, match="rename failed"):
                write(tmp_path / name)
    assert all((tmp_path / name).read_bytes() == OLD for name in targets)
    assert listing(tmp_path) == sorted(targets)
    for name, write in targets.items():
        write(tmp_path / name)
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b'"accuracy"' in (tmp_path / "eval.json").read_bytes()
    assert listing(tmp_path) == sorted(targets)


# -- no writer around the helper: library, CLI and benchmarks ----------------------------------------
ROOT = Path(__file__).resolve().parent.parent
#: files allowed to write directly: the helper itself; the ONNX export fills a private temporary folder
#: that is renamed into place whole (a folder, which atomic_write cannot do), and so does an adapted model
DIRECT_WRITERS = {"semantic_router/_files.py", "semantic_router/encoders/fastembed.py",
                  "semantic_router/encoders/adapted.py"}
SERIALISERS = {("np", "save"), ("np", "savez"), ("np", "savetxt"), ("json", "dump"), ("yaml", "dump"),
               ("yaml", "safe_dump"), ("pickle", "dump")}  # fine into a file handle from atomic_open
RAW = {("os", "fdopen"), ("os", "replace"), ("os", "rename"), ("tempfile", "mkstemp"), ("shutil", "copy"),
       ("shutil", "copy2"), ("shutil", "copyfile")}


def direct_writes(source: str) -> list[tuple[int, str]]:
    """Calls in `source` that write a file without going through `_files` (line, what)."""
    import ast

    tree = ast.parse(source)
    handles = {item.optional_vars.id for node in ast.walk(tree) if isinstance(node, (ast.With, ast.AsyncWith))
               for item in node.items if isinstance(item.optional_vars, ast.Name)
               and "atomic_open" in ast.unparse(item.context_expr)}
    handles |= {node.arg for node in ast.walk(tree) if isinstance(node, ast.arg) and node.annotation is not None
                and ast.unparse(node.annotation) in ("BinaryIO", "IO[bytes]", "TextIO")}  # a file given by the caller
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f, what = node.func, ""
        mode = next((k.value for k in node.keywords if k.arg == "mode"), node.args[1] if len(node.args) > 1 else None)
        writes = isinstance(mode, ast.Constant) and set(str(mode.value)) & set("wax+")
        if isinstance(f, ast.Attribute) and f.attr in ("write_text", "write_bytes", "savefig"):
            what = f.attr if not (node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in handles) else ""
        elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and (f.value.id, f.attr) in RAW:
            what = f"{f.value.id}.{f.attr}"
        elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and (f.value.id, f.attr) in SERIALISERS:
            targets = [a.id for a in node.args if isinstance(a, ast.Name)]
            if f.attr == "save" or len(node.args) > 1:  # np.save(file, arr), json.dump(obj, file)
                what = "" if set(targets) & handles else f"{f.value.id}.{f.attr}"
        elif (isinstance(f, ast.Name) and f.id == "open" or isinstance(f, ast.Attribute) and f.attr == "open") \
                and writes:
            what = "open for writing"
        if what:
            found.append((node.lineno, what))
    return found


def test_the_scan_finds_direct_writes():
    source = textwrap.dedent("""
        path.write_text("x"); open(p, "w"); p.open(mode="ab"); np.save("x.npy", a); os.replace(a, b)
        fig.savefig(path); json.dump(obj, fh)
        with atomic_open(path, "wb") as out:
            np.save(out, a); fig.savefig(out); json.dump(obj, out)
        open(p); p.read_text(); json.dumps(obj)
        def draw(res, image: BinaryIO):
            fig.savefig(image)
    """)
    assert [w for _, w in direct_writes(source)] == ["write_text", "open for writing", "open for writing", "np.save",
                                                     "os.replace", "savefig", "json.dump"]


@pytest.mark.slow
def test_library_cli_and_benchmarks_write_files_only_through_the_atomic_helper():
    found = {}
    for folder in ("semantic_router", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            if rel not in DIRECT_WRITERS and (hits := direct_writes(path.read_text(encoding="utf-8"))):
                found[rel] = hits
    assert found == {}
