"""Paths in a gateway config stay inside its root: `PUT /admin/config` cannot read a file outside the config's
folder (`..`, absolute paths, symlinks), no error quotes a file's content, and a pushed config cannot change
the encoder or send a backend key to a new URL (real uvicorn gateway on loopback)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from semantic_router.errors import ConfigError
from semantic_router.server.http import create_app
from semantic_router.server.ingress.auth import GatewayKeys
from semantic_router.server.config import load_config, parse_config
from semantic_router.server.demo import run_in_thread
from semantic_router.server.runtime import Runtime
from tests.server.conftest import example_router, gateway_config, wait_ready

ADMIN = "admin-key-for-path-tests"
SECRET = "s3cr3t-db-password-4411"


@pytest.fixture()
def tree(tmp_path: Path) -> dict[str, Path]:
    """root/ holds the gateway config; a secret YAML and a keys file live outside it, a symlink points out."""
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "secret.yaml"
    outside.write_text(f"db_password: {SECRET}\napi_token: {SECRET}\n")
    (tmp_path / "keys.txt").write_text(f"{SECRET}\n")
    (root / "link.yaml").symlink_to(outside)
    (root / "link-keys.txt").symlink_to(tmp_path / "keys.txt")
    (root / "inside.yaml").write_text(f"db_password: {SECRET}\n")  # inside the root, but not a router file
    (root / "keys.txt").write_text("gw-key-inside-root\n")
    return {"root": root, "outside": outside, "tmp": tmp_path}


def base_config(fleet) -> dict[str, Any]:
    config = gateway_config(fleet, admin_key_env="GW_TEST_PATHS_ADMIN")
    config["signals"]["routes"] = {"router": example_router()}
    return config


@pytest.fixture()
def gw(tree, fleet, layer, monkeypatch) -> Iterator[str]:
    """A gateway started from root/gateway.yaml (its folder is the root), admin key on."""
    monkeypatch.setenv("GW_TEST_PATHS_ADMIN", ADMIN)
    monkeypatch.setenv("GW_TEST_UPSTREAM_KEY", "sk-upstream")
    path = tree["root"] / "gateway.yaml"
    path.write_text(yaml.safe_dump(base_config(fleet)))
    app = create_app(Runtime.build(load_config(path), layer=layer), config_path=path)
    server = run_in_thread(app)
    wait_ready(server.url)
    yield server.url
    server.stop()


def put(url: str, config: dict[str, Any]) -> httpx.Response:
    return httpx.put(url + "/admin/config", content=yaml.safe_dump(config), timeout=120,
                     headers={"Authorization": f"Bearer {ADMIN}"})


def with_routes_path(fleet, path: str) -> dict[str, Any]:
    config = base_config(fleet)
    config["signals"]["routes"] = {"path": path}
    return config


def with_keys_file(fleet, path: str) -> dict[str, Any]:
    config = base_config(fleet)
    config["server"]["api_keys_file"] = path
    return config


def refused(r: httpx.Response, *words: str) -> str:
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    for word in words:
        assert word in message, message
    assert SECRET not in r.text and "db_password" not in r.text and "api_token" not in r.text
    return message


@pytest.mark.parametrize("field", ["routes", "keys"])
@pytest.mark.parametrize("where", ["dotdot", "absolute", "symlink"])
def test_a_pushed_config_cannot_name_a_file_outside_the_root(gw, tree, fleet, field, where):
    target = {"dotdot": "../secret.yaml" if field == "routes" else "../keys.txt",
              "absolute": str(tree["outside"] if field == "routes" else tree["tmp"] / "keys.txt"),
              "symlink": "link.yaml" if field == "routes" else "link-keys.txt"}[where]
    config = with_routes_path(fleet, target) if field == "routes" else with_keys_file(fleet, target)
    name = "signals.routes.path" if field == "routes" else "server.api_keys_file"
    refused(put(gw, config), name, "outside the config root")
    # nothing changed: the gateway still routes and answers without a key
    r = httpx.post(gw + "/v1/chat/completions", json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200


def test_a_file_inside_the_root_that_is_no_router_is_refused_without_quoting_it(gw, fleet):
    message = refused(put(gw, with_routes_path(fleet, "inside.yaml")), "signals.routes.path", "inside.yaml")
    assert "not a usable router file" in message


def test_the_loader_sets_the_root_a_config_cannot(gw, fleet, tree):
    config = with_routes_path(fleet, "secret.yaml")
    config["base_dir"] = str(tree["tmp"])  # would move relative paths out of the root
    refused(put(gw, config), "base_dir")


def test_paths_inside_the_root_work(gw, fleet, tree):
    r = put(gw, with_keys_file(fleet, "./sub/../keys.txt"))
    assert r.status_code == 200, r.text
    ask = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(gw + "/v1/chat/completions", json=ask).status_code == 401
    assert httpx.post(gw + "/v1/chat/completions", json=ask,
                      headers={"Authorization": "Bearer gw-key-inside-root"}).status_code == 200
    (tree["root"] / "routers").mkdir()
    (tree["root"] / "routers" / "r.yaml").write_text(yaml.safe_dump(example_router()))
    r = put(gw, with_routes_path(fleet, "routers/r.yaml"))  # builds its own encoder from the file
    assert r.status_code == 200, r.text


def test_a_pushed_config_cannot_change_the_encoder_or_send_a_key_elsewhere(gw, fleet):
    config = base_config(fleet)
    config["signals"]["routes"]["router"]["encoder"] = {"type": "huggingface", "model_path": "/tmp/any-model"}
    refused(put(gw, config), "signals.routes.router.encoder", "cannot change")
    config = base_config(fleet)
    config["models"]["general-model"]["backends"][0]["api_key_env"] = "GW_TEST_UPSTREAM_KEY"
    refused(put(gw, config), "models.general-model.backends[0].api_key_env")
    same = copy.deepcopy(base_config(fleet))  # the running config's own key and URL: accepted
    assert put(gw, same).status_code == 200


def test_start_up_configs_are_confined_to_their_folder_or_the_named_root(tree):
    (tree["tmp"] / "shared").mkdir()
    (tree["tmp"] / "shared" / "keys.txt").write_text("k1\n")
    path = tree["root"] / "gateway.yaml"
    path.write_text(yaml.safe_dump({"server": {"api_keys_file": "../shared/keys.txt"},
                                    "models": {"m": {"backends": [{"base_url": "http://127.0.0.1:9/v1"}]}}}))
    config = load_config(path)
    with pytest.raises(ConfigError, match=r"server.api_keys_file: '\.\./shared/keys.txt' is outside the config root"):
        GatewayKeys.from_config(config.server, config.resolve)
    wider = load_config(path, root=tree["tmp"])  # the operator names a wider root at start-up
    assert GatewayKeys.from_config(wider.server, wider.resolve).enabled
    code_built = parse_config({"models": {"m": {"backends": [{"base_url": "http://127.0.0.1:9/v1"}]}}})
    assert code_built.root is None  # a config built in code is the process's own: not confined
