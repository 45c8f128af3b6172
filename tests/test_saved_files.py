"""Saved routers: loading imports nothing the file names, corruption is caught by the digest,
bad vectors and rule state are refused at load, and the format follows the file's suffix."""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from semantic_router import Route, RouteLayer
from semantic_router._saved import MAGIC, SAVED_FORMAT, decode_saved, encode_saved
from semantic_router.errors import ConfigError
from tests.hash_encoder import HashEncoder

QUERIES = ["hello my friend", "good morning to you", "goodbye then", "see you", "what about cheese",
           "later friend", "morning", "hello goodbye"]
ROOT = Path(__file__).resolve().parent.parent


def small_router(**kwargs) -> RouteLayer:
    routes = [Route(name="greet", utterances=["hello there", "good morning", "hi friend"]),
              Route(name="bye", utterances=["goodbye friend", "see you later"], score_threshold=0.2)]
    return RouteLayer(encoder=HashEncoder(), routes=routes, **kwargs)


def decisions(rl: RouteLayer) -> list[tuple[str | None, float | None]]:
    return [(c.name, c.similarity_score) for c in (rl(q) for q in QUERIES)]


def payload_of(path: Path) -> dict:
    return decode_saved(path.read_bytes(), str(path))


def test_loading_never_imports_a_module_the_file_names(tmp_path):
    """A 28-byte pickle naming numpy.f2py.__main__ ran numpy's f2py tool: the module was imported
    before its class was checked. Now the (module, name) pair is refused before any import."""
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"cnumpy.f2py.__main__\ndtype\n.")
    code = ("import sys\nfrom semantic_router import RouteLayer\nfrom semantic_router.errors import ConfigError\n"
            "before = set(sys.modules)\n"
            f"try:\n    RouteLayer.load({str(evil)!r})\nexcept ConfigError as exc:\n    print('refused:', exc)\n"
            "print('imported:', sorted(set(sys.modules) - before), 'numpy.f2py.__main__' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "refused: " in out.stdout and "numpy.f2py.__main__.dtype" in out.stdout
    assert "imported: [] False" in out.stdout  # loading imported no module at all
    assert "f2py" not in out.stdout.split("refused:")[0]  # the tool printed nothing


@pytest.mark.parametrize("module, name", [("os", "system"), ("numpy", "load"), ("numpy.f2py", "dtype"),
                                          ("builtins", "eval"), ("semantic_router.route", "Route")])
def test_any_global_outside_the_allow_list_is_refused(tmp_path, module, name):
    path = tmp_path / "evil.pkl"
    path.write_bytes(f"c{module}\n{name}\n.".encode())
    with pytest.raises(ConfigError, match=f"refusing to load {module}.{name}"):
        RouteLayer.load(path)


def test_saved_files_carry_a_digest_and_legacy_files_still_load(tmp_path):
    rl = small_router()
    path = tmp_path / "r.pkl"
    rl.save(path)
    raw = path.read_bytes()
    assert raw.startswith(MAGIC + b"v2 sha256=")
    header, body = raw.split(b"\n", 1)
    assert header.endswith(hashlib.sha256(body).hexdigest().encode())
    # a version-1 file: the bare pickle, no header
    legacy = pickle.loads(body)
    legacy["version"] = 1
    old = tmp_path / "old.pkl"
    old.write_bytes(pickle.dumps(legacy, protocol=5))
    assert decisions(RouteLayer.load(old, encoder=HashEncoder())) == decisions(rl)
    # a bare pickle claiming version 2 lost its header: refused
    legacy["version"] = 2
    old.write_bytes(pickle.dumps(legacy, protocol=5))
    with pytest.raises(ConfigError, match="corrupt"):
        RouteLayer.load(old, encoder=HashEncoder())


@pytest.mark.parametrize("rule", ["classifier", "knn"])
def test_every_corrupted_byte_is_refused_or_harmless(tmp_path, rule):
    """Flip bytes of a small saved router one at a time (60 positions spread over the file and its
    header): each corrupted file raises ConfigError or routes exactly as the original."""
    rl = small_router(rule=rule)
    path = tmp_path / "r.pkl"
    rl.save(path)
    expected = decisions(RouteLayer.load(path, encoder=HashEncoder()))
    raw = path.read_bytes()
    positions = sorted(set(range(40)) | set(np.linspace(40, len(raw) - 1, 20).astype(int).tolist()))
    bad = tmp_path / "bad.pkl"
    refused = 0
    for pos in positions:
        data = bytearray(raw)
        data[pos] ^= 0x5A
        bad.write_bytes(bytes(data))
        try:
            loaded = RouteLayer.load(bad, encoder=HashEncoder())
        except ConfigError:
            refused += 1
            continue
        assert decisions(loaded) == expected, f"byte {pos} changed routing silently"
    assert refused == len(positions)  # the digest catches every one of them


def saved(folder: Path, **kwargs) -> tuple[RouteLayer, Path, dict]:
    """A small router saved in `folder`, its file, and the payload read back from it."""
    rl = small_router(**kwargs)
    path = folder / "r.pkl"
    rl.save(path)
    return rl, path, payload_of(path)


def write_payload(path: Path, payload: dict) -> Path:
    """A file with a VALID digest around a tampered payload (so only the load checks can refuse it)."""
    path.write_bytes(encode_saved({k: v for k, v in payload.items() if k not in ("format", "version")}))
    return path


@pytest.mark.parametrize("what, tamper, message", [
    ("nan vector", lambda p: p["records"]["dense"].__setitem__((0, 3), np.nan), "NaN or infinite"),
    ("inf vector", lambda p: p["records"]["dense"].__setitem__((1, 0), np.inf), "NaN or infinite"),
    ("zero vector", lambda p: p["records"]["dense"].__setitem__(2, 0.0), "zero vector"),
    ("1-D vectors", lambda p: p["records"].__setitem__("dense", p["records"]["dense"][0]), "2-D float matrix"),
    ("int vectors", lambda p: p["records"].__setitem__("dense", p["records"]["dense"].astype(int)), "2-D float"),
    ("complex vectors", lambda p: p["records"].__setitem__("dense", p["records"]["dense"] * 1j), "2-D float"),
    ("short column", lambda p: p["records"]["ids"].pop(), "'ids' does not match"),
    ("wrong dimension", lambda p: p["records"].__setitem__("dense", p["records"]["dense"][:, :16]),
     "dimension 16"),
    ("missing vector", lambda p: [p["records"][k].pop(0) for k in ("ids", "routes", "utterances", "sparse",
                                                                   "metadata")]
     and p["records"].__setitem__("dense", p["records"]["dense"][1:]), "no stored vector"),
    ("nan sparse weight", lambda p: p["records"]["sparse"].__setitem__(0, {3: float("nan")}), "sparse vectors"),
    ("sparse not a mapping", lambda p: p["records"]["sparse"].__setitem__(0, [1, 2]), "sparse vectors"),
    ("route name not text", lambda p: p["records"]["routes"].__setitem__(0, 5), "must be strings"),
    ("rule arrays of another shape", lambda p: p["rule_state"]["arrays"].__setitem__(
        "bias", np.zeros(7, np.float32)), "fits neither"),
    ("nan rule weights", lambda p: p["rule_state"]["arrays"]["weights"].__setitem__((0, 0), np.nan),
     "NaN or infinite"),
    ("rule state of another rule", lambda p: p["rule_state"].__setitem__("name", "centroid"),
     "rule state is for rule 'centroid'"),
    ("rule state not a mapping", lambda p: p.__setitem__("rule_state", [1, 2]), "rule state is corrupt"),
    ("bad config value", lambda p: p["config"].__setitem__("top_k", "abc"), "top_k"),
])
def test_bad_content_is_refused_at_load(tmp_path, what, tamper, message):
    _, path, payload = saved(tmp_path)
    tamper(payload)
    write_payload(path, payload)
    with pytest.raises(ConfigError, match=message):
        RouteLayer.load(path, encoder=HashEncoder())


def test_saved_rule_state_is_used_without_retraining_unless_another_rule_is_asked_for(tmp_path):
    rl, path, payload = saved(tmp_path)
    assert payload["rule_state"]["name"] == "classifier" and payload["rule_state"]["arrays"]
    # tampered weights (digest recomputed) are served as saved: proof that the state was used, not retrained
    payload["rule_state"]["arrays"]["bias"] = payload["rule_state"]["arrays"]["bias"] + np.array([5, -5], np.float32)
    write_payload(path, payload)
    tampered = RouteLayer.load(path, encoder=HashEncoder())
    assert decisions(tampered) != decisions(rl)
    knn = RouteLayer.load(path, encoder=HashEncoder(), rule="knn")  # the caller's rule: state ignored
    assert knn.rule_name == "knn" and decisions(knn) == decisions(small_router(rule="knn"))


def test_tiny_and_huge_vectors_are_valid(tmp_path):
    rl, path, payload = saved(tmp_path)
    payload["records"]["dense"][0] *= 1e-30
    payload["records"]["dense"][1] *= 1e30
    write_payload(path, payload)
    assert decisions(RouteLayer.load(path, encoder=HashEncoder())) == decisions(rl)


def test_to_file_picks_the_format_by_suffix(tmp_path):
    rl = small_router()
    for name in ("r.pkl", "r.pickle", "R.PKL"):
        rl.to_file(tmp_path / name)
        assert (tmp_path / name).read_bytes().startswith(MAGIC)  # a pickle, not YAML
        encoder = HashEncoder()
        back = RouteLayer.from_file(tmp_path / name, encoder=encoder)
        assert encoder.calls == 0  # vectors came from the file
        assert decisions(back) == decisions(rl)
    rl.to_file(tmp_path / "r.yml")
    assert (tmp_path / "r.yml").read_text().startswith("format: semantic-router")
    for bad in ("r.txt", "r", "r.pkl.bak"):
        with pytest.raises(ConfigError, match=r"\.json, \.yaml/\.yml .* \.pkl/\.pickle"):
            rl.to_file(tmp_path / bad)
        (tmp_path / bad).write_text("{}")
        with pytest.raises(ConfigError, match="cannot tell the format"):
            RouteLayer.from_file(tmp_path / bad, encoder=HashEncoder())
    assert not (tmp_path / "r.txt.tmp").exists()


def test_explicit_format_readers_ignore_the_suffix(tmp_path):
    rl = small_router()
    rl.to_json(tmp_path / "r.conf")
    assert RouteLayer.from_json(tmp_path / "r.conf", encoder=HashEncoder()).to_dict() == rl.to_dict()
    rl.to_yaml(tmp_path / "r.txt")
    assert RouteLayer.from_yaml(tmp_path / "r.txt", encoder=HashEncoder()).to_dict() == rl.to_dict()
    with pytest.raises(ConfigError, match="not valid JSON"):
        RouteLayer.from_json(tmp_path / "r.txt", encoder=HashEncoder())


@pytest.mark.parametrize("loader", [
    lambda p, **kw: RouteLayer.load(p / "r.pkl", **kw),
    lambda p, **kw: RouteLayer.from_file(p / "r.pkl", **kw),
    lambda p, **kw: RouteLayer.from_file(p / "r.yaml", **kw),
    lambda p, **kw: RouteLayer.from_yaml(p / "r.yaml", **kw),
    lambda p, **kw: RouteLayer.from_json(p / "r.json", **kw),
    lambda p, **kw: RouteLayer.from_dict(small_router().to_dict(), **kw),
    lambda p, **kw: RouteLayer.from_config(small_router().to_config(), **kw),
])
def test_warm_runs_the_encoder_once_before_returning(tmp_path, loader):
    rl = small_router()
    rl.save(tmp_path / "r.pkl")
    rl.to_yaml(tmp_path / "r.yaml")
    rl.to_json(tmp_path / "r.json")
    cold, warm = HashEncoder(), HashEncoder()
    loader(tmp_path, encoder=cold)
    loaded = loader(tmp_path, encoder=warm, warm=True)
    assert warm.calls == cold.calls + 1
    assert decisions(loaded) == decisions(rl)


def test_non_mapping_payloads_are_refused(tmp_path):
    path = tmp_path / "r.pkl"
    for payload in ([1, 2], {"format": SAVED_FORMAT, "version": 2}, "text"):
        path.write_bytes(pickle.dumps(payload))
        with pytest.raises(ConfigError):
            RouteLayer.load(path)


def test_a_pickle_memo_bomb_is_refused_before_anything_walks_it(tmp_path):
    """Nine nested levels of one shared list: 354 bytes of pickle, 10**9 elements once walked
    (the route metadata check would json-dump all of them)."""
    bomb = ["lol"] * 10
    for _ in range(8):
        bomb = [bomb] * 10
    routes = [{"name": "x", "utterances": ["y"], "metadata": {"m": bomb}}]
    path = tmp_path / "bomb.pkl"
    path.write_bytes(encode_saved({"config": {"routes": routes}, "records": {}}))
    with pytest.raises(ConfigError, match="expands far beyond its"):
        RouteLayer.load(path, encoder=HashEncoder())
    deep: list = []
    for _ in range(200):
        deep = [deep]
    path.write_bytes(encode_saved({"config": {"routes": [], "extra": {"d": deep}}, "records": {}}))
    with pytest.raises(ConfigError, match="nested deeper than"):
        RouteLayer.load(path, encoder=HashEncoder())


def test_files_saved_with_the_old_id_scheme_load_with_todays_ids(tmp_path):
    from semantic_router.ids import legacy_record_id, record_id

    rl, path, payload = saved(tmp_path)
    cols = payload["records"]
    cols["ids"] = [legacy_record_id(r, u) for r, u in zip(cols["routes"], cols["utterances"])]
    write_payload(path, payload)
    loaded = RouteLayer.load(path, encoder=HashEncoder())
    assert {r.id for r in loaded.index.records()} == {record_id(r, u) for r, u in zip(cols["routes"], cols["utterances"])}
    assert decisions(loaded) == decisions(rl)
