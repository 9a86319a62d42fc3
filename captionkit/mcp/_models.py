"""Typed results of the MCP tools (each tool's output schema is generated from these)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field



_CAPTION = "The caption as a JSON object (its schema is the resource caption://schema)."


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class DiagnosticOut(_Out):
    """One finding, as ``captionkit verify --format json`` reports it."""

    code: str = Field(description="Rule code, e.g. CK201; `captionkit rule CODE` explains it.")
    name: str = Field(description="Rule name, e.g. style-key-order.")
    severity: Literal["error", "warning", "info"]
    message: str
    path: list[str | int] = Field(description="Where in the caption, as keys and indexes.")
    pointer: str = Field(description="The path as a JSON Pointer ('' is the whole caption).")
    fix: str | None = Field(None, description="'safe: ...' or 'unsafe: ...' when the fix tool can repair it.")

    @classmethod
    def of(cls, d: Any) -> DiagnosticOut:
        fix = None if d.fix is None else f"{d.fix.applicability}: {d.fix.description}"
        return cls(
            code=d.code,
            name=d.name,
            severity=d.severity.value,
            message=d.message,
            path=list(d.path),
            pointer=d.pointer,
            fix=fix,
        )


def diagnostics(report: Any) -> list[DiagnosticOut]:
    """Every diagnostic of a report, converted."""
    return [DiagnosticOut.of(d) for d in report]


class ChangeOut(_Out):
    """One change a repair made; its applicability is its rule's (see the caption://rules resource)."""

    code: str
    message: str
    safe: bool
    applicability: Literal["safe", "unsafe"]
    pointer: str


class CaptionOut(_Out):
    """A caption that verifies, with its canonical text."""

    text: str = Field(description="Canonical caption JSON: what the image model receives.")
    caption: dict[str, Any] = Field(description=_CAPTION)
    diagnostics: list[DiagnosticOut] = Field(description="Remaining warnings and notes (never errors).")


class VerifyOut(_Out):
    """The verdict on a caption."""

    ok: bool = Field(description="True when the official verifier accepts the caption.")
    errors: int
    warnings: int
    diagnostics: list[DiagnosticOut]


class FixOut(_Out):
    """What the fix tool changed, and the text it produced."""

    ok: bool = Field(description="True when the fixed caption verifies.")
    text: str = Field(description="The fixed caption, canonical JSON.")
    changes: list[ChangeOut]
    diagnostics: list[DiagnosticOut] = Field(description="What still needs a person (or unsafe=true).")
    metadata: dict[str, Any] = Field(description="Values moved out of the caption, e.g. an aspect_ratio echo.")


class FormatOut(_Out):
    """A caption re-serialised canonically."""

    text: str
    changed: bool = Field(description="Whether the text differs from the input.")


class PreviewOut(_Out):
    """The layout preview sent alongside as a PNG image."""

    width: int
    height: int
    mime_type: Literal["image/png"] = "image/png"
    elements: int
    boxed: int = Field(description="Elements with a bbox, drawn as boxes.")


class TokensOut(_Out):
    """The token count the pipeline will see, chat wrapper included."""

    count: int
    exact: bool
    method: str
    upper_bound: int
    limit: int
    status: Literal["ok", "near", "over"]
    detail: str


class MagicOut(_Out):
    """A verified caption from a magic-prompt backend, with its provenance."""

    text: str
    caption: dict[str, Any] = Field(description=_CAPTION)
    aspect_ratio: str | None = Field(description="The ratio composed for, W:H.")
    backend: str
    model: str | None
    attempts: int = Field(description="Replies requested: 1 plus re-asks.")
    changes: list[ChangeOut]
    diagnostics: list[DiagnosticOut] = Field(description="Remaining warnings and notes (never errors).")
    warnings: list[str]


class DescribeOut(MagicOut):
    """A verified caption written for an existing image."""

    image: str
    width: int
    height: int


class RenderOut(_Out):
    """The rendered image (sent alongside as PNG) and the recipe that reproduces it."""

    seed: int
    width: int
    height: int
    seconds: float
    recipe: dict[str, Any] = Field(description="The caption, seed, sampler parameters, size, model and versions.")
