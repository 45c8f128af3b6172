"""CLI commands of the gateway: `semantic-router serve CONFIG`, `semantic-router classify CONFIG "prompt"` and
`semantic-router config convert THEIRS --out OURS.yaml` (a vLLM Semantic Router config into ours).

`register(app)` adds them to the library's typer app. Server packages are imported only when a command runs,
so the rest of the CLI works without the `[server]` extra.
"""

from __future__ import annotations

import contextlib
import enum
import json
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer

from semantic_router.cli.output import die, number

__all__ = ["classification_text", "classify", "convert", "listen", "preflight", "register", "serve"]

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class LogLevel(str, enum.Enum):
    """uvicorn's log levels (a choice, so a typo is a usage error, not a KeyError after the model loaded)."""

    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"
    trace = "trace"


def _read(config: Path) -> Any:
    """The gateway config, checked as far as it can be without loading a model (`preflight`), or a one-line error."""
    try:
        from semantic_router.server import require_extra

        require_extra()
    except ImportError as exc:
        die(str(exc))
    from semantic_router.errors import ConfigError
    from semantic_router.server.config import load_config

    try:
        cfg = load_config(config)
        preflight(cfg)
    except ConfigError as exc:
        die(str(exc))
    return cfg


def preflight(cfg: Any) -> None:
    """ConfigError for whatever `Runtime.build` would refuse that needs no model: the router config and its
    components, routes the decisions name, gateway and backend keys. Bad input then fails in milliseconds
    instead of after the model has loaded and encoded every utterance."""
    import asyncio

    from semantic_router.extras import require
    from semantic_router.cli.loading import check_components, read_config
    from semantic_router.config import RouterConfig
    from semantic_router.errors import ConfigError
    from semantic_router.server.ingress.auth import GatewayKeys
    from semantic_router.server.config import check_route_references
    from semantic_router.server.act.upstream import Upstreams

    spec = cfg.signals.routes
    if spec is not None:
        where = "signals.routes.path" if spec.path is not None else "signals.routes.router"
        path = None if spec.path is None else cfg.resolve(spec.path, where)  # refuses paths leaving the root
        try:
            if path is not None:
                if not path.is_file():
                    raise ConfigError(f"no such file: {spec.path!r}")
                router = read_config(path)
            else:
                router = check_components(RouterConfig.parse(dict(spec.router or {}), where), where)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if spec.auto_sync is None:
            check_route_references(cfg, [r.name for r in router.routes])
    GatewayKeys.from_config(cfg.server, cfg.resolve)
    asyncio.run(Upstreams.from_config(cfg).aclose())  # each backend's api_key_env is set
    if cfg.cluster is not None:
        require("redis.asyncio", "redis", "the gateway's cluster stats (cluster:)")


def _runtime(cfg: Any) -> Any:
    """The runtime of a checked config: the router is built here (model loaded, utterances encoded), not warmed."""
    from semantic_router.errors import ConfigError
    from semantic_router.server.runtime import Runtime

    try:
        return Runtime.build(cfg)
    except ConfigError as exc:
        die(str(exc))


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (as uvicorn binds it), taken BEFORE the model loads: a port in use or a bad
    address is a one-line error at once, and nobody can take the port while the model loads."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:  # in use, not an address of this machine, an unknown host name
        sock.close()
        die(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    return sock


def start_demo_backends(cfg: Any) -> list[Any]:
    """Stand-in backends on every loopback host:port the config's models point at."""
    from semantic_router.server.demo import DemoBackend, run_in_thread

    servers, seen = [], set()
    for name, model in cfg.models.items():
        for b in model.backends:
            parts = urlsplit(b.base_url)
            if parts.hostname not in _LOOPBACK or parts.port is None:
                die(f"--demo-backends needs loopback backends with a port; models.{name} uses {b.base_url}")
            if (parts.hostname, parts.port) in seen:
                continue
            seen.add((parts.hostname, parts.port))
            try:
                servers.append(run_in_thread(DemoBackend(name=name).app(), "127.0.0.1", parts.port))
            except OSError as exc:
                die(f"cannot start a demo backend on port {parts.port}: {exc.strerror or exc}")
            typer.echo(f"demo backend for {name} on http://127.0.0.1:{parts.port}", err=True)
    return servers


def _ext_proc(host: str, port: int | None) -> list[Any]:
    """The ext_proc companion of `serve` (none without a port): its extra and its port checked before the model
    loads (the port is bound again when the app starts; one taken meanwhile fails the start-up)."""
    if port is None:
        return []
    from semantic_router.extras import require

    try:
        require("grpc", "extproc", "the Envoy external processor (--ext-proc-port)")
        require("envoy.service.ext_proc.v3", "extproc", "the Envoy external processor (--ext-proc-port)")
    except ImportError as exc:
        die(str(exc))
    listen(host, port).close()
    from semantic_router.server.extproc.service import ExtProcServer

    return [ExtProcServer(host, port)]


KEEP_ALIVE_SECONDS = 75  # seconds an idle client connection stays open


def serve(
    config: Path = typer.Argument(..., help="gateway config (YAML)"),
    host: str | None = typer.Option(None, "--host", help="bind address (default: the config's server.host)"),
    port: int | None = typer.Option(None, "--port", min=0, max=65535,
                                    help="port (default: the config's server.port)"),
    demo_backends: bool = typer.Option(False, "--demo-backends",
                                       help="also start stand-in OpenAI-compatible backends on loopback"),
    log_level: LogLevel = typer.Option(LogLevel.info, "--log-level", help="uvicorn log level"),
    ext_proc_port: int | None = typer.Option(None, "--ext-proc-port", min=0, max=65535,
                                             help="also serve Envoy's ext_proc gRPC service on this port "
                                                  "(e.g. 50051; needs the 'extproc' extra)"),
    ext_proc_host: str | None = typer.Option(None, "--ext-proc-host",
                                             help="ext_proc bind address (default: --host)"),
    no_http: bool = typer.Option(False, "--no-http", help="serve only ext_proc: no HTTP listener (no /v1, "
                                 "/ready, /metrics, dashboard or PUT /admin/config; SIGHUP still reloads)"),
) -> None:
    """Run the routing gateway (OpenAI-compatible) described by CONFIG."""
    if no_http and ext_proc_port is None:
        die("--no-http needs --ext-proc-port (the gateway would serve nothing)")
    cfg = _read(config)
    host = host or cfg.server.host
    port = cfg.server.port if port is None else port
    companions = _ext_proc(ext_proc_host or host, ext_proc_port)
    sock = None if no_http else listen(host, port)
    backends: list[Any] = []
    try:
        backends = start_demo_backends(cfg) if demo_backends else []
        runtime = _runtime(cfg)
        import uvicorn

        from semantic_router.server.http import create_app

        # SIGHUP and PUT /admin/config reload CONFIG
        app = create_app(runtime, config_path=config, signals=True, companions=companions)
        if sock is None:
            from semantic_router.server.extproc.service import serve_without_http

            try:
                serve_without_http(app)
            except OSError as exc:  # the ext_proc port was taken while the model loaded
                die(str(exc))
            return
        # keep-alive longer than the clients' (httpx and the OpenAI SDK: 5 s): with equal timeouts a client may
        # send on a connection the server is closing (ReadError in load runs)
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level.value, access_log=False,
                                               timeout_keep_alive=KEEP_ALIVE_SECONDS))
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl+C it handled, as uvicorn.run does
            server.run(sockets=[sock])
    finally:
        if sock is not None:
            sock.close()
        for backend in backends:
            backend.stop()
    if not server.started:  # the app's start-up failed (uvicorn logged why): uvicorn's own status
        raise typer.Exit(3)


def classify(
    config: Path = typer.Argument(..., help="gateway config (YAML)"),
    prompt: str = typer.Argument(..., help="the prompt to classify"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Classify a prompt as the gateway would (decision, model, route, every signal) without forwarding it."""
    import asyncio

    runtime = _runtime(_read(config))
    from semantic_router.server.ingress.errors import APIError
    from semantic_router.server.ingress.requests import prompt_conversation

    async def run() -> Any:
        try:
            return await runtime.classify(prompt_conversation(prompt))
        finally:
            await runtime.aclose()

    try:
        result = asyncio.run(run()).as_dict()
    except APIError as exc:
        die(exc.message)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    sys.stdout.write(classification_text(result))


def classification_text(result: dict[str, Any]) -> str:
    """`classify`'s human-readable answer: decision, model, route, confidence, one line per signal, time."""
    lines = [f"decision:   {result['decision']}", f"model:      {result['model']}",
             f"route:      {result['route'] or '(none)'} (score {number(result['score'])})",
             f"confidence: {number(result['confidence'])}", "signals:"]
    for s in result["signals"]:
        lines.append(f"  {'+' if s['matched'] else ' '} {s['type']}:{s['name']}  confidence {number(s['confidence'])}  "
                     f"{s['ms']:.2f} ms")
    lines.append(f"time:       {result['ms']:.2f} ms")
    return "\n".join(lines) + "\n"


def convert(
    source: Path = typer.Argument(..., help="a vLLM Semantic Router config (routing:, providers:)"),
    out: Path = typer.Option(..., "--out", help="where to write our native gateway config (YAML)"),
) -> None:
    """Translate a vLLM Semantic Router config into this gateway's native format (checked, written atomically)."""
    from semantic_router.errors import ConfigError
    from semantic_router.files import atomic_write, dump_yaml, read_text_data
    from semantic_router.server.config import parse_config
    from semantic_router.server.vsr_config import is_vsr, to_native

    try:
        data = read_text_data(source, "yaml")
        if not is_vsr(data):
            raise ConfigError(f"{source}: not a vLLM Semantic Router config (it has no 'routing:' or 'providers:')")
        native = to_native(data, str(source))
        parse_config(native, str(source))  # what we write, serve reads
    except ConfigError as exc:
        die(str(exc))
    header = f"# Converted by `semantic-router config convert` from {source.name} (vLLM Semantic Router format).\n"
    try:
        atomic_write(out, header + dump_yaml(native))
    except OSError as exc:
        die(f"cannot write {str(out)!r}: {exc.strerror or exc}")
    typer.echo(f"wrote {out} ({len(native['decisions'])} decisions, {len(native['models'])} models)", err=True)


def register(app: typer.Typer) -> None:
    """Add `serve`, `classify` and `config convert` to a typer app."""
    app.command("serve")(serve)
    app.command("classify")(classify)
    config_app = typer.Typer(help="Gateway config files: convert other formats into ours.", no_args_is_help=True,
                             add_completion=False, rich_markup_mode=None)
    config_app.command("convert")(convert)
    app.add_typer(config_app, name="config")
