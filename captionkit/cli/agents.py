"""Commands for agents and datasets: ``mcp`` (a Model Context Protocol server) and ``describe``."""

from __future__ import annotations

import importlib.util
from enum import Enum
from typing import Annotated, Optional

import typer

from captionkit.cli._common import fail


class Transport(str, Enum):
    stdio = "stdio"
    sse = "sse"
    streamable_http = "streamable-http"


def mcp_cmd(
    transport: Annotated[Transport, typer.Option("--transport", help="stdio (default, for desktop clients and coding agents), sse or streamable-http.")] = Transport.stdio,
    host: Annotated[str, typer.Option("--host", help="Address for the HTTP transports.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port for the HTTP transports.")] = 8000,
    backend: Annotated[str, typer.Option("--backend", "-b", help="Magic-prompt backend used by expand and describe when a call names none.")] = "ideogram-4-v1",
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="API root for --backend (a proxy, a local server's /v1); tool calls cannot change it.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model slug for --backend (required for openai-compatible).")] = None,
    render_model: Annotated[Optional[str], typer.Option("--render-model", envvar="CAPTIONKIT_MODEL", help="Model folder or hub id; offers the render tool (render extra).")] = None,
    device: Annotated[str, typer.Option("--device", help="Render device: auto, cpu, cuda, cuda:N.")] = "auto",
) -> None:
    """Serve captionkit's tools, resources and caption_rules prompt over MCP (stdio by default)."""
    if importlib.util.find_spec("mcp") is None:
        fail("the MCP server needs the mcp extra: pip install 'captionkit[mcp]'")
    from captionkit.magic import BACKENDS
    from captionkit.mcp import ServerConfig, build_server

    if backend not in BACKENDS:
        fail(f"--backend: unknown backend {backend!r} (choose one of: {', '.join(BACKENDS)})")
    if base_url is not None and not base_url.startswith(("http://", "https://")):
        fail(f"--base-url: {base_url!r} must start with http:// or https://")
    config = ServerConfig(
        backend=backend,
        base_url=base_url,
        model=model,
        render_model=render_model,
        render_options={"device": device},
    )
    server = build_server(config)
    if transport is Transport.stdio:
        server.run("stdio")
    else:
        server.run(transport.value, host=host, port=port)  # type: ignore[call-overload]


def register(app: typer.Typer) -> None:
    """Add ``mcp`` (and ``describe``) to ``app``."""
    app.command("mcp", help="Serve captionkit to agents over the Model Context Protocol (stdio by default).")(mcp_cmd)
