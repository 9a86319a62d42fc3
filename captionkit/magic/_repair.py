"""From a backend's reply to a verified caption: extraction, dialect fixes, box stripping, verify.

Pure functions only; the re-ask loop that uses them lives in :mod:`captionkit.magic._core`.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from captionkit.diagnostics import pointer
from captionkit.fixes import Change, extract_json, fix

_THINK = re.compile(r"^\s*<think(?:ing)?>.*?</think(?:ing)?>\s*", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of processing one reply.

    Attributes:
        caption: The caption model, or ``None`` when it still fails.
        text: Canonical caption text (``None`` when the reply could not be parsed).
        report: The remaining diagnostics (a :class:`captionkit.Report`), when parsed.
        changes: Every repair applied, in order.
        metadata: Values moved out of the caption (``aspect_ratio``, the stripped boxes by
            pointer under ``stripped_bboxes``, and the like).
        problems: One line per remaining error, for the re-ask message and the error; when
            :func:`captionkit.fix` refused the caption, its reason comes first.
        reason: ``None`` when usable, else ``parse``, ``truncated`` or ``verification``.
        raw: The reply as received (text; the hosted object as JSON).
    """

    caption: Any
    text: str | None
    report: Any
    changes: tuple[Any, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    reason: str | None = None
    raw: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None


def strip_think(text: str) -> tuple[str, bool]:
    """Remove a leading ``<think>…</think>`` block.

    >>> strip_think("<think>plan</think>\\n{}")
    ('{}', True)
    """
    stripped = _THINK.sub("", text, count=1)
    return stripped, stripped != text


def strip_bboxes(data: Any) -> tuple[Any, dict[str, Any]]:
    """Return a copy of ``data`` without element ``bbox`` keys, and the removed boxes by pointer.

    >>> strip_bboxes({"compositional_deconstruction": {"elements": [{"type": "obj", "bbox": [0, 0, 1, 1]}]}})
    ({'compositional_deconstruction': {'elements': [{'type': 'obj'}]}}, {'/compositional_deconstruction/elements/0/bbox': [0, 0, 1, 1]})
    """
    if not isinstance(data, dict):
        return data, {}
    comp = data.get("compositional_deconstruction")
    if not isinstance(comp, dict) or not isinstance(comp.get("elements"), list):
        return data, {}
    if not any(isinstance(e, dict) and "bbox" in e for e in comp["elements"]):
        return data, {}
    out = copy.deepcopy(data)
    removed: dict[str, Any] = {}
    for i, element in enumerate(out["compositional_deconstruction"]["elements"]):
        if isinstance(element, dict) and "bbox" in element:
            removed[pointer(("compositional_deconstruction", "elements", i, "bbox"))] = element.pop("bbox")
    return out, removed


def _problems(report: Any) -> tuple[str, ...]:
    lines = []
    for d in report.errors:
        lines.append(d.official or f"{d.pointer or '/'}: {d.message}")
    return tuple(lines)


def process_reply(
    source: str | dict[str, Any],
    *,
    strip_boxes: bool = True,
    unsafe: bool = False,
    truncated: bool = False,
    box_format: str | None = None,
    frame: Any = None,
) -> Outcome:
    """Repair one reply into a caption and verify it (spec steps 2-6).

    Args:
        source: The chat reply text, or the hosted API's ``json_prompt`` object.
        strip_boxes: Remove every element ``bbox`` (the default, as upstream).
        unsafe: Also apply unsafe fixes (mapping invented element types, clamping).
        truncated: The backend reported ``finish_reason: length``.
        box_format: The boxes' convention when it is not the caption's (``xyxy``, ``pixels``...).
        frame: ``(width, height)`` the boxes refer to (needed for ``pixels``).

    Every change is recorded with its rule's applicability. The ``aspect_ratio`` echo that the
    prompt asks for is moved into metadata whatever ``unsafe`` says: the flow requested that key
    itself, so the move is part of reading the reply, and it is recorded as what
    :data:`~captionkit.rules.RULES` makes it (CK102, unsafe). Stripped boxes are not a repair:
    they are kept in ``metadata["stripped_bboxes"]``.
    """
    changes: list[Any] = []
    metadata: dict[str, Any] = {}
    raw = source if isinstance(source, str) else json.dumps(source, ensure_ascii=False)
    data: Any
    if isinstance(source, str):
        text, had_think = strip_think(source)
        if had_think:
            changes.append(Change("CK005", "removed a leading <think> block"))
        found = extract_json(text)
        if found is None:
            refused = fix(text)
            report = refused.report
            problems = _problems(report) or (f"the reply contains no JSON object ({refused.problem})"
                                             if refused.problem else "the reply contains no JSON object",)
            reason = "truncated" if truncated else "parse"
            return Outcome(None, None, report, tuple(changes), metadata, problems, reason, raw)
        data, how = found
        if how != "parsed":
            changes.append(Change("CK005", how))
    else:
        data = copy.deepcopy(source)
    if isinstance(data, dict) and "aspect_ratio" in data:
        # the echo our prompt asks for (and the official dialect's): metadata, never caption
        metadata["aspect_ratio"] = data.pop("aspect_ratio")
        changes.append(Change("CK102", "moved the 'aspect_ratio' echo into metadata", ("aspect_ratio",)))
    if strip_boxes:
        data, removed = strip_bboxes(data)
        if removed:
            metadata["stripped_bboxes"] = removed
    result = fix(data, unsafe=unsafe, box_format=box_format, frame=frame)  # type: ignore[arg-type]
    changes.extend(result.changes)
    metadata.update(result.metadata or {})
    report = result.report
    problems = _problems(report)
    if result.problem is not None:
        # a refused fix says why first: that reason, not only the input's findings, is what to act on
        problems = (f"the fix was refused: {result.problem}", *problems)
    if result.caption is not None and report.ok:
        return Outcome(result.caption, result.text, report, tuple(changes), metadata, (), None, raw)
    reason = "truncated" if truncated else "verification"
    if not problems:
        problems = ("the caption does not match the caption model",)
    return Outcome(None, result.text, report, tuple(changes), metadata, problems, reason, raw)
