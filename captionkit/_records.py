"""The JSON Lines records ``captionkit expand --batch`` writes, read back as captions.

NOTE for the merge: one small reader for expand's record format, used by
``verify``, ``fix``, ``fmt``, ``tokens`` (``cli/core.iter_sources``) and
``render`` (``render/batch``); fold it into ``captionkit._sources`` when the
single reader lands.

A record is a JSON object with an ``id``, an ``ok`` flag and a ``caption``
object (or, when the idea failed, an ``error``), plus provenance such as
``aspect_ratio``. It is told apart from a caption by having ``caption`` (or
``error``) and ``id``/``ok``, and none of the caption's own keys.

>>> r = parse_record('{"id": "k1", "ok": true, "caption": {"compositional_deconstruction": {"background": "b", "elements": []}}, "aspect_ratio": "16:9"}')
>>> r.id, r.aspect_ratio, r.caption_text
('k1', '16:9', '{"compositional_deconstruction":{"background":"b","elements":[]}}')
>>> parse_record('{"compositional_deconstruction": {"background": "b", "elements": []}}') is None
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["ExpandRecord", "parse_record"]

_CAPTION_KEYS = ("high_level_description", "style_description", "compositional_deconstruction")


@dataclass(frozen=True)
class ExpandRecord:
    """One record of an expand batch.

    Attributes:
        id: The idea's id (used for output file names).
        data: The whole record, in its key order.
        caption_text: The caption as compact JSON in its own key order, or None when the idea failed.
        aspect_ratio: The resolved aspect ratio (``"16:9"``), when the record has one.
        error: Why the idea failed, when it did.
    """

    id: str
    data: dict[str, Any]
    caption_text: str | None
    aspect_ratio: str | None
    error: str | None

    def with_caption(self, text: str) -> str:
        """The record as one JSON line with its caption replaced by ``text`` (other fields kept)."""
        data = dict(self.data)
        data["caption"] = json.loads(text)
        return json.dumps(data, ensure_ascii=False)


def parse_record(line: str) -> ExpandRecord | None:
    """The expand record on ``line``, or None when the line is not one (a caption, or not JSON)."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or not ("caption" in value or "error" in value):
        return None
    if not ("id" in value or isinstance(value.get("ok"), bool)):
        return None
    if any(key in value for key in _CAPTION_KEYS):
        return None
    caption = value.get("caption")
    error = None
    if value.get("ok") is False or caption is None:
        detail = value.get("error")
        message = detail.get("message") if isinstance(detail, dict) else detail
        error = f"the idea failed in expand ({message})" if message else "the idea failed in expand"
    if isinstance(caption, str):
        text: str | None = caption
    elif caption is not None:
        text = json.dumps(caption, ensure_ascii=False, separators=(",", ":"))
    else:
        text = None
    aspect = value.get("aspect_ratio")
    return ExpandRecord(
        id=str(value.get("id", "")),
        data=value,
        caption_text=text,
        aspect_ratio=aspect if isinstance(aspect, str) else None,
        error=error,
    )
