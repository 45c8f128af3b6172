"""JSON Schemas for the custom resources of deploy/kubernetes/envoy-gateway, which kubernetes-validate does not
know (it has the built-in kinds only): Gateway API v1 (GatewayClass, Gateway, HTTPRoute), v1beta1 ReferenceGrant
and Envoy Gateway v1alpha1 (EnvoyExtensionPolicy, EnvoyPatchPolicy).

Written here from the projects' API references for the fields these files use: every object closed
(`additionalProperties: false`), required fields and enums as the CRDs declare them. They are a subset of the
upstream CRD schemas (a field we do not use is refused here even where the CRD has it), so they catch a misspelt
or misplaced field, a wrong type or an unknown enum value; they do not replace a server-side dry run against a
cluster with the CRDs installed. The Envoy JSON inside an EnvoyPatchPolicy is checked against the Envoy API
messages themselves (tests/test_deploy_envoy.py)."""

from __future__ import annotations

from typing import Any

NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}
DURATION = {"type": "string", "pattern": r"^([0-9]{1,5}(h|m|s|ms)){1,4}$"}  # Gateway API's Duration format
GROUP = {"type": "string", "pattern": r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"}
PORT = {"type": "integer", "minimum": 1, "maximum": 65535}


def obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A closed object schema."""
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def arr(items: dict[str, Any], min_items: int = 1) -> dict[str, Any]:
    return {"type": "array", "items": items, "minItems": min_items}


def resource(api_version: str, kind: str, spec: dict[str, Any], namespaced: bool = True) -> dict[str, Any]:
    meta = obj({"name": NAME, "namespace": NAME, "labels": {"type": "object"}, "annotations": {"type": "object"}},
               ("name", "namespace") if namespaced else ("name",))
    return obj({"apiVersion": {"const": api_version}, "kind": {"const": kind}, "metadata": meta, "spec": spec},
               ("apiVersion", "kind", "metadata", "spec"))


TARGET_REF = obj({"group": {"const": "gateway.networking.k8s.io"}, "kind": {"enum": ["Gateway", "HTTPRoute"]},
                  "name": NAME}, ("group", "kind", "name"))
BACKEND_REF = obj({"group": GROUP, "kind": {"type": "string"}, "name": NAME, "namespace": NAME, "port": PORT,
                   "weight": {"type": "integer", "minimum": 0}}, ("name",))

HTTP_ROUTE_MATCH = obj({
    "path": obj({"type": {"enum": ["Exact", "PathPrefix", "RegularExpression"]}, "value": {"type": "string"}}),
    "headers": arr(obj({"type": {"enum": ["Exact", "RegularExpression"]},
                        "name": {"type": "string", "pattern": r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$"},
                        "value": {"type": "string", "maxLength": 4096}}, ("name", "value"))),
    "method": {"enum": ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]},
})

SCHEMAS: dict[str, dict[str, Any]] = {
    "GatewayClass": resource("gateway.networking.k8s.io/v1", "GatewayClass", obj({
        "controllerName": {"type": "string", "pattern": r"^[a-z0-9.-]+/[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$"},
    }, ("controllerName",)), namespaced=False),
    "Gateway": resource("gateway.networking.k8s.io/v1", "Gateway", obj({
        "gatewayClassName": NAME,
        "listeners": arr(obj({
            "name": NAME, "protocol": {"enum": ["HTTP", "HTTPS", "TLS", "TCP", "UDP"]}, "port": PORT,
            "hostname": {"type": "string"},
            "allowedRoutes": obj({"namespaces": obj({"from": {"enum": ["All", "Same", "Selector"]}})}),
        }, ("name", "protocol", "port"))),
    }, ("gatewayClassName", "listeners"))),
    "HTTPRoute": resource("gateway.networking.k8s.io/v1", "HTTPRoute", obj({
        "parentRefs": arr(obj({"group": GROUP, "kind": {"type": "string"}, "name": NAME, "namespace": NAME,
                               "sectionName": NAME}, ("name",))),
        "hostnames": arr({"type": "string"}),
        "rules": arr(obj({
            "matches": arr(HTTP_ROUTE_MATCH),
            "backendRefs": arr(BACKEND_REF),
            "timeouts": obj({"request": DURATION, "backendRequest": DURATION}),
        })),
    }, ("parentRefs", "rules"))),
    "ReferenceGrant": resource("gateway.networking.k8s.io/v1beta1", "ReferenceGrant", obj({
        "from": arr(obj({"group": GROUP, "kind": {"type": "string"}, "namespace": NAME}, ("group", "kind", "namespace"))),
        "to": arr(obj({"group": GROUP, "kind": {"type": "string"}, "name": NAME}, ("group", "kind"))),
    }, ("from", "to"))),
    "EnvoyExtensionPolicy": resource("gateway.envoyproxy.io/v1alpha1", "EnvoyExtensionPolicy", obj({
        "targetRefs": arr(TARGET_REF),
        "extProc": arr(obj({
            "backendRefs": arr(BACKEND_REF),
            "processingMode": obj({
                "request": obj({"body": {"enum": ["Streamed", "Buffered", "BufferedPartial", "FullDuplexStreamed"]},
                                "attributes": arr({"type": "string"})}),
                "response": obj({"body": {"enum": ["Streamed", "Buffered", "BufferedPartial", "FullDuplexStreamed"]},
                                 "attributes": arr({"type": "string"})}),
                "allowModeOverride": {"type": "boolean"},
            }),
            "messageTimeout": DURATION,
            "failOpen": {"type": "boolean"},
        }, ("backendRefs",))),
    }, ("targetRefs",))),
    "EnvoyPatchPolicy": resource("gateway.envoyproxy.io/v1alpha1", "EnvoyPatchPolicy", obj({
        "targetRef": TARGET_REF,
        "type": {"const": "JSONPatch"},
        "priority": {"type": "integer"},
        "jsonPatches": arr(obj({
            "type": {"enum": [f"type.googleapis.com/envoy.config.{t}" for t in (
                "listener.v3.Listener", "route.v3.RouteConfiguration", "cluster.v3.Cluster",
                "endpoint.v3.ClusterLoadAssignment", "tls.v3.Secret")]},
            "name": {"type": "string", "minLength": 1},
            "operation": obj({"op": {"enum": ["add", "remove", "replace", "move", "copy", "test"]},
                              "path": {"type": "string"}, "from": {"type": "string"}, "value": {}},
                             ("op",)),
        }, ("type", "name", "operation"))),
    }, ("targetRef", "type"))),
}
