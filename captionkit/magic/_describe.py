"""Describe: an existing image into a verified Ideogram 4 caption (image → caption).

Backends speak one of two contracts: Ideogram's hosted describe endpoint (a multipart upload of
``image_file``) or chat completions with the image as a data URL and captionkit's own sectioned,
versioned system prompt (``captionkit-describe-v1``), which asks for boxes in the caption's
convention. Every reply goes through the repair loop of :func:`captionkit.magic.expand`, with the
image's own pixel size as the frame the boxes are converted and checked against.

The same sans-IO core drives both shells: :class:`DescribeClient` (blocking) and
:class:`AsyncDescribeClient` (asyncio or trio, with :meth:`AsyncDescribeClient.describe_many`).
"""

from __future__ import annotations

import base64
import io
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx

from captionkit.boxes import BoxConventionError, parse_convention
from captionkit.fixes import Change
from captionkit.magic._backends import BACKENDS, DEFAULT_BACKEND, Backend, Reply, join_url
from captionkit.magic._batch import run_bounded
from captionkit.magic._client import AsyncMagicPromptClient, MagicPromptClient
from captionkit.magic._core import DEFAULT_TIMEOUT, CallConfig, Flow, begin, call_facts, chat_request, repair_loop
from captionkit.magic._prompt import PromptFile
from captionkit.magic._repair import Outcome, process_reply
from captionkit.magic._result import error_record, provenance
from captionkit.magic._secrets import scrub
from captionkit.magic.errors import _HINTS, ConfigurationError, SafetyRejectedError
from captionkit.verifier import verify

__all__ = [
    "DESCRIBE_BACKENDS",
    "DESCRIBE_PROMPT",
    "MAX_IMAGE_BYTES",
    "AsyncDescribeClient",
    "DescribeClient",
    "DescribeItem",
    "DescribeResult",
    "ImageInput",
    "adescribe",
    "describe",
    "describe_many",
    "load_image",
]

#: The packaged describe prompt used by chat backends when none is given.
DESCRIBE_PROMPT = "captionkit-describe-v1"
#: Images larger than this are refused before sending (the hosted endpoint's documented limit).
MAX_IMAGE_BYTES = 10 * 1024 * 1024
#: Formats every describe backend accepts as they are; others are re-encoded as PNG.
_SENDABLE = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

#: Describe backends, under the same registry keys as :data:`captionkit.magic.BACKENDS`.
DESCRIBE_BACKENDS: Mapping[str, Backend] = MappingProxyType(
    {
        "ideogram-4-v1": replace(
            BACKENDS["ideogram-4-v1"], path="/v1/ideogram-v4/describe",
            description="Ideogram's hosted describe endpoint (default)",
        ),
        "claude-opus-v1": replace(BACKENDS["claude-opus-v1"], description="Claude Opus (vision) through OpenRouter"),
        "claude-sonnet-v1": replace(
            BACKENDS["claude-sonnet-v1"], description="Claude Sonnet (vision) through OpenRouter; --model picks any vision model"
        ),
        "openai-compatible": replace(
            BACKENDS["openai-compatible"], description="any chat-completions server with image input (vLLM, llama.cpp, Ollama)"
        ),
    }
)


def get_describe_backend(key: str | Backend) -> Backend:
    """Look a describe backend up by registry key.

    >>> get_describe_backend("ideogram-4-v1").path
    '/v1/ideogram-v4/describe'
    """
    if isinstance(key, Backend):
        return key
    try:
        return DESCRIBE_BACKENDS[key]
    except KeyError:
        raise ConfigurationError(f"unknown backend {key!r} (choose one of: {', '.join(DESCRIBE_BACKENDS)})") from None


# --------------------------------------------------------------------------------------- images


@dataclass(frozen=True, slots=True)
class ImageInput:
    """An image ready to send.

    Attributes:
        name: What errors and records call it (the path as given, or ``<image>``).
        data: The bytes sent (the file itself unless it had to be re-encoded).
        mime_type: ``image/jpeg``, ``image/png`` or ``image/webp``.
        width: Width in pixels, upright (after the EXIF orientation).
        height: Height in pixels, upright.
        notes: Conversions made before sending (EXIF rotation, re-encoding).
    """

    name: str
    data: bytes = field(repr=False)
    mime_type: str
    width: int
    height: int
    notes: tuple[str, ...] = ()

    @property
    def frame(self) -> tuple[int, int]:
        """``(width, height)``: the frame the caption's boxes refer to."""
        return self.width, self.height

    @property
    def aspect_ratio(self) -> str:
        """The reduced ratio ``W:H``.

        >>> ImageInput("x", b"", "image/png", 1920, 1080).aspect_ratio
        '16:9'
        """
        g = math.gcd(self.width, self.height) or 1
        return f"{self.width // g}:{self.height // g}"

    def data_url(self) -> str:
        """The image as a ``data:`` URL, for chat messages."""
        return f"data:{self.mime_type};base64,{base64.b64encode(self.data).decode('ascii')}"


def load_image(source: Any, *, name: str | None = None, max_bytes: int = MAX_IMAGE_BYTES) -> ImageInput:
    """Read an image for describing: a path, bytes or a ``PIL.Image``.

    The EXIF orientation is applied (boxes then refer to the upright picture), formats other
    than JPEG, PNG and WebP are re-encoded as PNG, and an image over ``max_bytes`` is refused
    before anything is sent.

    Raises:
        ConfigurationError: A one-line message naming the image and the cause.

    >>> from PIL import Image
    >>> img = load_image(Image.new("RGB", (300, 200), "white"))
    >>> img.mime_type, img.frame, img.aspect_ratio
    ('image/png', (300, 200), '3:2')
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    raw: bytes | None = None
    if isinstance(source, Image.Image):
        label = name or "<image>"
        picture = source
    else:
        if isinstance(source, bytes | bytearray | memoryview):
            label, raw = name or "<image>", bytes(source)
        else:
            path = Path(os.fspath(source))
            label = name or str(path)
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                raise ConfigurationError(f"{label}: no such file") from None
            except IsADirectoryError:
                raise ConfigurationError(f"{label}: is a directory, not an image") from None
            except OSError as exc:
                raise ConfigurationError(f"{label}: cannot read ({exc.strerror or exc})") from None
        try:
            picture = Image.open(io.BytesIO(raw))
            picture.load()
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            detail = "unknown format" if isinstance(exc, UnidentifiedImageError) else str(exc).split("\n")[0]
            raise ConfigurationError(f"{label}: not an image captionkit can read ({detail})") from None
    notes: list[str] = []
    fmt = picture.format
    orientation = picture.getexif().get(0x0112, 1)
    if orientation not in (None, 1):
        picture = ImageOps.exif_transpose(picture)
        notes.append(f"applied the EXIF orientation ({orientation})")
    if raw is not None and not notes and fmt in _SENDABLE:
        data, mime = raw, _SENDABLE[fmt]
    else:
        data, mime = _encode(picture, fmt)
        if raw is not None and fmt not in _SENDABLE:
            notes.append(f"re-encoded {fmt or 'the image'} as PNG")
    if len(data) > max_bytes:
        raise ConfigurationError(
            f"{label}: {_human(len(data))} is over the {_human(max_bytes)} limit for describing; downscale it first"
        )
    width, height = picture.size
    return ImageInput(label, data, mime, width, height, tuple(notes))


def _human(size: int) -> str:
    """``10 MB`` or ``512 bytes``.

    >>> _human(10 * 1024 * 1024), _human(14_900_000), _human(100)
    ('10 MB', '14.2 MB', '100 bytes')
    """
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f}".removesuffix(".0") + " MB"
    return f"{size:,} bytes"


def _encode(picture: Any, fmt: str | None) -> tuple[bytes, str]:
    buffer = io.BytesIO()
    if fmt == "JPEG" and picture.mode in ("RGB", "L"):
        picture.save(buffer, format="JPEG", quality=95)
        return buffer.getvalue(), "image/jpeg"
    if picture.mode not in ("RGB", "RGBA", "L", "LA", "P", "1", "I;16"):
        picture = picture.convert("RGBA" if "A" in picture.mode else "RGB")
    picture.save(buffer, format="PNG")
    return buffer.getvalue(), "image/png"


# ----------------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class PreparedUpload:
    """A multipart request without secrets (the shells add the key at send time).

    ``json`` holds the form fields for records and tests; ``content()`` is the encoded body.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    json: Mapping[str, Any]
    body: bytes = field(repr=False)

    def content(self) -> bytes:
        """The encoded multipart body."""
        return self.body


def build_describe_upload(
    base_url: str, path: str, image: ImageInput, *, include_bbox: bool, include_style: bool
) -> PreparedUpload:
    """The hosted describe request: ``image_file`` plus the boolean flags, as ``multipart/form-data``.

    The file is sent as ``image.<ext>``: the local file name never leaves the machine.

    >>> img = ImageInput("x.png", b"\\x89PNG...", "image/png", 8, 8)
    >>> up = build_describe_upload("https://api.ideogram.ai", "/v1/ideogram-v4/describe", img,
    ...                            include_bbox=True, include_style=False)
    >>> up.url, up.headers["Content-Type"].split(";")[0], up.json["include_bbox"]
    ('https://api.ideogram.ai/v1/ideogram-v4/describe', 'multipart/form-data', 'true')
    """
    fields = {
        "include_bbox": "true" if include_bbox else "false",
        "include_style_descriptions": "true" if include_style else "false",
    }
    filename = "image." + image.mime_type.split("/")[1].replace("jpeg", "jpg")
    request = httpx.Request(
        "POST", join_url(base_url, path), data=fields, files={"image_file": (filename, image.data, image.mime_type)}
    )
    body = request.read()
    return PreparedUpload(
        "POST", str(request.url), {"Content-Type": request.headers["Content-Type"]},
        {**fields, "image_file": filename}, body,
    )


def describe_messages(
    prompt: PromptFile, image: ImageInput, hint: str | None, *, strip_bboxes: bool, style: bool
) -> list[dict[str, Any]]:
    """The chat messages: the system prompt, then one user turn with the text and the image.

    >>> from captionkit.magic import load_prompt
    >>> msgs = describe_messages(load_prompt("captionkit-describe-v1"), ImageInput("x", b"", "image/png", 1536, 1024),
    ...                          None, strip_bboxes=False, style=True)
    >>> msgs[1]["content"][0]["text"].splitlines()[0]
    'IMAGE SIZE: 1536x1024 pixels, aspect ratio 3:2 (width:height).'
    >>> msgs[1]["content"][1]["image_url"]["url"][:22]
    'data:image/png;base64,'
    """
    text = prompt.user_message(
        hint.strip() if hint and hint.strip() else "Write the caption for this image.",
        image.aspect_ratio,
        strip_bboxes=strip_bboxes,
        style=style,
    )
    text = text.replace("{{width}}", str(image.width)).replace("{{height}}", str(image.height))
    return [
        {"role": "system", "content": prompt.system},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": image.data_url()}},
            ],
        },
    ]


# ------------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class DescribeResult:
    """A verified caption for an image, and how it was obtained.

    Attributes:
        caption: The caption model (:class:`captionkit.Caption`).
        text: Its canonical JSON text.
        image: The image's name (the path as given).
        width: The image's upright width in pixels: the frame of the boxes.
        height: The image's upright height in pixels.
        aspect_ratio: ``W:H`` of the image.
        backend: The registry key.
        model: The model slug (``None`` for the hosted endpoint).
        prompt: The system prompt's id (``None`` for the hosted endpoint).
        attempts: Replies requested: 1 plus re-asks.
        transport_attempts: HTTP requests sent, retries included.
        usage: Token usage summed over all replies, when reported.
        request_id: The last request or generation id, when reported.
        changes: Every repair applied to the accepted reply.
        diagnostics: Remaining findings with the image's size as the frame (no errors).
        metadata: Values moved out of the caption (``tags`` of the hosted endpoint, ...).
        warnings: One-line notes (conversions of the image, ...).
        elapsed: Seconds from the first request to the result.
    """

    caption: Any
    text: str
    image: str
    width: int
    height: int
    aspect_ratio: str
    backend: str
    model: str | None
    prompt: str | None
    attempts: int
    transport_attempts: int
    usage: Mapping[str, Any] | None
    request_id: str | None
    changes: tuple[Any, ...] = ()
    diagnostics: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    elapsed: float = 0.0

    def __str__(self) -> str:
        return self.text

    def summary(self) -> str:
        """One line for people.

        >>> DescribeResult(None, "{}", "a.png", 1536, 1024, "3:2", "ideogram-4-v1", None, None, 1, 1, None, None).summary()
        'a.png · ideogram-4-v1 · 1536x1024 · 1 reply · 0 repairs'
        """
        who = self.backend if self.model is None else f"{self.backend} ({self.model})"
        replies = f"{self.attempts} repl{'y' if self.attempts == 1 else 'ies'}"
        repairs = f"{len(self.changes)} repair{'' if len(self.changes) == 1 else 's'}"
        return " · ".join([self.image, who, f"{self.width}x{self.height}", replies, repairs])

    def to_dict(self) -> dict[str, Any]:
        """Plain data (a JSONL record): the caption as an object plus provenance."""
        return {
            "image": self.image,
            "width": self.width,
            "height": self.height,
            "aspect_ratio": self.aspect_ratio,
            "caption": self.caption.to_dict() if self.caption is not None else None,
            **provenance(self),
            "metadata": dict(self.metadata),
            "warnings": list(self.warnings),
            "elapsed": round(self.elapsed, 4),
        }


@dataclass(frozen=True, slots=True)
class DescribeItem:
    """One image of a batch: its result, or the error that stopped it.

    Attributes:
        index: Position in the input (results keep input order).
        id: The item's id (the image's name unless given).
        image: The image's name.
        result: The :class:`DescribeResult`, or ``None`` on error.
        error: The exception, or ``None`` on success.
    """

    index: int
    id: str
    image: str
    result: DescribeResult | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when a caption was produced."""
        return self.error is None and self.result is not None

    def to_dict(self) -> dict[str, Any]:
        """The JSONL record written in dataset mode (with every live key redacted)."""
        if self.ok:
            assert self.result is not None
            return scrub({"id": self.id, "ok": True, **self.result.to_dict()})
        assert self.error is not None
        return scrub({"id": self.id, "ok": False, "image": self.image, "error": error_record(self.error)})


# ---------------------------------------------------------------------------------------- core


def _image_rejected(exc: SafetyRejectedError) -> SafetyRejectedError:
    """The 422 reworded for an image (the shared hint speaks of an idea)."""
    message = exc.message
    hint = _HINTS.get(422, "")
    if hint and message.endswith(f"; {hint}"):
        message = message[: -len(hint) - 2]
    message += "; the image failed the provider's safety check and cannot be described (not retried)"
    return SafetyRejectedError(message, **{**exc.__dict__, "retryable": False})


def describe_flow(cfg: CallConfig, image: ImageInput, hint: str | None, box_format: str | None) -> Flow:
    """The whole describe call as a sans-IO generator returning a :class:`DescribeResult`."""
    started, deadline_at, stats = begin(cfg)
    backend = cfg.backend
    hosted = backend.protocol == "ideogram"
    messages: list[dict[str, Any]] = []
    if not hosted:
        messages = describe_messages(cfg.prompt, image, hint, strip_bboxes=cfg.strip_bboxes, style=cfg.style)
    upload = (
        build_describe_upload(cfg.base_url, backend.path, image, include_bbox=not cfg.strip_bboxes, include_style=cfg.style)
        if hosted
        else None
    )
    moved: dict[str, Any] = {}

    def request(turns: list[dict[str, Any]]) -> Any:
        return upload if upload is not None else chat_request(cfg, turns)

    def read(reply: Reply) -> Outcome:
        source: Any = reply.json_prompt if hosted else (reply.content or "")
        moved.clear()
        if isinstance(source, dict) and "tags" in source:
            # the hosted response's tags are not a caption key: keep them as metadata
            source = dict(source)
            moved["tags"] = source.pop("tags")
        return process_reply(
            source, strip_boxes=cfg.strip_bboxes, unsafe=cfg.unsafe_fixes, truncated=reply.finish_reason == "length",
            box_format=box_format, frame=image.frame,
        )

    try:
        outcome, _, asks = yield from repair_loop(cfg, messages, request, read, deadline_at, stats)
    except SafetyRejectedError as exc:
        raise _image_rejected(exc) from None
    changes = outcome.changes
    if moved:
        changes = (Change("CK102", "moved the describe response's 'tags' into metadata", ("tags",)), *changes)
    return DescribeResult(
        caption=outcome.caption,
        text=outcome.text or "",
        image=image.name,
        width=image.width,
        height=image.height,
        aspect_ratio=image.aspect_ratio,
        **call_facts(cfg, stats, asks),
        changes=changes,
        diagnostics=verify(outcome.text or "", frame=image.frame),
        metadata={**moved, **outcome.metadata},
        warnings=image.notes,
        elapsed=time.monotonic() - started,
    )


# -------------------------------------------------------------------------------------- clients


class _DescribeBase:
    """What both shells share: options, the flow, and a magic-prompt client of their kind that sends."""

    _shell: Any  # MagicPromptClient or AsyncMagicPromptClient
    _client: Any
    _box_format: str | None

    def __init__(
        self,
        backend: str | Backend = DEFAULT_BACKEND,
        *,
        prompt: str | PromptFile | None = None,
        strip_bboxes: bool = False,
        box_format: str | None = None,
        http_client: Any = None,
        **options: Any,
    ) -> None:
        spec, extra = self._options(backend, prompt, strip_bboxes, box_format)
        self._client = self._shell(spec, http_client=http_client, **extra, **options)

    def _options(self, backend: str | Backend, prompt: Any, strip_bboxes: bool, box_format: str | None) -> tuple[Backend, dict[str, Any]]:
        if box_format is not None:
            try:  # any convention captionkit.boxes reads; the image gives the frame later
                parsed = parse_convention(box_format, frame=(1, 1))
            except BoxConventionError as exc:
                raise ConfigurationError(str(exc)) from None
            if parsed != "auto" and parsed.name == "yxyx-1000":
                box_format = None  # the caption's own convention: nothing to convert
        self._box_format = box_format
        return get_describe_backend(backend), {"prompt": prompt or DESCRIBE_PROMPT, "strip_bboxes": strip_bboxes}

    def _flow(self, image: Any, hint: str | None, strip_bboxes: bool | None, style: bool | None, name: str | None) -> Flow:
        loaded = image if isinstance(image, ImageInput) else load_image(image, name=name)
        cfg: CallConfig = self._client.config
        overrides: dict[str, Any] = {}
        if strip_bboxes is not None:
            overrides["strip_bboxes"] = strip_bboxes
        if style is not None:
            overrides["style"] = style
        if overrides:
            cfg = replace(cfg, **overrides)
        return describe_flow(cfg, loaded, hint, self._box_format)

    @property
    def backend(self) -> str:
        """The registry key."""
        return self._client.backend

    @property
    def config(self) -> CallConfig:
        """The resolved configuration (holds no secret)."""
        return self._client.config

    def __repr__(self) -> str:
        return repr(self._client).replace("MagicPromptClient(", "DescribeClient(", 1)


class DescribeClient(_DescribeBase):
    """Describe images as verified captions over a blocking ``httpx.Client``.

    Args:
        backend: ``ideogram-4-v1`` (hosted describe, the default), ``claude-opus-v1``,
            ``claude-sonnet-v1`` (OpenRouter vision) or ``openai-compatible``.
        prompt: The chat system prompt (default ``captionkit-describe-v1``).
        strip_bboxes: Drop element boxes (default: keep them; describing is where they are known).
        box_format: The convention the model answers boxes in when it is not the caption's
            (``xyxy``, ``xywh``, ``unit``, or ``pixels`` of the image): converted with the image's
            size as the frame.
        http_client: An ``httpx.Client`` to use (never closed by us).
        **options: The magic-prompt client's options (``api_key``, ``base_url``, ``model``,
            ``style``, ``max_reasks``, ``deadline``, ``retry``...).

    Example:
        >>> import httpx, json
        >>> from PIL import Image
        >>> caption = {"compositional_deconstruction": {"elements": [], "background": "A white wall."}}
        >>> http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"json_prompt": caption})))
        >>> with DescribeClient(api_key="test-key", http_client=http) as client:
        ...     result = client.describe(Image.new("RGB", (640, 480), "white"))
        >>> result.text, result.aspect_ratio
        ('{"compositional_deconstruction":{"background":"A white wall.","elements":[]}}', '4:3')
    """

    _shell = MagicPromptClient

    def describe(
        self,
        image: Any,
        *,
        hint: str | None = None,
        strip_bboxes: bool | None = None,
        style: bool | None = None,
        name: str | None = None,
    ) -> DescribeResult:
        """Describe one image: a path, bytes, a ``PIL.Image`` or an :class:`ImageInput`.

        Args:
            image: The image.
            hint: Context for chat models ("the product is a Leica M6"); the hosted endpoint
                takes none.
            strip_bboxes: Override the client's setting for this call.
            style: Override the client's setting for this call.
            name: What records and errors call the image (default: its path).

        Raises:
            MagicPromptError: A subclass naming the cause (a bad image is a
                :class:`~captionkit.magic.errors.ConfigurationError`; a 422 is a
                :class:`~captionkit.magic.errors.SafetyRejectedError`).
        """
        return self._client._drive(self._flow(image, hint, strip_bboxes, style, name))

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        self._client.close()

    def __enter__(self) -> DescribeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncDescribeClient(_DescribeBase):
    """The async twin of :class:`DescribeClient` (same arguments; ``http_client`` is async)."""

    _shell = AsyncMagicPromptClient

    async def describe(
        self,
        image: Any,
        *,
        hint: str | None = None,
        strip_bboxes: bool | None = None,
        style: bool | None = None,
        name: str | None = None,
    ) -> DescribeResult:
        """Describe one image (see :meth:`DescribeClient.describe`)."""
        return await self._client._drive(self._flow(image, hint, strip_bboxes, style, name))

    async def describe_many(
        self,
        images: Iterable[Any],
        *,
        concurrency: int = 4,
        hint: str | None = None,
        progress: bool = False,
        on_result: Callable[[DescribeItem], Awaitable[None] | None] | None = None,
    ) -> list[DescribeItem]:
        """Describe many images with bounded concurrency, keeping input order.

        Each item is an image (path, bytes, ``PIL.Image``) or a mapping with ``image`` and
        optional ``id`` and ``hint``. A failing image is recorded in its :class:`DescribeItem`
        and never stops the batch. Images are read one at a time, as their turn comes.
        """
        if concurrency < 1:
            raise ConfigurationError(f"concurrency must be at least 1, got {concurrency}")
        items = [_normalise(i, item, hint) for i, item in enumerate(images)]

        async def one(index: int, item: tuple[str, Any, str, str | None]) -> DescribeItem:
            item_id, image, label, item_hint = item
            try:
                result = await self.describe(image, hint=item_hint, name=label)
            except Exception as exc:  # one bad image must not abort the batch
                return DescribeItem(index, item_id, label, error=exc)
            return DescribeItem(index, item_id, label, result=result)

        return await run_bounded(items, one, concurrency=concurrency, label="describing" if progress else None,
                                 on_result=on_result)

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        await self._client.aclose()

    async def __aenter__(self) -> AsyncDescribeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _label(image: Any) -> str:
    if isinstance(image, str | os.PathLike):
        return os.fspath(image)
    if isinstance(image, ImageInput):
        return image.name
    return "<image>"


def _normalise(index: int, item: Any, hint: str | None) -> tuple[str, Any, str, str | None]:
    if isinstance(item, Mapping):
        if "image" not in item:
            raise ConfigurationError(f"item {index}: needs an 'image'")
        image = item["image"]
        label = _label(image)
        return str(item.get("id", label if label != "<image>" else index)), image, label, item.get("hint", hint)
    label = _label(item)
    return (label if label != "<image>" else str(index)), item, label, hint


# ------------------------------------------------------------------------------------ one-call API


def describe(
    image: Any,
    *,
    backend: str | Backend = DEFAULT_BACKEND,
    hint: str | None = None,
    http_client: httpx.Client | None = None,
    **options: Any,
) -> DescribeResult:
    """Describe one image as a verified caption (a :class:`DescribeClient` for one call).

    Example:
        >>> import httpx
        >>> from PIL import Image
        >>> reply = {"choices": [{"finish_reason": "stop", "message": {"content":
        ...     '{"compositional_deconstruction":{"background":"A white wall.","elements":'
        ...     '[{"type":"obj","bbox":[250,250,750,750],"desc":"A black square."}]}}'}}]}
        >>> http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=reply)))
        >>> result = describe(Image.new("RGB", (1024, 1024), "white"), backend="openai-compatible",
        ...                   base_url="http://127.0.0.1:8080/v1", model="qwen-vl", http_client=http)
        >>> result.caption.compositional_deconstruction.elements[0].bbox.to_list(), (result.width, result.height)
        ([250, 250, 750, 750], (1024, 1024))
    """
    with DescribeClient(backend, http_client=http_client, **options) as client:
        return client.describe(image, hint=hint)


async def adescribe(
    image: Any,
    *,
    backend: str | Backend = DEFAULT_BACKEND,
    hint: str | None = None,
    http_client: httpx.AsyncClient | None = None,
    **options: Any,
) -> DescribeResult:
    """The async form of :func:`describe`."""
    async with AsyncDescribeClient(backend, http_client=http_client, **options) as client:
        return await client.describe(image, hint=hint)


async def describe_many(
    images: Iterable[Any],
    *,
    backend: str | Backend = DEFAULT_BACKEND,
    concurrency: int = 4,
    hint: str | None = None,
    progress: bool = False,
    on_result: Callable[[DescribeItem], Awaitable[None] | None] | None = None,
    client: AsyncDescribeClient | None = None,
    http_client: httpx.AsyncClient | None = None,
    **options: Any,
) -> list[DescribeItem]:
    """Describe many images with bounded concurrency, keeping input order.

    Args:
        images: Paths, bytes, ``PIL.Image`` objects, or mappings with ``image``, ``id``, ``hint``.
        backend: A registry key (ignored when ``client`` is given).
        concurrency: Calls in flight (at most 8 for the hosted API, whose in-flight limit is 10).
        hint: Context for chat models, for items that give none.
        progress: Show a progress bar on stderr.
        on_result: Called (or awaited) with each finished item, in completion order.
        client: An :class:`AsyncDescribeClient` to use instead of making one.
        http_client: An ``httpx.AsyncClient`` for the client made here.
        **options: Client options when ``client`` is not given.

    Returns:
        One :class:`DescribeItem` per image, in input order.
    """
    if client is not None:
        return await client.describe_many(images, concurrency=concurrency, hint=hint, progress=progress, on_result=on_result)
    own = http_client is None
    if http_client is None:
        limits = httpx.Limits(max_connections=max(concurrency, 1), max_keepalive_connections=max(concurrency, 1))
        http_client = httpx.AsyncClient(timeout=options.get("timeout", DEFAULT_TIMEOUT), limits=limits)
    try:
        made = AsyncDescribeClient(backend, http_client=http_client, **options)
        return await made.describe_many(images, concurrency=concurrency, hint=hint, progress=progress, on_result=on_result)
    finally:
        if own:
            await http_client.aclose()
