"""Commands for agents and datasets: ``mcp`` (a Model Context Protocol server) and ``describe``."""

from __future__ import annotations

import importlib.util
from enum import Enum
from pathlib import Path
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
    backend: Annotated[str, typer.Option("--backend", "-b", help="Magic-prompt backend used by expand and describe when a call names none; local: the --model folder's prompt enhancer (expand only).")] = "ideogram-4-v1",
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="API root for --backend (a proxy, a local server's /v1); tool calls cannot change it.")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model slug for --backend (required for openai-compatible); for local, the model folder.")] = None,
    render_model: Annotated[Optional[str], typer.Option("--render-model", envvar="CAPTIONKIT_MODEL", help="Model folder or hub id; offers the render tool (render extra).")] = None,
    device: Annotated[str, typer.Option("--device", help="Render device: auto, cpu, cuda, cuda:N.")] = "auto",
) -> None:
    """Serve captionkit's tools, resources and caption_rules prompt over MCP (stdio by default)."""
    if importlib.util.find_spec("mcp") is None:
        fail("the MCP server needs the mcp extra: pip install 'captionkit[mcp]'")
    from captionkit.magic import BACKENDS, LOCAL_BACKEND
    from captionkit.mcp import ServerConfig, build_server

    if backend not in BACKENDS and backend != LOCAL_BACKEND.key:
        fail(f"--backend: unknown backend {backend!r} (choose one of: {', '.join([*BACKENDS, LOCAL_BACKEND.key])})")
    if backend == LOCAL_BACKEND.key and model is None and render_model is None:
        fail("--backend local: give --model (an Ideogram 4 folder with a prompt_enhancer_head) or --render-model")
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


class DescribeFormat(str, Enum):
    caption = "caption"
    record = "record"


def describe_cmd(
    paths: Annotated[list[Path], typer.Argument(help="An image, or folders and images for dataset mode.")],
    backend: Annotated[str, typer.Option("--backend", "-b", help="ideogram-4-v1 (hosted describe, default), claude-opus-v1, claude-sonnet-v1 (OpenRouter vision) or openai-compatible.")] = "ideogram-4-v1",
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="API root the request path is appended to (a proxy, a local server's /v1).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model slug (chat backends; required for openai-compatible).")] = None,
    prompt: Annotated[Optional[str], typer.Option("--prompt", help="Packaged prompt name or a prompt file (default captionkit-describe-v1).")] = None,
    hint: Annotated[Optional[str], typer.Option("--hint", help="Context for chat models ('the product is a Leica M6').")] = None,
    strip_bboxes: Annotated[bool, typer.Option("--strip-bboxes", help="Drop element boxes (default: keep them).")] = False,
    box_format: Annotated[Optional[str], typer.Option("--box-format", help="The model's box convention when not the caption's: ORDER-SCALE (xyxy, xywh or yxyx; 1000, unit or pixels of the image), a bare order (pixels of the image), or auto.")] = None,
    style: Annotated[bool, typer.Option("--style/--no-style", help="Ask for a style_description.")] = True,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="One image: write the caption here instead of stdout.")] = None,
    jsonl: Annotated[Optional[Path], typer.Option("--jsonl", help="Dataset mode: one JSONL of records instead of sidecar .json files.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Dataset mode: describe images that already have a caption again.")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="--jsonl: drop earlier error records and try those images again.")] = False,
    concurrency: Annotated[int, typer.Option("--concurrency", "-j", min=1, help="Dataset mode: calls in flight at once.")] = 4,
    max_reasks: Annotated[int, typer.Option("--max-reasks", min=0, help="Follow-up requests when a reply fails verification.")] = 2,
    deadline: Annotated[float, typer.Option("--deadline", min=0.1, help="Overall seconds per image, retries included.")] = 600.0,
    unsafe: Annotated[bool, typer.Option("--unsafe", help="Also apply unsafe fixes (clamping boxes, invented element types).")] = False,
    fmt: Annotated[DescribeFormat, typer.Option("--format", help="One image: caption, or record (caption plus provenance).")] = DescribeFormat.caption,
    progress: Annotated[Optional[bool], typer.Option("--progress/--no-progress", help="Dataset progress bar (default: when stderr is a terminal).")] = None,
) -> None:
    """Write verified captions for existing images: one image to stdout, or a dataset to sidecars or JSONL.

    Exit 0 when every image got a caption, 1 when one could not be made, 2 for usage errors.
    """
    import json
    import sys

    from captionkit.cli._common import EXIT_CLEAN, EXIT_FINDINGS, err, write_atomic
    from captionkit.magic import errors

    options = {
        "backend": backend,
        "base_url": base_url,
        "model": model,
        "prompt": prompt,
        "strip_bboxes": strip_bboxes,
        "box_format": box_format,
        "style": style,
        "max_reasks": max_reasks,
        "deadline": deadline,
        "unsafe_fixes": unsafe,
    }
    single = len(paths) == 1 and paths[0].is_file() and jsonl is None
    if not single:
        if output is not None:
            fail("-o is for one image; a dataset gets sidecar files, or --jsonl OUT")
        if retry_failed and jsonl is None:
            fail("--retry-failed needs --jsonl")
        from captionkit.magic import describe_dataset

        show = sys.stderr.isatty() if progress is None else progress
        try:
            report = describe_dataset(
                paths, jsonl=jsonl, overwrite=overwrite, retry_failed=retry_failed,
                concurrency=concurrency, hint=hint, progress=show, **options,
            )
        except (errors.MagicPromptError, ValueError) as exc:
            fail(str(exc))
        for item_id, message in report.failed:
            err(f"error: {item_id}: {message}")
        for item_id in report.kept:
            err(f"warning: {item_id}: its sidecar exists but is not a valid caption; left as is (--overwrite redoes it)")
        err(report.summary())
        raise typer.Exit(EXIT_CLEAN if report.ok else EXIT_FINDINGS)
    from captionkit.magic import DescribeClient

    backend_name = options.pop("backend")
    try:
        with DescribeClient(backend_name, **options) as client:
            result = client.describe(paths[0], hint=hint)
    except errors.CaptionRepairError as exc:
        err(f"error: {exc}")
        for line in exc.diagnostics:
            err(f"  {line}")
        raise typer.Exit(EXIT_FINDINGS) from None
    except (errors.MagicPromptError, ValueError) as exc:
        fail(str(exc))
    for warning in result.warnings:
        err(f"note: {warning}")
    err(result.summary())
    payload = result.text if fmt is DescribeFormat.caption else json.dumps(result.to_dict(), ensure_ascii=False)
    if output is None:
        typer.echo(payload)
    else:
        try:
            write_atomic(output, payload + "\n")
        except OSError as exc:
            fail(f"{output}: cannot write ({exc.strerror or exc})")
        err(f"wrote {output}")
    raise typer.Exit(EXIT_CLEAN)


def expand_local_cmd(
    idea: str | None,
    aspect: str,
    model: str | None,
    output: Path | None,
    max_reasks: int,
    unsafe: bool,
    fmt: str,
    batch: Path | None,
) -> None:
    """``captionkit expand --backend local``: the local pipeline's prompt enhancer, then the repair loop."""
    import json
    import sys

    from captionkit.cli._common import EXIT_CLEAN, EXIT_FINDINGS, err, write_atomic
    from captionkit.magic import LocalMagicPrompt, errors

    if batch is not None:
        fail("--backend local expands one idea at a time; --batch is for the hosted and chat backends")
    if idea is None:
        fail("give an idea (or '-' to read it from stdin)")
    if idea == "-":
        idea = sys.stdin.read()
    if importlib.util.find_spec("diffusers") is None:
        fail("--backend local needs the render extra: pip install 'captionkit[render]'")
    try:
        result = LocalMagicPrompt(model, max_reasks=max_reasks, unsafe_fixes=unsafe).expand(idea, aspect)
    except errors.CaptionRepairError as exc:
        err(f"error: {exc}")
        for line in exc.diagnostics:
            err(f"  {line}")
        raise typer.Exit(EXIT_FINDINGS) from None
    except Exception as exc:  # configuration, loading (RenderError) and aspect errors: one line
        fail(" ".join(str(exc).split()) or type(exc).__name__)
    for warning in result.warnings:
        err(f"warning: {warning}")
    err(result.summary())
    payload = result.text if fmt == "caption" else json.dumps(result.to_dict(), ensure_ascii=False)
    if output is None:
        typer.echo(payload)
    else:
        write_atomic(output, payload + "\n")
        err(f"wrote {output}")
    raise typer.Exit(EXIT_CLEAN)


def register(app: typer.Typer) -> None:
    """Add ``mcp`` and ``describe`` to ``app``."""
    app.command("mcp", help="Serve captionkit to agents over the Model Context Protocol (stdio by default).")(mcp_cmd)
    app.command("describe", help="Write verified captions for existing images (one image, or a dataset folder).")(describe_cmd)
