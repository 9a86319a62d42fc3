"""The text of the ``caption_rules`` prompt: the caption contract, generated from the spec constants.

Key orders, limits and the rule list come from the same data the verifier uses, so the
lesson cannot drift from what :func:`captionkit.verify` checks.
"""

from __future__ import annotations

from captionkit import _walk
from captionkit.diagnostics import Severity
from captionkit.rules import RULES


def _keys(order: tuple[str, ...]) -> str:
    return ", ".join(f'"{k}"' for k in order)


def caption_rules(goal: str | None = None) -> str:
    """The lesson an agent reads before writing captions.

    >>> text = caption_rules()
    >>> '"high_level_description", "style_description", "compositional_deconstruction"' in text
    True
    >>> "CK201" in text and "verify" in text
    True
    """
    errors = [r for r in RULES.values() if r.severity is Severity.error]
    catalogue = "\n".join(f"- {r.code} {r.name}: {r.what}" for r in errors)
    lesson = f"""You are writing Ideogram 4 JSON captions. The image model was trained on one exact format and
its pipeline refuses any caption the verifier warns about, so the format is a contract.

THE SHAPE
- One JSON object. Root keys, in this order: {_keys(_walk.ROOT_KEY_ORDER)}.
  Only "compositional_deconstruction" is required; "high_level_description" is a string.
- "style_description" (optional) has exactly one of "photo" or "art_style":
  photographs: {_keys(_walk.STYLE_KEY_ORDER_PHOTO)};
  everything else: {_keys(_walk.STYLE_KEY_ORDER_NON_PHOTO)}.
  "color_palette" is optional and holds at most {_walk.STYLE_PALETTE_MAX} uppercase "#RRGGBB" colours.
- "compositional_deconstruction" holds {_keys(_walk.COMPOSITION_KEY_ORDER)}: the background is the scene
  shell (ground, sky, walls, weather); every subject, prop and piece of text is an element.
- Elements, keys in this order:
  objects: {_keys(_walk.ELEMENT_KEY_ORDER_OBJ)} with "type":"obj";
  text: {_keys(_walk.ELEMENT_KEY_ORDER_TEXT)} with "type":"text" and the characters verbatim in "text"
  ("\\n" between lines). An element palette holds at most {_walk.ELEMENT_PALETTE_MAX} colours.
- "bbox" (optional) is [y_min, x_min, y_max, x_max]: integers from {_walk.BBOX_MIN} to {_walk.BBOX_MAX},
  measured from the top-left, each axis normalised separately. So on a wide frame a visually square
  thing has a smaller x-span than y-span: x-span / y-span = height / width.
- Keep non-ASCII characters literal (never \\u escapes). Serialise compactly, on one line.

THE WORKFLOW (tools of this server)
1. new_caption: start from a template ("poster", "product", "scene") or from a spec of fields and
   elements; colours may be written in any CSS notation and are normalised.
2. verify: every finding has a code, a path and a message. Errors must go; warnings are advice.
3. fix: applies the safe repairs (key order, hex case, fences around the JSON) and reports each one;
   unsafe repairs (clamping, truncating, guessing types) only with unsafe=true. It never invents content:
   a missing desc or background is yours to write.
4. format: the canonical text, byte for byte what the model should get.
5. tokens: the pipeline accepts at most 2048 tokens, chat wrapper included.
6. preview: look at the layout of the boxes before rendering.
7. expand turns a plain idea into a verified caption, describe writes one for an existing image, and
   render (when offered) draws it.

RULES THE VERIFIER ENFORCES (errors)
{catalogue}

Read the resources caption://schema, caption://rules/{{code}} and caption://examples/{{name}} for more."""
    if goal:
        lesson += f"\n\nYOUR TASK\n{goal.strip()}"
    return lesson
