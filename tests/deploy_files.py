"""The deployment files under deploy/, read for the tests/test_deploy_*.py checks (no cluster, no daemon)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "kubernetes"
BASE = K8S / "base"
CONFIG = BASE / "config" / "config.yaml"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
ENVOY_BOOTSTRAP = DEPLOY / "envoy" / "envoy.yaml"
KUSTOMIZATIONS = [BASE, K8S / "demo", K8S / "envoy-gateway"]
#: the Kubernetes version every built-in resource is validated against (kubernetes-validate's offline schemas)
K8S_VERSION = "1.33.0"


def docs(path: Path) -> list[dict[str, Any]]:
    """Every YAML document of a file (empty documents dropped)."""
    with path.open(encoding="utf-8") as fh:
        return [d for d in yaml.safe_load_all(fh) if d]


def kustomization(folder: Path) -> dict[str, Any]:
    return docs(folder / "kustomization.yaml")[0]


def manifests() -> list[tuple[str, dict[str, Any]]]:
    """(file:index, resource) for every resource file of every kustomization, plus the alternative patch policy."""
    out = []
    for folder in KUSTOMIZATIONS:
        files = sorted(p for p in folder.glob("*.yaml") if p.name != "kustomization.yaml")
        for path in files:
            for i, doc in enumerate(docs(path)):
                out.append((f"{path.relative_to(K8S)}:{i}", doc))
    return out


def generated_configmap() -> dict[str, Any]:
    """The ConfigMap the base kustomization's configMapGenerator makes from config/config.yaml."""
    gen = kustomization(BASE)["configMapGenerator"][0]
    data = {}
    for item in gen["files"]:
        key, _, rel = item.partition("=")
        data[key] = (BASE / rel).read_text(encoding="utf-8")
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": gen["name"], "namespace": kustomization(BASE)["namespace"]}, "data": data}


def find(kind: str, name: str) -> dict[str, Any]:
    """The one resource of that kind and name."""
    hits = [d for _, d in manifests() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(hits) == 1, f"expected one {kind} {name}, found {len(hits)}"
    return hits[0]


def container(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def flag(args: list[str], name: str) -> str:
    """The value after `name` in an argument list."""
    assert name in args, f"{name} missing from {shlex.join(args)}"
    return args[args.index(name) + 1]
