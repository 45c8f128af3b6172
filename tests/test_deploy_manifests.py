"""The Kubernetes manifests under deploy/kubernetes, checked offline: every built-in resource against the
Kubernetes OpenAPI schemas of a pinned version (kubernetes-validate, strict: unknown fields fail), the
kustomizations complete, the routing ConfigMap accepted by the gateway's own loader, and the ports, probes,
security settings and names consistent between the Deployment, the Service, the config and `semantic-router
serve`. The Envoy resources are checked in tests/test_deploy_envoy.py, the image in tests/test_deploy_image.py."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import time

import httpx
import kubernetes_validate
import pytest
import typer
import yaml

from tests.deploy_files import (
    BASE,
    CONFIG,
    K8S_VERSION,
    KUSTOMIZATIONS,
    container,
    docs,
    find,
    flag,
    generated_configmap,
    kustomization,
    manifests,
)
from tests.redis_server import free_port

BUILTIN_GROUPS = ("v1", "apps/v1", "autoscaling/v2", "policy/v1")
BUILTIN = [(where, d) for where, d in manifests() if d["apiVersion"] in BUILTIN_GROUPS]


def deployment() -> dict:
    return find("Deployment", "semantic-router")


def ports(c: dict) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in c["ports"]}


@pytest.mark.parametrize(("where", "resource"), BUILTIN + [("generated ConfigMap", generated_configmap())],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_builtin_resources_validate_against_the_kubernetes_schema(where, resource):
    assert kubernetes_validate.validate(resource, K8S_VERSION, strict=True) == K8S_VERSION[:4], where


def test_every_kind_is_checked_somewhere():
    """Built-in kinds here, the Gateway API and Envoy Gateway kinds in test_deploy_envoy: nothing unvalidated."""
    kinds = {d["kind"] for _, d in manifests()}
    assert {"Namespace", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    others = {d["kind"] for _, d in manifests() if d["apiVersion"] not in BUILTIN_GROUPS}
    assert others == {"GatewayClass", "Gateway", "HTTPRoute", "EnvoyExtensionPolicy", "ReferenceGrant",
                      "EnvoyPatchPolicy"}


@pytest.mark.parametrize("mutate", [
    lambda d: d["spec"]["template"]["spec"]["containers"][0].update(readinesProbe={}),          # misspelt field
    lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(containerPort="8080"),  # wrong type
    lambda d: d["spec"].pop("selector"),                                                         # required field
], ids=["unknown-field", "wrong-type", "missing-required"])
def test_the_schema_check_catches_a_broken_deployment(mutate):
    broken = copy.deepcopy(deployment())
    mutate(broken)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


@pytest.mark.parametrize("folder", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_kustomizations_list_every_manifest(folder):
    listed = set(kustomization(folder)["resources"])
    present = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml", "patch-policy.yaml"}
    assert listed == present, f"{folder.name}: listed {sorted(listed)}, present {sorted(present)}"
    for gen in kustomization(folder).get("configMapGenerator", []):
        for item in gen["files"]:
            assert (folder / item.partition("=")[2]).is_file(), item


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (its built-in kustomize) is not installed")
def test_kubectl_kustomize_renders_the_base():
    out = subprocess.run(["kubectl", "kustomize", str(BASE)], capture_output=True, text=True, timeout=60, check=True)
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert sorted(d["kind"] for d in rendered) == sorted(
        ["Namespace", "ConfigMap", "Service", "Service", "Deployment", "Deployment", "PodDisruptionBudget",
         "HorizontalPodAutoscaler"])
    namespaced = [d for d in rendered if d["kind"] != "Namespace"]
    assert {d["metadata"]["namespace"] for d in namespaced} == {"semantic-router"}
    cm = next(d for d in rendered if d["kind"] == "ConfigMap")
    assert cm == {**generated_configmap(), "metadata": cm["metadata"]} and cm["metadata"]["name"] == \
        "semantic-router-config", "the ConfigMap keeps its name (no hash suffix): the mount updates in place"


@pytest.mark.slow  # ~6 s: the preflight imports the server stack
def test_the_configmap_config_passes_the_gateway_loader(monkeypatch):
    """The loader `serve` uses, plus its model-free preflight (router spec, encoder options, route references,
    keys): the config the pods mount would start."""
    import semantic_router.cli  # noqa: F401 - registers the CLI before server.cli is imported (as `serve` runs)
    from semantic_router.server.cli import preflight
    from semantic_router.server.config import load_config

    env = {e["name"] for e in container(deployment(), "router")["env"]}
    cfg = load_config(CONFIG)
    assert cfg.server.admin_key_env in env, "the admin key the config names comes from the Deployment's env"
    monkeypatch.setenv(cfg.server.admin_key_env, "test-admin-key")
    preflight(cfg)
    assert set(cfg.virtual_models) >= {"MoM"}


def test_a_broken_configmap_config_is_refused(tmp_path):
    from semantic_router.errors import ConfigError
    from semantic_router.server.config import load_config

    bad = tmp_path / "config.yaml"
    bad.write_text(CONFIG.read_text().replace("model: qwen3-8b", "model: qwen3-8B", 1))
    with pytest.raises(ConfigError, match="unknown model 'qwen3-8B'"):
        load_config(bad)


def test_ports_agree_between_serve_the_deployment_the_service_and_the_config():
    from semantic_router.server.config import load_config

    router = container(deployment(), "router")
    args, named = router["args"], ports(router)
    assert args[:2] == ["serve", "/etc/semantic-router/config.yaml"]
    assert int(flag(args, "--port")) == named["http"] == load_config(CONFIG).server.port == 8080
    assert int(flag(args, "--ext-proc-port")) == named["grpc"] == 50051
    assert flag(args, "--host") == "0.0.0.0"
    service = find("Service", "semantic-router")
    by_name = {p["name"]: p for p in service["spec"]["ports"]}
    assert by_name["grpc"]["port"] == 50051 and by_name["grpc"]["targetPort"] == "grpc"
    assert by_name["http"]["targetPort"] == "http" and by_name["metrics"]["targetPort"] == "http"
    assert by_name["metrics"]["port"] == 9190, "the guide's Prometheus port, onto the HTTP app's /metrics"
    assert all(p["targetPort"] in named for p in service["spec"]["ports"])
    assert service["spec"]["selector"].items() <= deployment()["spec"]["template"]["metadata"]["labels"].items()
    assert deployment()["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(named["http"])


def _serve_has_ext_proc_port() -> bool:
    from semantic_router.cli.app import app

    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    return any("--ext-proc-port" in p.opts for p in serve.params)


def test_serve_accepts_the_deployments_arguments():
    """The container's arguments parse as `semantic-router serve` options (nothing misspelt or missing)."""
    from semantic_router.cli.app import app

    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    args = container(deployment(), "router")["args"]
    ctx = serve.make_context("serve", list(args[1:]))
    assert ctx.params["port"] == 8080 and ctx.params["host"] == "0.0.0.0"
    with pytest.raises(Exception, match="No such option: --metrics-port"):  # click's, or typer's own copy of it
        serve.make_context("serve", [*args[1:], "--metrics-port", "9190"])


def test_probes_use_the_gateways_health_endpoints():
    from semantic_router.server.endpoints.service import router as service_router

    paths = {r.path for r in service_router.routes}  # type: ignore[attr-defined]
    router = container(deployment(), "router")
    assert router["readinessProbe"]["httpGet"]["path"] == "/ready"   # 503 until the model is warm
    assert router["livenessProbe"]["httpGet"]["path"] == "/health"
    assert router["startupProbe"]["httpGet"]["path"] == "/health"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = router[probe]["httpGet"]
        assert get["path"] in paths and get["port"] == "http"


def test_every_pod_runs_non_root_with_limits():
    """What the namespace's `restricted` Pod Security level demands, plus requests and limits everywhere."""
    deployments = [d for _, d in manifests() if d["kind"] == "Deployment"]
    assert len(deployments) == 4
    for d in deployments:
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, d["metadata"]["name"]
        assert pod["securityContext"]["runAsUser"] > 0
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert {"cpu", "memory"} <= c["resources"]["requests"].keys() and "memory" in c["resources"]["limits"]
    assert docs(BASE / "namespace.yaml")[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_config_is_mounted_so_updates_reach_the_pods():
    """A subPath mount never sees ConfigMap updates; the sidecar watches the file the router reads."""
    pod = deployment()["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "config")
    assert volume["configMap"]["name"] == generated_configmap()["metadata"]["name"]
    assert kustomization(BASE)["generatorOptions"]["disableNameSuffixHash"] is True
    router, watch = container(deployment(), "router"), container(deployment(), "config-watch")
    for c in (router, watch):
        mount = next(m for m in c["volumeMounts"] if m["name"] == "config")
        assert "subPath" not in mount and mount["mountPath"] == "/etc/semantic-router"
    assert flag(watch["command"], "--file") == router["args"][1]
    assert flag(watch["command"], "--url") == f"http://127.0.0.1:{ports(router)['http']}"
    key = flag(watch["command"], "--key-env")
    assert {e["name"]: e.get("valueFrom") for e in watch["env"]}[key] == \
        {e["name"]: e.get("valueFrom") for e in router["env"]}[key]


def test_replicas_share_the_redis_service_and_scale():
    """The response cache and the cluster stats on the Redis Service; the same routes from the ConfigMap."""
    from semantic_router.server.config import load_config

    cfg = load_config(CONFIG)
    redis = find("Service", "semantic-router-redis")
    target = f"redis://{redis['metadata']['name']}:{redis['spec']['ports'][0]['port']}/0"
    routes = cfg.signals.routes
    assert routes is not None and routes.router is not None and routes.router["routes"], "routes from the ConfigMap"
    assert cfg.cluster is not None and cfg.cluster.redis_url == target
    caches = [d.plugins["cache"] for d in cfg.decisions if "cache" in d.plugins]
    assert caches and all(c["backend"] == "redis" and c["redis_url"] == target for c in caches)
    hpa = find("HorizontalPodAutoscaler", "semantic-router")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "semantic-router"}
    assert hpa["spec"]["minReplicas"] >= 2 and "cpu" in container(deployment(), "router")["resources"]["requests"]


@pytest.mark.slow  # ~10 s: a Python process importing the server stack
def test_the_demo_model_command_serves_a_stand_in():
    """The demo Deployments' command, run here on a loopback port: a chat completion names the model."""
    model = find("Deployment", "qwen3-8b")
    command = container(model, "model")["command"]
    assert command[:2] == ["python", "-c"] and "host='0.0.0.0', port=8000" in command[2]
    port = free_port()
    code = command[2].replace("host='0.0.0.0', port=8000", f"host='127.0.0.1', port={port}")
    env = {**os.environ, "PYTHONPATH": str(BASE.parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            assert time.monotonic() < deadline, "the stand-in did not start"
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", timeout=5, json={
                    "model": "qwen3-8b", "messages": [{"role": "user", "content": "hi"}],
                    "chat_template_kwargs": {"enable_thinking": True}})
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert answer.status_code == 200
        assert answer.json()["echo"]["model"] == "qwen3-8b"
        assert answer.json()["echo"]["chat_template_kwargs"] == {"enable_thinking": True}
    finally:
        proc.terminate()
        proc.wait(15)
