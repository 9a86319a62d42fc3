"""Authoring commands: new, preview, palette, tokens."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from captionkit.cli._common import (
    EXIT_CLEAN,
    EXIT_ERROR,
    EXIT_FINDINGS,
    check_writable,
    err,
    fail,
    read_text_arg,
    write_atomic,
)


class Template(str, Enum):
    poster = "poster"
    product = "product"
    scene = "scene"


class Format(str, Enum):
    text = "text"
    json = "json"


def _frame(size: str | None) -> Any:
    if size is None:
        return None
    from captionkit.layout import Frame

    try:
        return Frame.parse(size)
    except ValueError as exc:
        fail(f"--size: {exc}")


def _load_caption(path: str) -> tuple[str, Any]:
    from captionkit._loads import loads
    from captionkit.diagnostics import CaptionError

    name, text = read_text_arg(path)
    try:
        return name, loads(text.removesuffix("\n"))
    except CaptionError as exc:
        first = exc.report.errors[0] if exc.report.errors else None
        where = f"{first.pointer or '/'}: {first.code} {first.message}" if first else str(exc)
        more = len(exc.report.errors) - 1
        fail(f"{name}: not a valid caption: {where}" + (f" (and {more} more; run `captionkit verify`)" if more > 0 else ""))


def new_cmd(
    template: Annotated[Template, typer.Option("--template", "-t", help="What to start from.")] = Template.scene,
    size: Annotated[
        Optional[str], typer.Option("--size", help="Output size WxH or a preset name; boxes are laid out for it.")
    ] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write here instead of stdout.")] = None,
    pretty: Annotated[bool, typer.Option("--pretty", help="Indent for reading (not what the model should get).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out file.")] = False,
) -> None:
    """Scaffold a valid caption from a template, to edit."""
    from captionkit.templates import template as make

    frame = _frame(size)
    text = make(template.value, frame).dumps(pretty=pretty) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    if out.exists() and not force:
        fail(f"{out}: already exists (use --force to overwrite)")
    check_writable(out)
    write_atomic(out, text)
    err(f"wrote {out}")


def _caption_from_png(path: str) -> tuple[Any, Any]:
    """The caption and frame stored by ``captionkit render`` in a PNG; fails naming --overlay and info otherwise."""
    from captionkit._loads import loads
    from captionkit.render.errors import RenderError
    from captionkit.render.metadata import read_recipe

    try:
        recipe = read_recipe(path)
    except RenderError:
        fail(
            f"{path}: an image, not a caption, and it holds no captionkit recipe; give the caption file "
            f"and draw its boxes over the image with --overlay {path} (`captionkit info IMAGE` shows a render's recipe)"
        )
    return loads(recipe.caption), f"{recipe.width}x{recipe.height}"


def _is_image(path: str) -> bool:
    if path == "-":
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError:
        return False
    return head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF8", b"RIFF"))


def _fixed_caption(path: str) -> tuple[str, Any]:
    """``--fix``: the safe fixes first, each change reported; fails when the caption still has errors."""
    from captionkit.fixes import fix

    name, text = read_text_arg(path)
    result = fix(text)
    for change in result.changes:
        err(f"{name}: fixed {change}")
    if result.caption is None:
        first = result.report.errors[0] if result.report.errors else None
        where = f"{first.pointer or '/'}: {first.code} {first.message}" if first else "no JSON object found"
        fail(f"{name}: not a valid caption after the safe fixes: {where} (see `captionkit fix --unsafe-fixes`)")
    return name, result.caption


def preview_cmd(
    caption: Annotated[str, typer.Argument(help="Caption JSON file, a PNG rendered by captionkit, or - for stdin.")],
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="PNG to write (default: CAPTION.preview.png).")
    ] = None,
    size: Annotated[
        Optional[str], typer.Option("--size", help="Output size WxH or preset; sets the aspect (default 1024x1024).")
    ] = None,
    overlay: Annotated[
        Optional[Path], typer.Option("--overlay", help="Draw the boxes over this rendered image.")
    ] = None,
    width: Annotated[int, typer.Option("--width", min=64, max=8192, help="Preview width in pixels.")] = 1024,
    fix: Annotated[bool, typer.Option("--fix", help="Apply the safe fixes first (each change is reported).")] = False,
) -> None:
    """Draw a caption's layout as a PNG: boxes, text, palettes, a legend of the elements."""
    import warnings

    from captionkit.preview import PreviewWarning, save_preview

    frame = _frame(size)
    if _is_image(caption):
        # a render: its recipe holds the caption and the size; draw the boxes over the image itself
        cap, recorded = _caption_from_png(caption)
        frame = frame or _frame(recorded)
        overlay = overlay or Path(caption)
    elif fix:
        _name, cap = _fixed_caption(caption)
    else:
        _name, cap = _load_caption(caption)
    if out is None:
        if caption == "-":
            fail("--out is required when the caption comes from stdin")
        out = Path(caption).with_suffix(".preview.png")
    if out.suffix.lower() != ".png":
        fail(f"{out}: the preview is a PNG; give a .png path")
    if overlay is not None and not _is_image(caption) and Path(caption).resolve() == overlay.resolve():
        fail(f"{overlay}: the overlay is the caption file itself")
    check_writable(out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PreviewWarning)
        try:
            written = save_preview(cap, out, frame=frame, overlay=overlay, width=width)
        except ValueError as exc:
            fail(str(exc))  # names the overlay file when that is the problem
    for warning in caught:
        if issubclass(warning.category, PreviewWarning):
            err(f"warning: {warning.message}")
    typer.echo(str(written))


def _parse_box(text: str) -> list[float]:
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        fail(f"--box {text!r}: expected four numbers y_min,x_min,y_max,x_max in 0-1000")
    if len(values) != 4:
        fail(f"--box {text!r}: expected four numbers y_min,x_min,y_max,x_max in 0-1000, got {len(values)}")
    from captionkit.layout import Box

    try:
        Box.of(values)
    except ValueError as exc:
        fail(f"--box: {exc}")
    return values


def palette_cmd(
    image: Annotated[Path, typer.Argument(help="Image file to read colours from.")],
    box: Annotated[
        Optional[str], typer.Option("--box", help="Only this region: y_min,x_min,y_max,x_max in 0-1000.")
    ] = None,
    max_colors: Annotated[int, typer.Option("--max", min=1, max=16, help="At most this many colours.")] = 5,
    merge: Annotated[
        float, typer.Option("--merge", min=0, help="Merge colours closer than this CIE76 distance.")
    ] = 12.0,
    fmt: Annotated[Format, typer.Option("--format", help="text: one colour per line; json: a palette list.")] = Format.text,
) -> None:
    """Extract a palette from an image (or a box of it), most common colour first."""
    from captionkit.palette import extract_palette

    region = _parse_box(box) if box is not None else None
    try:
        swatches = extract_palette(image, box=region, max_colors=max_colors, merge_distance=merge)
    except ValueError as exc:
        message = str(exc)
        fail(message if message.startswith(str(image)) else f"{image}: {message}")
    if fmt is Format.json:
        typer.echo(json.dumps([s.color for s in swatches]))
        return
    for s in swatches:
        typer.echo(f"{s.color}  {s.share * 100:5.1f}%")


def tokens_cmd(
    captions: Annotated[list[str], typer.Argument(help="Caption files, folders (recursive; .json and .jsonl), or - for stdin.")],
    tokenizer: Annotated[
        Optional[Path],
        typer.Option("--tokenizer", help="A local tokenizer folder or tokenizer.json (never downloaded)."),
    ] = None,
    estimate: Annotated[bool, typer.Option("--estimate", help="Skip any local tokenizer; estimate.")] = False,
    raw: Annotated[
        bool, typer.Option("--raw", help="Count the file text as is, not its canonical form.")
    ] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
) -> None:
    """Count the tokens the pipeline will see (chat wrapper included) against the 2048 limit.

    Exit 1 when a caption is over the limit.
    """
    from captionkit._json import canonical_order, dumps, parse_exact
    from captionkit._sources import iter_sources
    from captionkit._walk import TOP_LEVEL_KNOWN_KEYS
    from captionkit.tokens import count_tokens_many

    from captionkit.cli._common import warn_environment

    warn_environment()
    if tokenizer is not None and estimate:
        fail("--tokenizer and --estimate exclude each other")
    chosen: Any = False if estimate else tokenizer
    labels, prompts = [], []
    refused = False
    for src in iter_sources(captions):
        if src.text is None and src.record:
            err(f"{src.label}: {src.problem}; not counted")
            continue
        if src.text is None:
            err(f"error: {src.label}: {src.problem}")
            refused = True
            continue
        prompt = src.text.removesuffix("\n")
        try:
            value = parse_exact(prompt)
        except ValueError as exc:
            err(f"error: {src.label}: not a caption (invalid JSON: {exc}); tokens counts caption files")
            refused = True
            continue
        if not isinstance(value, dict) or not set(value) & set(TOP_LEVEL_KNOWN_KEYS):
            what = "a JSON object without any caption key" if isinstance(value, dict) else f"a JSON {type(value).__name__}"
            err(f"error: {src.label}: not a caption ({what}); tokens counts caption files")
            refused = True
            continue
        if not raw:
            prompt = dumps(canonical_order(value))
        labels.append(src.label)
        prompts.append(prompt)
    if not prompts and not refused:
        fail("no .json or .jsonl files found in the given paths")
    try:
        counts = count_tokens_many(prompts, tokenizer=chosen)  # one tokenizer load, one batched encode
    except ValueError as exc:
        fail(str(exc))
    results = list(zip(labels, counts))
    code = EXIT_FINDINGS if any(c.status == "over" for c in counts) else EXIT_CLEAN
    if fmt is Format.json:
        typer.echo(
            json.dumps(
                [
                    {
                        "file": name,
                        "count": c.count,
                        "exact": c.exact,
                        "method": c.method,
                        "upper_bound": c.upper_bound,
                        "limit": c.limit,
                        "status": c.status,
                    }
                    for name, c in results
                ]
            )
        )
    else:
        for name, c in results:
            note = {"over": "  over the limit", "near": "  close to the limit"}.get(c.status, "")
            typer.echo(f"{name}: {c}{note}")
    for name, c in results:
        if c.status == "over":
            err(f"error: {name}: {c.count} tokens is over the pipeline's limit of {c.limit}")
        elif c.status == "near":
            err(f"warning: {name}: {c} is close to the limit")
    raise typer.Exit(EXIT_ERROR if refused else code)


def register(app: typer.Typer) -> None:
    """Add the authoring commands to ``app``."""
    app.command("new")(new_cmd)
    app.command("preview")(preview_cmd)
    app.command("palette")(palette_cmd)
    app.command("tokens")(tokens_cmd)
