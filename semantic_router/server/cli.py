"""CLI commands of the gateway: `semantic-router serve CONFIG` and `semantic-router classify CONFIG "prompt"`.

`register(app)` adds them to the library's typer app. Server packages are imported only when a command runs,
so the rest of the CLI works without the `[server]` extra.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer

__all__ = ["classify", "register", "serve"]

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _fail(message: str) -> None:
    """One line on stderr, exit status 2."""
    typer.echo(f"error: {' '.join(str(message).split())}", err=True)
    raise typer.Exit(2)


def _load(config: Path) -> Any:
    """(config, runtime) or a one-line error; the runtime is built (model loaded) but not warmed."""
    try:
        from semantic_router.server import require_extra

        require_extra()
        from semantic_router.server.config import load_config
        from semantic_router.server.runtime import Runtime
    except ImportError as exc:
        _fail(str(exc))
    from semantic_router.errors import ConfigError

    try:
        cfg = load_config(config)
        return cfg, Runtime.build(cfg)
    except ConfigError as exc:
        _fail(str(exc))


def start_demo_backends(cfg: Any) -> list[Any]:
    """Stand-in backends on every loopback host:port the config's models point at."""
    from semantic_router.server.demo import DemoBackend, run_in_thread

    servers, seen = [], set()
    for name, model in cfg.models.items():
        for b in model.backends:
            parts = urlsplit(b.base_url)
            if parts.hostname not in _LOOPBACK or parts.port is None:
                _fail(f"--demo-backends needs loopback backends with a port; models.{name} uses {b.base_url}")
            if (parts.hostname, parts.port) in seen:
                continue
            seen.add((parts.hostname, parts.port))
            try:
                servers.append(run_in_thread(DemoBackend(name=name).app(), "127.0.0.1", parts.port))
            except OSError as exc:
                _fail(f"cannot start a demo backend on port {parts.port}: {exc.strerror or exc}")
            typer.echo(f"demo backend for {name} on http://127.0.0.1:{parts.port}", err=True)
    return servers


def serve(
    config: Path = typer.Argument(..., help="gateway config (YAML)"),
    host: str | None = typer.Option(None, "--host", help="bind address (default: the config's server.host)"),
    port: int | None = typer.Option(None, "--port", help="port (default: the config's server.port)"),
    demo_backends: bool = typer.Option(False, "--demo-backends",
                                       help="also start stand-in OpenAI-compatible backends on loopback"),
    log_level: str = typer.Option("info", "--log-level", help="uvicorn log level"),
) -> None:
    """Run the routing gateway (OpenAI-compatible) described by CONFIG."""
    cfg, runtime = _load(config)
    import uvicorn

    from semantic_router.server.http import create_app

    backends = start_demo_backends(cfg) if demo_backends else []
    try:
        app = create_app(runtime, config_path=config, signals=True)  # SIGHUP and PUT /admin/config reload CONFIG
        uvicorn.run(app, host=host or cfg.server.host, port=cfg.server.port if port is None else port,
                    log_level=log_level, access_log=False)
    finally:
        for server in backends:
            server.stop()


def classify(
    config: Path = typer.Argument(..., help="gateway config (YAML)"),
    prompt: str = typer.Argument(..., help="the prompt to classify"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Classify a prompt as the gateway would (decision, model, route, every signal) without forwarding it."""
    import asyncio

    _, runtime = _load(config)
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
        _fail(exc.message)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    conf = "-" if result["confidence"] is None else f"{result['confidence']:.3f}"
    score = "-" if result["score"] is None else f"{result['score']:.3f}"
    lines = [f"decision:   {result['decision']}", f"model:      {result['model']}",
             f"route:      {result['route'] or '(none)'} (score {score})", f"confidence: {conf}", "signals:"]
    for s in result["signals"]:
        c = "-" if s["confidence"] is None else f"{s['confidence']:.3f}"
        lines.append(f"  {'+' if s['matched'] else ' '} {s['type']}:{s['name']}  confidence {c}  {s['ms']:.2f} ms")
    lines.append(f"time:       {result['ms']:.2f} ms")
    sys.stdout.write("\n".join(lines) + "\n")


def register(app: typer.Typer) -> None:
    """Add `serve` and `classify` to a typer app."""
    app.command("serve")(serve)
    app.command("classify")(classify)
