"""The captionkit MCP server: tools, resources and a prompt over the official ``mcp`` SDK (2.x).

Every tool returns a typed result (its output schema comes from :mod:`captionkit.mcp._models`).
Anything the caller got wrong, from a malformed size to a missing API key, comes back as a tool
error whose text is one line naming the cause; a bug inside a tool comes back the same way, so
the server keeps serving whatever the arguments.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import inspect
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError, UnexpectedToolError
from mcp.types import CallToolResult, ImageContent, TextContent
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from captionkit import __version__
from captionkit._frames import frame_size
from captionkit._io import write_atomic
from captionkit._json import canonical_order, dumps, parse_exact
from captionkit._loads import loads
from captionkit.builder import CaptionBuilder
from captionkit.diagnostics import CaptionError, Severity, pointer
from captionkit.fixes import fix
from captionkit.layout import Frame
from captionkit.magic import (
    BACKENDS,
    DEFAULT_BACKEND,
    LOCAL_BACKEND,
    AsyncDescribeClient,
    AsyncMagicPromptClient,
    LocalMagicPrompt,
    MagicPromptError,
    MissingAPIKeyError,
)
from captionkit.mcp import _models as out
from captionkit.mcp._teach import caption_rules
from captionkit.preview import render_preview
from captionkit.render.errors import RenderError
from captionkit.render.metadata import png_bytes
from captionkit.render.pipeline import Renderer
from captionkit.render.presets import DEFAULT_PRESET
from captionkit.rules import RULES, rule
from captionkit.schema import caption_schema, schema_text
from captionkit.templates import TEMPLATES
from captionkit.templates import template as make_template
from captionkit.tokens import count_tokens
from captionkit.verifier import verify

__all__ = ["ServerConfig", "build_server", "example_captions"]

_INSTRUCTIONS = (
    "captionkit writes, checks, repairs and renders Ideogram 4 JSON captions. Read the caption_rules "
    "prompt first. Build captions with new_caption, check them with verify, repair them with fix, and "
    "pass format's text to the image model. expand turns an idea into a verified caption and describe "
    "writes one for an existing image; both need a backend API key in the server's environment."
)

BackendName = Literal[tuple(BACKENDS)]  # type: ignore[valid-type]  # the registry keys, as an enum
# expand also takes the local backend: the server's own pipeline with its prompt-enhancer head
ExpandBackendName = Literal[(*BACKENDS, LOCAL_BACKEND.key)]  # type: ignore[valid-type]


def _as_text(value: Any) -> Any:
    # An object stands for its JSON text, keys in the order given. The annotation stays ``str`` so
    # the SDK never pre-parses caption text (that would lose escapes, duplicates and formatting).
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


CaptionText = Annotated[
    str,
    BeforeValidator(_as_text),
    Field(description="The caption as JSON text (a JSON object is accepted too)."),
]
Size = Annotated[
    str | None,
    Field(description="Output size WIDTHxHEIGHT such as 1536x1024, or a preset (square, portrait, landscape, ...)."),
]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ElementSpec(_Spec):
    """One element of a caption spec."""

    type: Literal["obj", "text"]
    desc: str = Field(description="Identity first, then attributes and placement (30-60 words).")
    text: str | None = Field(None, description="The literal characters of a text element, verbatim.")
    bbox: list[int] | None = Field(None, description="[y_min, x_min, y_max, x_max], integers 0-1000.")
    color_palette: list[str] | None = Field(None, description="At most 5 colours, any CSS notation.")


class StyleSpec(_Spec):
    """The style block of a caption spec: give exactly one of photo or art_style."""

    aesthetics: str
    lighting: str
    medium: str | None = Field(None, description="snake_case: photograph, illustration, 3d_render, ...")
    photo: str | None = Field(None, description="Camera and lens, for photographs.")
    art_style: str | None = Field(None, description="The art style, for everything else.")
    color_palette: list[str] | None = Field(None, description="At most 16 colours, any CSS notation.")


class CaptionSpec(_Spec):
    """A caption given as fields and elements (colours are normalised, boxes kept as given)."""

    high_level_description: str | None = None
    style_description: StyleSpec | None = None
    background: str
    elements: list[ElementSpec] = Field(default_factory=list)


@dataclass(frozen=True)
class ServerConfig:
    """How the server reaches backends and models (fixed at start; never taken from tool calls).

    Attributes:
        backend: The magic-prompt backend used when a tool call names none (``local``: the
            pipeline in ``model``, a folder with a prompt-enhancer head).
        base_url: API root for ``backend`` only (a proxy or a local server's ``/v1``). A tool
            call can pick another backend but never a URL, so a key is never sent elsewhere.
        model: Model slug for ``backend`` (required for ``openai-compatible``); for ``local``,
            the model folder. Without it, ``local`` uses the render pipeline (``renderer`` or
            ``render_model``).
        magic_options: More client options for expand and describe (``retry``, ``deadline``...).
        render_model: A model folder or hub id; enables the ``render`` tool (render extra).
        renderer: An already built :class:`captionkit.render.Renderer`; enables ``render``.
        render_options: Options for the :class:`~captionkit.render.Renderer` made from
            ``render_model`` (``device``, ``dtype``, ``quantization``...).
    """

    backend: str = DEFAULT_BACKEND
    base_url: str | None = None
    model: str | None = None
    magic_options: Mapping[str, Any] = field(default_factory=dict)
    render_model: str | None = None
    renderer: Any = None
    render_options: Mapping[str, Any] = field(default_factory=dict)

    def client_options(self, backend: str, model: str | None) -> dict[str, Any]:
        """Options for a magic client of ``backend`` (the configured URL and model apply to its own backend)."""
        options = dict(self.magic_options)
        if backend == self.backend:
            if self.base_url:
                options["base_url"] = self.base_url
            if self.model and model is None:
                model = self.model
        if model:
            options["model"] = model
        return options

    @property
    def can_render(self) -> bool:
        """Whether the render tool is offered: a model is configured and the render extra is installed."""
        if self.renderer is not None:
            return True
        if not self.render_model:
            return False
        return all(importlib.util.find_spec(m) is not None for m in ("torch", "diffusers", "transformers"))


def _line(text: Any) -> str:
    return " ".join(str(text).split()) or "failed without a message"


def _fail(message: Any) -> ToolError:
    return ToolError(_line(message))


def _guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn any exception a tool raises into a one-line tool error naming its cause."""
    name = fn.__name__

    def convert(exc: Exception) -> ToolError:
        if isinstance(exc, ToolError):
            return exc
        if isinstance(exc, ValueError):
            return _fail(exc)
        return _fail(f"{name}: internal error ({type(exc).__name__}: {exc}); please report it")

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                raise convert(exc) from exc

        return run_async

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise convert(exc) from exc

    return run


def _validation_line(tool: str, error: ValidationError) -> str:
    problems = error.errors()
    first = problems[0]
    where = ".".join(str(p) for p in first["loc"]) or "arguments"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return _line(f"{tool}: argument {where}: {first['msg']}{more}")


class _CaptionkitServer(MCPServer):
    """MCPServer whose argument errors read as one line naming the argument."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as exc:
            # only a result that fails its own schema gets here (_guarded converts the rest)
            raise ToolError(f"{name}: internal error: {type(exc.__cause__).__name__}; please report it") from exc
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError):
                raise ToolError(_validation_line(name, exc.__cause__)) from exc.__cause__
            # the SDK prefixes "Error executing tool NAME: "; the cause already names the tool
            message = str(exc).removeprefix(f"Error executing tool {name}: ")
            if not message.startswith(f"{name}: ") and not message.startswith("Unknown tool"):
                message = f"{name}: {message}"
            raise ToolError(message) from exc.__cause__


def _frame(size: str | None) -> tuple[int, int] | None:
    """``(width, height)`` from ``WxH``, a frame name or ``W:H``, read by the one size parser.

    Any positive size is taken (the lints and pixel boxes need only the geometry).
    """
    try:
        return frame_size(size)
    except ValueError as exc:
        raise _fail(str(exc)) from None


def _caption(text: str, tool: str) -> Any:
    """The caption model for ``text``, or a one-line tool error with the first problem."""
    try:
        return loads(text)
    except CaptionError as exc:
        raise _fail(f"{tool}: not a valid caption: {_first_problem(exc.report)}; run verify or fix") from None


def _first_problem(report: Any) -> str:
    found = list(report.errors) or list(report)
    if not found:
        return "no details"
    first = found[0]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return f"{first.pointer or '/'}: {first.code} {first.message}{more}"


def _changes(changes: Any) -> list[out.ChangeOut]:
    return [out.ChangeOut(code=c.code, message=c.message, safe=c.safe, applicability=c.applicability,
                          pointer=pointer(c.path)) for c in changes]


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _image_block(data: bytes) -> ImageContent:
    return ImageContent(type="image", data=base64.b64encode(data).decode("ascii"), mime_type="image/png")


def example_captions() -> dict[str, str]:
    """The bundled example captions by name (the wheel's ``captionkit/examples``, else the source tree's).

    >>> sorted(example_captions())[:1]
    ['espresso']
    """
    package = Path(__file__).resolve().parents[1]
    for folder in (package / "examples", package.parent / "examples"):
        files = sorted(folder.glob("*.json")) if folder.is_dir() else []
        if files:
            return {f.stem: f.read_text(encoding="utf-8") for f in files}
    return {}


def build_server(config: ServerConfig | None = None, **options: Any) -> MCPServer:
    """Build the server (tools, resources, prompt); ``run()`` it, or hand it to ``mcp.Client`` in tests.

    Args:
        config: A :class:`ServerConfig`; keywords build one when it is not given.

    Example:
        >>> import anyio
        >>> from mcp import Client
        >>> async def main():
        ...     async with Client(build_server()) as client:
        ...         result = await client.call_tool("format", {"caption": '{"compositional_deconstruction":'
        ...                                          ' {"elements": [], "background": "A wall."}}'})
        ...         return result.structured_content
        >>> anyio.run(main)
        {'text': '{"compositional_deconstruction":{"background":"A wall.","elements":[]}}', 'changed': True}
    """
    cfg = config or ServerConfig(**options)
    server = _CaptionkitServer(
        "captionkit",
        title="captionkit",
        instructions=_INSTRUCTIONS,
        version=__version__,
        log_level="WARNING",
    )
    _add_caption_tools(server)
    pipelines = _Pipelines(cfg)
    _add_magic_tools(server, cfg, pipelines)
    if cfg.can_render:
        _add_render_tool(server, pipelines)
    _add_resources(server)

    @server.prompt(name="caption_rules", title="Ideogram 4 caption rules")
    def caption_rules_prompt(goal: str | None = None) -> str:
        """The caption contract and the tool workflow, to read before writing captions."""
        return caption_rules(goal)

    return server


def _add_caption_tools(server: MCPServer) -> None:
    @server.tool(name="new_caption", title="New caption")
    @_guarded
    def new_caption(
        template: Annotated[
            Literal["poster", "product", "scene"] | None,
            Field(description="Start from a template (default: scene when no spec is given)."),
        ] = None,
        size: Size = None,
        spec: Annotated[CaptionSpec | None, Field(description="Build from these fields and elements instead.")] = None,
    ) -> out.CaptionOut:
        """Create a caption that verifies: from a template laid out for a size, or from a spec."""
        if spec is not None and template is not None:
            raise _fail("new_caption: give either template or spec, not both")
        frame = _frame(size)
        try:
            if spec is None:
                caption = make_template(template or "scene", Frame(*frame) if frame else None).build()
            else:
                caption = _from_spec(spec).build()
        except CaptionError as exc:
            raise _fail(f"new_caption: the spec is not a valid caption: {_first_problem(exc.report)}") from None
        text = caption.dumps()
        return out.CaptionOut(text=text, caption=caption.to_dict(), diagnostics=out.diagnostics(verify(text, frame=frame)))

    @server.tool(name="verify", title="Verify a caption")
    @_guarded
    def verify_tool(
        caption: CaptionText,
        size: Size = None,
        lints: Annotated[bool, Field(description="Include the prompting-guide lints (CK6xx).")] = True,
        select: Annotated[list[str] | None, Field(description="Only these codes or prefixes (CK2, CK301).")] = None,
        ignore: Annotated[list[str] | None, Field(description="Skip these codes or prefixes.")] = None,
    ) -> out.VerifyOut:
        """Check a caption: every finding with its code, severity, path and message."""
        report = verify(caption, frame=_frame(size), lints=lints, select=select, ignore=ignore)
        return out.VerifyOut(
            ok=report.ok,
            errors=len(report.errors),
            warnings=sum(1 for d in report if d.severity is Severity.warning),
            diagnostics=out.diagnostics(report),
        )

    @server.tool(name="fix", title="Fix a caption")
    @_guarded
    def fix_tool(
        caption: CaptionText,
        unsafe: Annotated[bool, Field(description="Also clamp, truncate and guess types (changes meaning).")] = False,
        box_format: Annotated[
            Literal["yxyx", "xyxy", "xywh", "pixels", "unit"] | None,
            Field(description="The boxes' convention when it is not [y_min, x_min, y_max, x_max] on 0-1000."),
        ] = None,
        size: Size = None,
    ) -> out.FixOut:
        """Repair a caption: the safe fixes always, unsafe ones on request; every change is listed."""
        frame = _frame(size)
        if box_format == "pixels" and frame is None:
            raise _fail("fix: box_format 'pixels' needs size (the image's WIDTHxHEIGHT)")
        result = fix(caption, unsafe=unsafe, box_format=box_format, frame=frame)
        if result.text is None:
            raise _fail("fix: no JSON object found in the caption text")
        return out.FixOut(
            ok=result.report.ok,
            text=result.text,
            changes=_changes(result.changes),
            diagnostics=out.diagnostics(result.report),
            metadata=json.loads(json.dumps(result.metadata, default=str)),
        )

    @server.tool(name="format", title="Format a caption")
    @_guarded
    def format_tool(
        caption: CaptionText,
        pretty: Annotated[bool, Field(description="Indent for people (not what the model should get).")] = False,
    ) -> out.FormatOut:
        """Re-serialise caption JSON canonically: key order, compact separators, literal non-ASCII."""
        try:
            value = parse_exact(caption)
        except ValueError as exc:
            raise _fail(f"format: invalid JSON: {exc}") from None
        text = dumps(value, pretty=pretty)
        return out.FormatOut(text=text, changed=text != caption.rstrip("\r\n"))

    @server.tool(name="preview", title="Preview the layout", structured_output=True)
    @_guarded
    async def preview_tool(
        caption: CaptionText,
        size: Size = None,
        width: Annotated[int, Field(ge=64, le=4096, description="Preview width in pixels.")] = 768,
    ) -> Annotated[CallToolResult, out.PreviewOut]:
        """Draw the caption's layout (boxes, text, palettes) as a PNG image."""
        frame = _frame(size)
        model = _caption(caption, "preview")
        image = await anyio.to_thread.run_sync(
            functools.partial(render_preview, model, frame=f"{frame[0]}x{frame[1]}" if frame else None, width=width)
        )
        elements = model.compositional_deconstruction.elements
        meta = out.PreviewOut(
            width=image.width,
            height=image.height,
            elements=len(elements),
            boxed=sum(1 for e in elements if e.bbox is not None),
        )
        return CallToolResult(
            content=[_image_block(_png(image)), TextContent(type="text", text=meta.model_dump_json())],
            structured_content=meta.model_dump(mode="json"),
        )

    @server.tool(name="tokens", title="Count tokens")
    @_guarded
    def tokens_tool(
        caption: CaptionText,
        raw: Annotated[bool, Field(description="Count the text as is, not its canonical form.")] = False,
    ) -> out.TokensOut:
        """Count the tokens the pipeline sees (chat wrapper included) against its 2048-token limit."""
        prompt = caption.removesuffix("\n")
        if not raw:
            try:
                value = parse_exact(prompt)
            except ValueError:
                value = None
            if isinstance(value, dict):
                prompt = dumps(canonical_order(value))
        count = count_tokens(prompt)
        return out.TokensOut(
            count=count.count,
            exact=count.exact,
            method=count.method,
            upper_bound=count.upper_bound,
            limit=count.limit,
            status=count.status,
            detail=count.detail,
        )


def _from_spec(spec: CaptionSpec) -> Any:
    builder = CaptionBuilder().background(spec.background)
    if spec.high_level_description is not None:
        builder = builder.describe(spec.high_level_description)
    style = spec.style_description
    if style is not None:
        builder = builder.style(
            aesthetics=style.aesthetics,
            lighting=style.lighting,
            medium=style.medium,
            photo=style.photo,
            art_style=style.art_style,
            palette=style.color_palette,
        )
    for i, e in enumerate(spec.elements):
        if e.type == "text":
            if e.text is None:
                raise _fail(f"new_caption: spec.elements.{i}: a text element needs 'text' (the characters to render)")
            builder = builder.text(e.text, e.desc, box=e.bbox, palette=e.color_palette)
        else:
            if e.text is not None:
                raise _fail(f"new_caption: spec.elements.{i}: an obj element has no 'text'; use type 'text'")
            builder = builder.obj(e.desc, box=e.bbox, palette=e.color_palette)
    return builder


def _magic_message(exc: Any) -> str:
    if isinstance(exc, RenderError):
        return f"local: {exc}"
    if isinstance(exc, MissingAPIKeyError):
        names = " or ".join(exc.env_vars)
        return f"{exc.backend}: no API key; set {names} in the MCP server's environment (the client's server settings)"
    return exc.message


def _magic_out(result: Any, cls: type[out.MagicOut] = out.MagicOut, **extra: Any) -> Any:
    return cls(
        text=result.text,
        caption=result.caption.to_dict(),
        aspect_ratio=result.aspect_ratio,
        backend=result.backend,
        model=result.model,
        attempts=result.attempts,
        changes=_changes(result.changes),
        warnings=list(result.warnings),
        diagnostics=out.diagnostics(result.diagnostics or ()),
        **extra,
    )


# LocalMagicPrompt's own options, which ServerConfig.magic_options may set for the local backend
_LOCAL_OPTIONS = ("strip_bboxes", "max_reasks", "max_new_tokens", "temperature", "seed", "unsafe_fixes")


class _Pipelines:
    """The server's local pipelines (render, and the local magic prompt), made on first use.

    One lock: a pipeline runs one call at a time, and the local backend shares the render
    pipeline when no model of its own is configured.
    """

    def __init__(self, cfg: ServerConfig) -> None:
        self.cfg = cfg
        self.lock = anyio.Lock()
        self._renderer: Any = cfg.renderer
        self._local: LocalMagicPrompt | None = None

    def renderer(self) -> Any:
        if self._renderer is None:
            self._renderer = Renderer(self.cfg.render_model, **dict(self.cfg.render_options))
        return self._renderer

    def local(self) -> LocalMagicPrompt:
        if self._local is None:
            cfg = self.cfg
            options = {k: v for k, v in cfg.magic_options.items() if k in _LOCAL_OPTIONS}
            if cfg.backend == LOCAL_BACKEND.key and cfg.model:
                self._local = LocalMagicPrompt(cfg.model, **options, **dict(cfg.render_options))
            elif cfg.renderer is not None or cfg.render_model:
                self._local = LocalMagicPrompt(renderer=self.renderer(), **options)
            else:
                raise _fail(
                    "expand: local: no model; start the server with --backend local --model FOLDER (an Ideogram 4 "
                    "folder with a prompt_enhancer_head) or with --render-model"
                )
        return self._local


def _add_magic_tools(server: MCPServer, cfg: ServerConfig, pipelines: _Pipelines) -> None:
    @server.tool(name="expand", title="Expand an idea")
    @_guarded
    async def expand_tool(
        idea: Annotated[str, Field(description="The picture, in plain words.")],
        aspect: Annotated[str, Field(description="W:H, WxH, a frame size such as 1536x1024, or auto.")] = "auto",
        backend: Annotated[
            ExpandBackendName | None,
            Field(description="The magic-prompt backend (default: the server's); local is the server's own pipeline."),
        ] = None,
        model: Annotated[str | None, Field(description="Model slug for chat backends.")] = None,
        keep_bboxes: Annotated[bool, Field(description="Keep element boxes (default: strip them).")] = False,
        style: Annotated[bool, Field(description="Ask for a style_description.")] = True,
    ) -> out.MagicOut:
        """Expand a plain idea into a verified caption through a magic-prompt backend.

        Needs the backend's API key in the server's environment (IDEOGRAM_API_KEY for
        ideogram-4-v1, MAGIC_PROMPT_API_KEY or OPENROUTER_API_KEY for the Claude backends).
        The local backend needs no key: it samples the server's own pipeline (its model is
        the server's, never a tool argument).
        """
        chosen = backend or cfg.backend
        if chosen == LOCAL_BACKEND.key:
            if model is not None:
                raise _fail("expand: local: model is the server's (--model or --render-model), not a tool argument")
            local = pipelines.local()
            async with pipelines.lock:  # one pipeline: one call at a time
                try:
                    result = await anyio.to_thread.run_sync(local.expand, idea, aspect)
                except (MagicPromptError, RenderError) as exc:
                    raise _fail(f"expand: {_magic_message(exc)}") from None
            return _magic_out(result)
        try:
            async with AsyncMagicPromptClient(chosen, **cfg.client_options(chosen, model)) as client:
                result = await client.expand(idea, aspect, strip_bboxes=not keep_bboxes, style=style)
        except MagicPromptError as exc:
            raise _fail(f"expand: {_magic_message(exc)}") from None
        return _magic_out(result)


    @server.tool(name="describe", title="Describe an image")
    @_guarded
    async def describe_tool(
        image: Annotated[str, Field(description="Path of a JPEG, PNG or WebP file on the server's machine (absolute is safest).")],
        backend: Annotated[BackendName | None, Field(description="The describe backend (default: the server's).")] = None,
        model: Annotated[str | None, Field(description="Vision model slug for chat backends.")] = None,
        hint: Annotated[str | None, Field(description="Context for chat models, e.g. what the product is.")] = None,
        strip_bboxes: Annotated[bool, Field(description="Drop element boxes (default: keep them).")] = False,
        box_format: Annotated[
            Literal["yxyx", "xyxy", "xywh", "pixels", "unit"] | None,
            Field(description="The model's box convention when it is not the caption's."),
        ] = None,
        style: Annotated[bool, Field(description="Ask for a style_description.")] = True,
    ) -> out.DescribeOut:
        """Write a verified caption for an existing image; the image's size is the frame of its boxes.

        Needs the backend's API key in the server's environment, as expand does.
        """
        chosen = backend or cfg.backend
        try:
            options = cfg.client_options(chosen, model)
            async with AsyncDescribeClient(chosen, strip_bboxes=strip_bboxes, box_format=box_format, **options) as client:
                result = await client.describe(image, hint=hint, style=style)
        except MagicPromptError as exc:
            raise _fail(f"describe: {_magic_message(exc)}") from None
        return _magic_out(
            result, out.DescribeOut, image=result.image, width=result.width, height=result.height
        )


def _add_render_tool(server: MCPServer, pipelines: _Pipelines) -> None:
    @server.tool(name="render", title="Render a caption", structured_output=True)
    @_guarded
    async def render_tool(
        caption: CaptionText,
        size: Annotated[str, Field(description="Image size WIDTHxHEIGHT (sides 256-2048, multiples of 16).")] = "1024x1024",
        seed: Annotated[int | None, Field(ge=0, description="Seed (random and reported when not given).")] = None,
        preset: Annotated[str | None, Field(description="V4_DEFAULT_20 (default), V4_QUALITY_48, V4_TURBO_12.")] = None,
        output: Annotated[str | None, Field(description="Also save the PNG (with its recipe) at this path.")] = None,
    ) -> Annotated[CallToolResult, out.RenderOut]:
        """Render a verified caption with the local Ideogram 4 pipeline; returns the image and its recipe."""
        def run() -> Any:
            return pipelines.renderer().render(caption, preset=preset or DEFAULT_PRESET, size=size, seed=seed)[0]

        async with pipelines.lock:  # one pipeline: one render at a time
            try:
                result = await anyio.to_thread.run_sync(run)
            except RenderError as exc:
                raise _fail(f"render: {exc}") from None
        data = png_bytes(result.image, result.recipe)
        if output:
            write_atomic(output, data)
        meta = out.RenderOut(
            seed=result.recipe.seed,
            width=result.recipe.width,
            height=result.recipe.height,
            seconds=round(result.seconds, 3),
            recipe={"caption": result.recipe.caption, **json.loads(json.dumps(result.recipe.to_dict(), default=str))},
        )
        return CallToolResult(
            content=[_image_block(data), TextContent(type="text", text=meta.model_dump_json())],
            structured_content=meta.model_dump(mode="json"),
        )


def _add_resources(server: MCPServer) -> None:
    @server.resource("caption://schema", name="schema", title="Caption JSON Schema", mime_type="application/schema+json")
    def schema_resource() -> str:
        """The JSON Schema (Draft 2020-12) of captions; key order is listed but only the verifier enforces it."""
        return schema_text(caption_schema())

    @server.resource("caption://rules", name="rules", title="Rule catalogue", mime_type="application/json")
    def rules_resource() -> str:
        """Every diagnostic code: name, severity, family, what it checks and whether a fix is available (safe or unsafe)."""
        rows = [
            {
                "code": r.code,
                "name": r.name,
                "severity": r.severity.value,
                "family": r.family,
                "what": r.what,
                "fix": None if r.fix is None else f"{r.fix.applicability}: {r.fix.description}",
                "fixes": r.to_dict()["fixes"],
                "uri": f"caption://rules/{r.code}",
            }
            for r in RULES.values()
        ]
        return json.dumps(rows, ensure_ascii=False, indent=1)

    @server.resource("caption://rules/{code}", name="rule", title="One rule", mime_type="text/plain")
    def rule_resource(code: str) -> str:
        """A rule's documentation: what, why, an example and its fix (code like CK201, or a name)."""
        found = rule(code)
        if found is None:
            raise ResourceNotFoundError(f"unknown rule {code!r}; caption://rules lists them")
        return found.doc()

    @server.resource("caption://examples", name="examples", title="Example captions", mime_type="application/json")
    def examples_resource() -> str:
        """The bundled example captions and the templates, by URI."""
        rows = [{"name": n, "uri": f"caption://examples/{n}"} for n in example_captions()]
        rows += [{"name": n, "uri": f"caption://templates/{n}"} for n in TEMPLATES]
        return json.dumps(rows, indent=1)

    @server.resource("caption://examples/{name}", name="example", title="An example caption", mime_type="application/json")
    def example_resource(name: str) -> str:
        """A bundled example caption (canonical JSON; every one verifies)."""
        examples = example_captions()
        if name not in examples:
            raise ResourceNotFoundError(f"no example {name!r}; caption://examples lists them")
        return examples[name].rstrip("\n")

    @server.resource("caption://templates/{name}", name="template", title="A template caption", mime_type="application/json")
    def template_resource(name: str) -> str:
        """A template caption at its own frame (what new_caption starts from)."""
        if name not in TEMPLATES:
            raise ResourceNotFoundError(f"no template {name!r}; choose one of {', '.join(TEMPLATES)}")
        return make_template(name).dumps()

