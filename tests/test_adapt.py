"""An encoder adapted to the routes (issue 18 B): tiny adaptations end to end, saved and loaded offline, named,
and never loaded from a place a file or a shared state chooses."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from semantic_router import Route, RouteLayer
from semantic_router.encoders.adapted import MANIFEST, AdaptedEncoder, read_manifest
from semantic_router.encoders.huggingface import DEFAULT_MODEL, HuggingFaceEncoder
from semantic_router.errors import ConfigError, EncoderError, SyncError
from semantic_router.index.local import LocalIndex
from semantic_router.quality.adapt import adapt_encoder, adapted_router, training_groups
from semantic_router.quality.adapt_training import route_batches

ROUTES = [
    Route(name="billing", utterances=["my card was charged twice", "refund my last payment",
                                      "why is my invoice so high", "update my credit card"]),
    Route(name="travel", utterances=["book a flight to rome", "is my train on time",
                                     "find a hotel near the station", "cancel my plane ticket"]),
    Route(name="cooking", utterances=["how long to boil an egg", "a recipe for pancakes",
                                      "what spices go with lamb", "how do i bake bread"]),
]
QUERIES = ["charge on my card", "flight to paris", "recipe for soup"]
REPO = Path(__file__).resolve().parents[1]


def margin(encoder, routes=ROUTES) -> float:
    """Mean cosine within routes minus mean cosine across routes, over the routes' utterances."""
    texts = [u for r in routes for u in r.utterances]
    owner = np.array([i for i, r in enumerate(routes) for _ in r.utterances])
    v = encoder.encode(texts)
    sims = v @ v.T
    same = owner[:, None] == owner[None, :]
    off = ~np.eye(len(texts), dtype=bool)
    return float(sims[same & off].mean() - sims[~same].mean())


@pytest.fixture(scope="module")
def adapted(tmp_path_factory) -> AdaptedEncoder:
    folder = tmp_path_factory.mktemp("adapt") / "enc"
    return adapt_encoder(ROUTES, folder, epochs=3, batch_size=3, lr=1e-4, progress=False)


# -- fast: the parts without a model -------------------------------------------------------------------
def test_batches_hold_each_route_once_and_every_utterance_is_an_anchor_once():
    import random

    groups = {f"r{i}": [f"u{i}-{j}" for j in range(3 + i)] for i in range(5)}
    batches = route_batches(groups, 3, random.Random(0))
    anchors = [a for b in batches for a, _, _ in b]
    everything = {u for us in groups.values() for u in us}
    assert len(set(anchors)) == len(anchors) and set(anchors) <= everything
    # only a batch of one is dropped (no negative): here route r4's last 2 rounds, where it alone is left
    assert len(anchors) >= len(everything) - 2
    for b in batches:
        assert len({r for _, _, r in b}) == len(b) and 2 <= len(b) <= 3
        for a, p, r in b:
            assert a != p and a.startswith(f"u{r}-") and p.startswith(f"u{r}-")


def test_training_groups_add_labelled_texts_and_refuse_bad_input():
    groups = training_groups(ROUTES, (["send me a refund", "hello there"], ["billing", None]))
    assert groups["billing"][-1] == "send me a refund" and "hello there" not in sum(groups.values(), [])
    with pytest.raises(ValueError, match="nope"):
        training_groups(ROUTES, (["x"], ["nope"]))
    with pytest.raises(ValueError, match="at least 2 routes"):
        training_groups(ROUTES[:1])
    with pytest.raises(ValueError, match="epochs"):
        adapt_encoder(ROUTES, "unused", epochs=0)
    with pytest.raises(ValueError, match="loss"):
        adapt_encoder(ROUTES, "unused", loss="hinge")
    with pytest.raises(TypeError, match="local sentence-transformers"):
        adapt_encoder(RouteLayer(encoder=_hash(), routes=ROUTES), "unused")


def test_a_folder_without_a_valid_manifest_is_refused(tmp_path):
    with pytest.raises(EncoderError, match="no adapted.json"):
        AdaptedEncoder(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps({"format": "semantic-router/adapted-encoder", "name": "x"}))
    with pytest.raises(EncoderError, match="not a valid adapted-encoder manifest"):
        AdaptedEncoder(tmp_path)


def _hash():
    from tests.hash_encoder import HashEncoder

    return HashEncoder(384)


# -- slow: real adaptations of the bundled MiniLM ----------------------------------------------------
@pytest.mark.slow
def test_adapting_names_the_model_and_its_base_and_learns(adapted):
    assert adapted.base == DEFAULT_MODEL
    assert adapted.name.startswith(DEFAULT_MODEL + "+adapted-") and adapted.name == read_manifest(adapted.path).name
    training = adapted.manifest.training
    assert training["routes"] == 3 and training["texts"] == 12 and training["steps"] > 0
    assert training["loss_last"] < training["loss_first"]
    assert adapted.dimensions == 384
    # the routes' utterances are closer within and further across routes than with the frozen model
    assert margin(adapted) > margin(HuggingFaceEncoder()) + 0.02
    rl = adapted_router(RouteLayer(routes=ROUTES), adapted)
    assert rl.encoder is adapted and [c.name for c in rl.route_batch(QUERIES)] == ["billing", "travel", "cooking"]
    rl.close()


@pytest.mark.slow
def test_a_saved_router_carries_the_adapted_model_beside_it_and_loads_offline(adapted, tmp_path):
    rl = adapted_router(RouteLayer(routes=ROUTES), adapted)
    out = tmp_path / "saved" / "router.pkl"
    out.parent.mkdir()
    rl.save(out)
    assert (tmp_path / "saved" / "router.encoder" / MANIFEST).is_file()  # copied beside the file, atomically
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary left
    with out.open("rb") as f:
        f.readline()
        spec = pickle.load(f)["config"]["encoder"]
    assert spec == {"type": "adapted", "path": "router.encoder", "name": adapted.name}
    rl.to_file(out.with_suffix(".yaml"))  # a config beside it names the same folder, nothing copied again
    assert "path: router.encoder" in out.with_suffix(".yaml").read_text()
    # a fresh process, offline, from another working directory: same model, same vectors
    code = ("import sys, json; from semantic_router import RouteLayer\n"
            "a = RouteLayer.load(sys.argv[1]); b = RouteLayer.from_file(sys.argv[2])\n"
            "print(json.dumps([a.encoder.name, a.encoder.base, [c.name for c in a.route_batch(sys.argv[3:])],"
            " b.encoder.name, a.encoder.encode(['x']).tolist()[0][:5]]))")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code, str(out), str(out.with_suffix(".yaml")), *QUERIES],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900)  # a loaded machine: minutes
    assert done.returncode == 0, done.stderr[-2000:]
    name, base, answers, name_b, head = json.loads(done.stdout.strip().splitlines()[-1])
    assert (name, base, name_b) == (adapted.name, DEFAULT_MODEL, adapted.name)
    assert answers == [c.name for c in rl.route_batch(QUERIES)]
    np.testing.assert_allclose(head, adapted.encode(["x"])[0][:5], atol=1e-5)
    rl.close()


@pytest.mark.slow
def test_a_router_file_cannot_point_the_process_at_other_weights(adapted, tmp_path):
    rl = adapted_router(RouteLayer(routes=ROUTES), adapted)
    out = tmp_path / "r.yaml"
    rl.to_file(out)
    text = out.read_text()
    for bad, why in ((str(adapted.path), "relative to the file"), ("../elsewhere", "outside the router file")):
        out.write_text(text.replace("path: r.encoder", f"path: {bad}"))
        with pytest.raises(ConfigError, match=why):
            RouteLayer.from_file(out)
    os.symlink(adapted.path, tmp_path / "link")  # a symlink out of the folder is followed, then refused
    out.write_text(text.replace("path: r.encoder", "path: link"))
    with pytest.raises(ConfigError, match="outside the router file"):
        RouteLayer.from_file(out)
    out.write_text(text.replace(adapted.name, DEFAULT_MODEL + "+adapted-000000000000"))
    with pytest.raises(ConfigError, match="not 'sentence-transformers"):  # the folder is another adaptation
        RouteLayer.from_file(out)
    rl.close()


@pytest.mark.slow
def test_changed_or_pickled_weights_are_refused_before_loading(adapted, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(adapted.path, copy)
    (copy / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(EncoderError, match="pickled"):
        AdaptedEncoder(copy).encode(["hello"])
    (copy / "pytorch_model.bin").unlink()
    with (copy / "vocab.txt").open("a") as f:
        f.write("extra\n")
    with pytest.raises(EncoderError, match="digest"):
        AdaptedEncoder(copy).encode(["hello"])


@pytest.mark.slow
def test_a_shared_state_naming_an_adapted_encoder_is_only_checked(adapted, tmp_path):
    index = LocalIndex()
    RouteLayer(encoder=adapted, routes=ROUTES, index=index, auto_sync="local", rule="knn",
               refresh_interval=float("inf")).close()
    state = index.read_state()
    assert state["encoder"]["name"] == adapted.name
    state["encoder"]["path"] = str(tmp_path / "weights-of-their-choice")
    index.write_state(state)
    with pytest.raises(SyncError, match="adapted-"):  # the process's bundled model is checked, never replaced
        RouteLayer.from_index(index)
    rl = RouteLayer.from_index(index, encoder=adapted)  # the process's own adapted model: used as is
    assert rl.encoder is adapted and rl("refund my payment").name == "billing"
    rl.close()
    assert not (tmp_path / "weights-of-their-choice").exists()


@pytest.mark.slow
def test_cli_adapt_writes_the_router_and_its_model_and_refuses_bad_input(tmp_path):
    from typer.testing import CliRunner

    from semantic_router.cli.app import app

    from semantic_router.config import RouterConfig, write_text_config

    src = tmp_path / "routes.yaml"
    write_text_config(RouterConfig(routes=ROUTES), src)  # on the bundled MiniLM (the default encoder spec)
    runner = CliRunner()
    for args, message in (
        (["adapt", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o.yaml")], "no such file"),
        (["adapt", str(src), "--out", str(tmp_path / "o.txt")], "unknown file type"),
        (["adapt", str(src), "--out", str(tmp_path / "o.yaml"), "--epochs", "0"], "--epochs must be at least 1"),
        (["adapt", str(src), "--out", str(tmp_path / "nodir" / "o.yaml")], "no such directory"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o.encoder").exists()
    result = runner.invoke(app, ["adapt", str(src), "--out", str(tmp_path / "o.pkl"), "--batch-size", "3", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)  # only the JSON: no progress bar off a terminal
    assert summary["base"] == DEFAULT_MODEL and summary["routes"] == 3
    rl = RouteLayer.load(tmp_path / "o.pkl")
    assert rl.encoder.name == summary["encoder"] and isinstance(rl.encoder, AdaptedEncoder)
    rl.close()


def gateway(root: Path, encoder: dict) -> object:
    """A minimal gateway config in `root` whose routes signal is an inline router on `encoder`."""
    from semantic_router.server.config import parse_config

    router = {"encoder": encoder, "routes": [r.model_dump(mode="json") for r in ROUTES]}
    data = {"models": {"m": {"backends": [{"base_url": "http://127.0.0.1:9/v1"}]}},
            "signals": {"routes": {"router": router}}, "decisions": [{"name": "d", "model": "m"}]}
    return parse_config(data, "gateway.yaml", root, root)


def test_a_gateway_config_names_an_adapted_folder_only_under_its_root(tmp_path):
    pytest.importorskip("fastapi")
    from semantic_router.server.runtime import build_layer

    root = tmp_path / "root"
    root.mkdir()
    for where in ("../enc", str(tmp_path / "enc")):
        with pytest.raises(ConfigError, match="encoder.path.*outside the config root"):
            build_layer(gateway(root, {"type": "adapted", "path": where}))
    with pytest.raises(ConfigError, match="no adapted.json"):  # inside the root: read, and checked
        build_layer(gateway(root, {"type": "adapted", "path": "enc"}))


@pytest.mark.slow
def test_a_gateway_routes_with_the_adapted_folder_under_its_root(adapted, tmp_path):
    pytest.importorskip("fastapi")
    import shutil

    from semantic_router.server.runtime import build_layer

    shutil.copytree(adapted.path, tmp_path / "models" / "support")
    layer = build_layer(gateway(tmp_path, {"type": "adapted", "path": "models/support", "name": adapted.name}))
    assert layer is not None and layer.encoder.name == adapted.name
    assert layer("refund my payment").name == "billing"
    layer.close()
