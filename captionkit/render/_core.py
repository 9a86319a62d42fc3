"""The render layer's view of the core: canonical JSON, the compat verifier, sizes, tokens.

Everything the render layer needs from the rest of captionkit goes through
this module, so the dependency is in one place and stays one-way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from captionkit import _frames
from captionkit._frames import parse_size as parse_frame_size
from captionkit._json import dumps, parse_exact
from captionkit.compat import CaptionVerifier
from captionkit.diagnostics import CaptionError
from captionkit.models import Caption
from captionkit.render.errors import RenderError
from captionkit.tokens import TOKEN_LIMIT, WRAPPER_TOKENS as CHAT_WRAPPER_TOKENS, count_tokens
from captionkit.verifier import verify



@dataclass(frozen=True)
class PreparedCaption:
    """A caption that passed every check that can run before weights load.

    Attributes:
        text: The canonical JSON string handed to the pipeline.
        tokens: Token count of the caption including the chat wrapper.
        tokens_exact: Whether ``tokens`` came from a real tokenizer.
        label: Where the caption came from (file name, ``<caption>``...).
    """

    text: str
    tokens: int
    tokens_exact: bool
    label: str = "<caption>"


def canonical_text(source: Any, label: str = "<caption>") -> str:
    """Canonical JSON for a caption model, a dict or raw text; RenderError when unparseable."""
    try:
        if isinstance(source, (str, bytes)):
            text = source.decode("utf-8") if isinstance(source, bytes) else source
            # The token budget is checked apart (prepare_caption), where the model's own
            # tokenizer can count exactly and --no-token-check can skip an estimate.
            report = verify(text, lints=False, tokens=False)
            if not report.ok:
                raise CaptionError(report)
            return dumps(Caption.from_dict(parse_exact(text), report=report))
        return dumps(source)
    except UnicodeDecodeError as exc:
        raise RenderError(f"{label}: not valid UTF-8 (byte {exc.start})") from None
    except ValueError as exc:  # CaptionError and pydantic's ValidationError are ValueErrors
        raise RenderError(f"{label}: not a valid caption: {_first_line(exc)}") from None


def verify_compat(text: str, label: str = "<caption>") -> None:
    """Run the official-compatible verifier; raise RenderError with the first finding."""
    issues = CaptionVerifier().verify_raw(text)
    if issues:
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        raise RenderError(f"{label}: caption fails verification: {issues[0]}{more}")


def count_caption_tokens(text: str, tokenizer: Any = None) -> tuple[int, bool]:
    """Tokens of ``text`` including the chat wrapper, and whether the count is exact.

    ``tokenizer`` (a ``tokenizer.json`` path or folder) counts exactly; None
    uses a local tokenizer when one is found, else the estimate.
    """
    try:
        result = count_tokens(text, tokenizer=tokenizer)
    except ValueError:  # an unusable tokenizer file: fall back to the usual search and estimate
        result = count_tokens(text)
    return int(result.count), bool(result.exact)


def check_tokens(tokens: int, exact: bool, label: str, limit: int = TOKEN_LIMIT, *, hint: bool = False) -> None:
    """Refuse a caption over the text-token limit, chat wrapper included.

    With ``hint`` (an estimated count) the message names the way to count
    exactly or to skip the estimate.
    """
    if tokens > limit:
        about = "" if exact else "about "
        more = (
            "; this is an estimate: render with a model folder that has a tokenizer, set CAPTIONKIT_TOKENIZER, "
            "or pass --no-token-check to leave the check to the loaded tokenizer"
            if hint
            else ""
        )
        raise RenderError(
            f"{label}: caption is {about}{tokens} tokens with the chat wrapper; limit {limit} "
            f"({limit - CHAT_WRAPPER_TOKENS} for the caption itself){more}"
        )


def prepare_caption(
    source: Any, label: str = "<caption>", *, tokenizer: Any = None, token_check: bool = True
) -> PreparedCaption:
    """Canonicalize, verify (compat) and token-check one caption before any load.

    Args:
        source: A ``Caption`` model, a dict, or caption text.
        label: Shown in error messages.
        tokenizer: The model's ``tokenizer.json`` (or folder) to count exactly
            with; None finds a local one or estimates.
        token_check: Refuse a caption over the limit now. False skips this
            check (an estimate can be a little high); the exact count with the
            loaded tokenizer still refuses before rendering.

    Raises:
        RenderError: the caption does not parse, fails the official verifier, or
            is over the token limit.
    """
    text = canonical_text(source, label)
    verify_compat(text, label)
    tokens, exact = count_caption_tokens(text, tokenizer)
    if token_check:
        check_tokens(tokens, exact, label, hint=not exact)
    return PreparedCaption(text=text, tokens=tokens, tokens_exact=exact, label=label)


def parse_size(value: Any) -> tuple[int, int]:
    """Parse and check an image size; returns ``(width, height)``.

    Sizes are read by the one size parser (:mod:`captionkit._frames`), so a frame
    name or an aspect ratio from its table works here as everywhere else.

    Args:
        value: ``"WxH"``, a frame name (``"banner"``), a ratio (``"16:9"``),
            a ``(width, height)`` pair or a :class:`~captionkit.layout.Frame`.

    Raises:
        RenderError: a malformed value or a size outside the official rules
            (each side 256-2048 and a multiple of 16, aspect ratio at most 6:1).

    Examples:
        >>> parse_size("1536x1024"), parse_size("banner"), parse_size("16:9")
        ((1536, 1024), (1600, 400), (1920, 1088))
        >>> parse_size("1000x1024")
        Traceback (most recent call last):
        ...
        captionkit.render.errors.RenderError: size 1000x1024: width must be divisible by 16, got 1000
    """
    try:
        width, height = parse_frame_size(value, check=False)
    except ValueError as exc:
        raise RenderError(str(exc)) from None
    check_size(width, height)
    return width, height


def check_size(width: int, height: int) -> None:
    """Enforce the official size contract with the official wording, as a :class:`RenderError`."""
    try:
        _frames.check_size(width, height)
    except ValueError as exc:
        raise RenderError(f"size {width}x{height}: {exc}") from None


def _first_line(exc: BaseException) -> str:
    report = getattr(exc, "report", None)
    if report is not None:
        for diag in report:
            if getattr(diag, "severity", None) is not None and str(getattr(diag.severity, "value", diag.severity)) in (
                "error",
                "Severity.error",
            ):
                pointer = getattr(diag, "pointer", "") or ""
                return f"{pointer + ': ' if pointer else ''}{diag.message}"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
