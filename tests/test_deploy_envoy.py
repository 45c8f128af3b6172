"""The Envoy side of deploy/, checked offline: the plain Envoy bootstrap and the EnvoyPatchPolicy's embedded
Envoy JSON parse into the Envoy API messages (`xds-protos`, `google.protobuf.json_format`: unknown fields,
wrong types and unresolvable `@type`s fail), the Gateway API and Envoy Gateway resources match closed schemas
of the fields they use (tests/deploy_crd_schemas.py), and every piece agrees with the router's config: one
route per model, the ext_proc backend is the router Service's gRPC port, BUFFERED request bodies."""

from __future__ import annotations

import copy
import importlib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from google.protobuf import descriptor_pool, json_format
from google.protobuf.message import Message

from tests.deploy_crd_schemas import SCHEMAS
from tests.deploy_files import CONFIG, ENVOY_BOOTSTRAP, K8S, docs, find, manifests

EXT_PROC = "envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor"
ROUTED_ON = "x-selected-model"


def message_class(full_name: str) -> type[Message]:
    """The generated class of an Envoy API message, importing the xds-protos modules of its package first so
    that `@type` URLs inside it resolve too."""
    pool = descriptor_pool.Default()
    try:
        pool.FindMessageTypeByName(full_name)
    except KeyError:
        package = full_name.rsplit(".", 1)[0]
        root = Path(importlib.import_module(package.split(".")[0]).__path__[0]).parent
        for module in sorted((root / package.replace(".", "/")).glob("*_pb2.py")):
            importlib.import_module(f"{package}.{module.stem}")
    from google.protobuf.message_factory import GetMessageClass

    return GetMessageClass(pool.FindMessageTypeByName(full_name))


def type_urls(node: Any) -> set[str]:
    """Every `@type` named anywhere in a JSON tree."""
    if isinstance(node, dict):
        own = {node["@type"].rpartition("/")[2]} if "@type" in node else set()
        return own.union(*(type_urls(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(type_urls(v) for v in node))
    return set()


def parse(data: dict[str, Any], full_name: str) -> Any:
    """`data` as the Envoy message `full_name` (every Any inside it resolved first)."""
    for url in type_urls(data):
        message_class(url)
    return json_format.ParseDict(data, message_class(full_name)())


def unpack(any_msg: Any) -> Any:
    out = message_class(any_msg.type_url.rpartition("/")[2])()
    assert any_msg.Unpack(out)
    return out


def model_names() -> set[str]:
    from semantic_router.server.config import load_config

    return set(load_config(CONFIG).models)


# -- the plain Envoy bootstrap ------------------------------------------------------------------------

def bootstrap() -> Any:
    return parse(docs(ENVOY_BOOTSTRAP)[0], "envoy.config.bootstrap.v3.Bootstrap")


def hcm() -> Any:
    (listener,) = bootstrap().static_resources.listeners
    (network_filter,) = listener.filter_chains[0].filters
    return unpack(network_filter.typed_config)


def test_bootstrap_parses_into_the_envoy_api():
    boot = bootstrap()
    assert [c.name for c in boot.static_resources.clusters] == ["semantic-router", "qwen3-8b", "llama3-8b-instruct"]
    manager = hcm()
    assert [f.name for f in manager.http_filters] == ["envoy.filters.http.ext_proc", "envoy.filters.http.router"]
    assert manager.http_filters[-1].typed_config.type_url.endswith("router.v3.Router")


def test_bootstrap_ext_proc_buffers_the_request_and_fails_closed():
    ext = unpack(hcm().http_filters[0].typed_config)
    mode = ext.processing_mode
    names = {f.name: f.enum_type for f in mode.DESCRIPTOR.fields if f.enum_type}
    name = {f: names[f].values_by_number[getattr(mode, f)].name for f in names}
    assert name["request_body_mode"] == "BUFFERED" and name["request_header_mode"] == "SEND"
    assert name["response_header_mode"] == "SEND"
    assert ext.failure_mode_allow is False
    assert ext.grpc_service.envoy_grpc.cluster_name == "semantic-router"
    grpc_cluster = bootstrap().static_resources.clusters[0]
    options = unpack(grpc_cluster.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"])
    assert options.explicit_http_config.HasField("http2_protocol_options"), "gRPC needs HTTP/2 to the router"
    address = grpc_cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
    service = find("Service", "semantic-router")
    grpc_port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "grpc")
    assert (address.address, address.port_value) == ("semantic-router.semantic-router.svc.cluster.local", grpc_port)


def test_bootstrap_routes_every_model_on_the_header_the_router_sets():
    (vhost,) = hcm().route_config.virtual_hosts
    by_model = {}
    for route in vhost.routes:
        for h in route.match.headers:
            assert h.name == ROUTED_ON
            by_model[h.string_match.exact] = route.route.cluster
    assert set(by_model) == model_names()
    assert all(by_model[m] == m for m in by_model)
    assert not vhost.routes[-1].match.headers, "a last catch-all route: Envoy needs one before the processor ran"
    clusters = {c.name: c for c in bootstrap().static_resources.clusters}
    for model in model_names():
        address = clusters[model].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
        svc = find("Service", model)
        assert address.address == f"{model}.{svc['metadata'].get('namespace', 'default')}.svc.cluster.local"
        assert address.port_value == svc["spec"]["ports"][0]["port"]
    early = unpack(hcm().early_header_mutation_extensions[0].typed_config)
    assert [m.remove for m in early.mutations] == [ROUTED_ON], "a client cannot choose the route itself"


@pytest.mark.parametrize("break_it", [
    lambda d: d["static_resources"]["clusters"][0].update(conect_timeout="5s"),
    lambda d: d["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    ["http_filters"][0]["typed_config"]["processing_mode"].update(request_body_mode="BUFERED"),
    lambda d: d["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    ["http_filters"][0]["typed_config"].update({"@type": "type.googleapis.com/envoy.nothing.v3.Missing"}),
], ids=["misspelt-field", "bad-enum-inside-an-Any", "unknown-type-url"])
def test_the_envoy_parse_catches_mistakes(break_it):
    broken = copy.deepcopy(docs(ENVOY_BOOTSTRAP)[0])
    break_it(broken)
    with pytest.raises((json_format.ParseError, KeyError, ModuleNotFoundError, FileNotFoundError)):
        parse(broken, "envoy.config.bootstrap.v3.Bootstrap")


# -- Envoy Gateway and Gateway API resources ------------------------------------------------------------

CUSTOM = [(where, d) for where, d in manifests() if d["kind"] in SCHEMAS]


@pytest.mark.parametrize(("where", "resource"), CUSTOM, ids=[w for w, _ in CUSTOM])
def test_custom_resources_match_their_schema(where, resource):
    jsonschema.validate(resource, SCHEMAS[resource["kind"]])


@pytest.mark.parametrize("break_it", [
    lambda d: d["spec"]["extProc"][0]["processingMode"]["request"].update(body="BUFFERED"),
    lambda d: d["spec"]["extProc"][0].update(failopen=True),
    lambda d: d["spec"].pop("targetRefs"),
], ids=["enum-case", "misspelt-field", "missing-required"])
def test_the_schema_check_catches_a_broken_policy(break_it):
    policy = copy.deepcopy(find("EnvoyExtensionPolicy", "semantic-router-extproc"))
    break_it(policy)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(policy, SCHEMAS["EnvoyExtensionPolicy"])


def test_extension_policy_sends_buffered_requests_to_the_routers_grpc_port():
    policy = find("EnvoyExtensionPolicy", "semantic-router-extproc")
    gateway = find("Gateway", "semantic-router-gw")
    assert policy["spec"]["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                             "name": gateway["metadata"]["name"]}]
    assert policy["metadata"]["namespace"] == gateway["metadata"]["namespace"]
    (proc,) = policy["spec"]["extProc"]
    assert proc["processingMode"]["request"]["body"] == "Buffered" and proc["failOpen"] is False
    (ref,) = proc["backendRefs"]
    service = find("Service", "semantic-router")
    grpc = next(p for p in service["spec"]["ports"] if p["name"] == "grpc")
    assert (ref["name"], ref["port"]) == (service["metadata"]["name"], grpc["port"])
    assert ref["namespace"] == docs(K8S / "base" / "kustomization.yaml")[0]["namespace"]
    grant = find("ReferenceGrant", "allow-extproc-from-default")
    assert grant["metadata"]["namespace"] == ref["namespace"]
    assert {"group": "gateway.envoyproxy.io", "kind": "EnvoyExtensionPolicy",
            "namespace": policy["metadata"]["namespace"]} in grant["spec"]["from"]
    assert {"group": "", "kind": "Service", "name": ref["name"]} in grant["spec"]["to"]


def test_httproute_sends_each_selected_model_to_its_service():
    route = find("HTTPRoute", "semantic-router-models")
    gateway = find("Gateway", "semantic-router-gw")
    assert route["spec"]["parentRefs"][0]["name"] == gateway["metadata"]["name"]
    by_model = {}
    for rule in route["spec"]["rules"]:
        headers = [h for m in rule["matches"] for h in m.get("headers", [])]
        for h in headers:
            assert h["name"] == ROUTED_ON and h["type"] == "Exact"
            by_model[h["value"]] = rule["backendRefs"][0]["name"]
    assert by_model == {m: m for m in model_names()}
    assert not any("headers" in m for m in route["spec"]["rules"][-1]["matches"]), "a catch-all rule last"
    for model in model_names():
        svc = find("Service", model)
        assert svc["metadata"].get("namespace", "default") == route["metadata"]["namespace"]


def test_patch_policy_values_parse_into_the_envoy_api():
    """The guide's EnvoyPatchPolicy: the listener patch adds an HttpFilter (ext_proc) and the cluster patch a
    Cluster; both values are Envoy JSON and must parse as those messages."""
    policy = find("EnvoyPatchPolicy", "semantic-router-extproc-patch")
    listener_patch, cluster_patch = policy["spec"]["jsonPatches"]
    assert listener_patch["operation"]["path"].endswith("/typed_config/http_filters/0"), "first HTTP filter"
    http_filter = parse(listener_patch["operation"]["value"],
                        "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter")
    ext = unpack(http_filter.typed_config)
    assert ext.DESCRIPTOR.full_name == EXT_PROC
    assert ext.processing_mode.request_body_mode == type(ext.processing_mode).BodySendMode.Value("BUFFERED")
    assert ext.failure_mode_allow is False
    cluster = parse(cluster_patch["operation"]["value"], cluster_patch["type"].rpartition("/")[2])
    assert cluster.name == cluster_patch["name"] == ext.grpc_service.envoy_grpc.cluster_name
    address = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address
    assert address.port_value == 50051
    gateway = find("Gateway", "semantic-router-gw")
    assert listener_patch["name"] == (f"{gateway['metadata']['namespace']}/{gateway['metadata']['name']}/"
                                      f"{gateway['spec']['listeners'][0]['name']}")
