"""The rule catalogue: every diagnostic code, its name, severity and documentation.

Families (select by prefix, like ruff):

* ``CK0`` parse: the text itself (JSON syntax, escapes, encoding).
* ``CK1`` structure: types, required and unknown keys.
* ``CK2`` ordering: key order and keys not allowed where they stand.
* ``CK3`` content: bbox and palette values.
* ``CK4`` strict: what the official verifier lets through but the model should not get.
* ``CK5`` budget: the token limit.
* ``CK6`` lints: the prompting guide's advice.

Every check of the official verifier maps to an error-severity code in CK0-CK3;
captionkit's own checks (CK4-CK6) are warnings or infos, so a caption is
accepted by :func:`captionkit.verify` exactly when the official verifier accepts
it (CK501, the token limit, is the one error the verifier does not see).

>>> RULES["CK201"].name
'style-key-order'
>>> rule("key-out-of-order") is None
True
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Any

from captionkit.diagnostics import Diagnostic, Fix, Severity

__all__ = ["RULES", "Rule", "official_diagnostic", "rule"]

E, W, I = Severity.error, Severity.warning, Severity.info


@dataclass(frozen=True, slots=True)
class Rule:
    """Documentation, defaults and fixes for one diagnostic code.

    ``fixes`` lists what captionkit can do about a finding, at most one fix per
    applicability (as in ruff): a ``safe`` fix changes form, never meaning, and
    always runs; an ``unsafe`` one runs only when asked (``--unsafe-fixes``,
    ``unsafe=True``). Every change a fix makes is built from this entry (see
    :class:`captionkit.fixes.Change`), so the applicability is decided here and
    only here.

    >>> [f.applicability for f in RULES["CK312"].fixes]
    ['safe', 'unsafe']
    >>> RULES["CK303"].fix_for().applicability
    'unsafe'
    >>> RULES["CK101"].fixes
    ()
    """

    code: str
    name: str
    severity: Severity
    what: str
    why: str
    example: str
    fixes: tuple[Fix, ...] = ()
    official: bool = False

    def __post_init__(self) -> None:
        kinds = [f.applicability for f in self.fixes]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"{self.code}: at most one fix per applicability, got {kinds}")

    @property
    def fix(self) -> Fix | None:
        """The fix a finding of this rule offers: the safe one when there is one, else the unsafe one."""
        return next((f for f in self.fixes if f.safe), self.fixes[0] if self.fixes else None)

    @property
    def fix_availability(self) -> str:
        """``"none"``, ``"safe"``, ``"unsafe"`` or ``"safe, unsafe"`` (which fixes exist)."""
        return ", ".join(f.applicability for f in self.fixes) or "none"

    def fix_for(self, applicability: str | None = None) -> Fix:
        """The rule's fix of that applicability (``None``: its only fix).

        Raises:
            ValueError: the rule has no such fix, or has two and none was named.

        >>> RULES["CK201"].fix_for("unsafe")
        Traceback (most recent call last):
        ...
        ValueError: CK201 (style-key-order) has no unsafe fix; its fixes: safe
        """
        if applicability is None:
            if len(self.fixes) == 1:
                return self.fixes[0]
            if not self.fixes:
                raise ValueError(f"{self.code} ({self.name}) has no fix, so no change can address it")
            raise ValueError(f"{self.code} ({self.name}) has a safe and an unsafe fix; name the applicability")
        for f in self.fixes:
            if f.applicability == applicability:
                return f
        if applicability not in ("safe", "unsafe"):
            raise ValueError(f"applicability must be 'safe' or 'unsafe', got {applicability!r}")
        raise ValueError(
            f"{self.code} ({self.name}) has no {applicability} fix; its fixes: {self.fix_availability}"
        )

    def diagnostic(
        self, path: tuple[Any, ...], message: str, official: str | None = None,
        line: int | None = None, column: int | None = None,
    ) -> Diagnostic:
        """A finding of this rule at ``path``."""
        return Diagnostic(self.code, self.name, message, path, self.severity, self.fix, official, line, column)

    @property
    def family(self) -> str:
        return _FAMILIES[self.code[:3]]

    def doc(self) -> str:
        """The rule's documentation as printed by ``captionkit rule CODE``.

        The ``Fix:`` paragraph says whether a fix is available and, for each, its
        applicability (an unsafe fix runs only with ``--unsafe-fixes`` or ``unsafe=True``).
        """
        if not self.fixes:
            fix = "not available (needs a person: captionkit never invents content)"
        else:
            lines = [f"available ({self.fix_availability})"]
            for f in self.fixes:
                when = "" if f.safe else " (applied only with --unsafe-fixes or unsafe=True)"
                lines.append(f"  {f.applicability}: {f.description}{when}")
            fix = "\n".join(lines)
        source = "official verifier check" if self.official else "captionkit check"
        return (
            f"{self.code} {self.name} ({self.family}, {self.severity.value}; {source})\n\n"
            f"What: {self.what}\n\nWhy: {self.why}\n\nExample:\n  {self.example}\n\nFix: {fix}\n"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as ``captionkit rule --format json`` prints it.

        >>> RULES["CK303"].to_dict()["fixes"]
        [{'applicability': 'unsafe', 'description': 'clamp to 0-1000'}]
        """
        return {
            "code": self.code,
            "name": self.name,
            "family": self.family,
            "severity": self.severity.value,
            "official": self.official,
            "what": self.what,
            "why": self.why,
            "example": self.example,
            "fix_available": bool(self.fixes),
            "fixes": [{"applicability": f.applicability, "description": f.description} for f in self.fixes],
        }


_FAMILIES = {
    "CK0": "parse",
    "CK1": "structure",
    "CK2": "ordering",
    "CK3": "content",
    "CK4": "strict",
    "CK5": "budget",
    "CK6": "lint",
}

_WHY_OFFICIAL = "The official pipeline verifies every prompt and raises on any warning."
_WHY_ORDER = (
    "The model was trained on one key order and the verifier checks it for equality; "
    "a missing required key also shows up here."
)


def _r(code: str, name: str, sev: Severity, what: str, why: str, example: str,
       fix: Fix | tuple[Fix, ...] | None = None, official: bool = False) -> Rule:
    fixes = () if fix is None else (fix,) if isinstance(fix, Fix) else fix
    return Rule(code, name, sev, what, why, example, fixes, official)


_ALL = [
    # -- parse
    _r("CK001", "escaped-non-ascii", E,
       "The text holds \\uXXXX escapes of non-ASCII characters and no literal non-ASCII character.",
       "The file was probably written with ensure_ascii=True; escapes cost tokens and the official "
       "verifier warns. " + _WHY_OFFICIAL,
       '{"high_level_description":"caf\\u00e9", ...}',
       Fix("re-serialise with literal UTF-8 characters"), True),
    _r("CK002", "invalid-json", E, "The text is not valid JSON (Python json.loads semantics).",
       _WHY_OFFICIAL, '{"a":1,}',
       Fix("re-read it token by token when the only faults are trailing commas, single quotes or Python's "
           "True/False/None (the inside of a string is never edited); anything else needs a person"), True),
    _r("CK003", "utf8-bom", E, "The text starts with a UTF-8 byte order mark.",
       "json.loads rejects a BOM, so the official verifier reports invalid JSON.",
       "\\ufeff{...}", Fix("remove the byte order mark"), True),
    _r("CK004", "not-utf8", E, "The file is not valid UTF-8.",
       "Captions are UTF-8 text; the official verify_file crashes on other encodings.",
       "a Latin-1 file with byte 0xE9", None, True),
    _r("CK005", "json-wrapped", E,
       "The caption is wrapped: in a code fence, in prose, or encoded as a JSON string.",
       "LLMs wrap their JSON; the verifier sees invalid JSON or a string, not a caption.",
       '```json\\n{...}\\n```', Fix("extract the JSON object"), True),
    # -- structure
    _r("CK101", "root-not-object", E, "The caption is not a JSON object.", _WHY_OFFICIAL, "[]",
       None, True),
    _r("CK102", "root-unknown-key", E, "The root holds a key outside the schema.",
       "Unknown keys are rejected; envelope keys like aspect_ratio belong in metadata.",
       '{"aspect_ratio":"16:9", ...}',
       Fix("rename a known alias (summary -> high_level_description), else move the key and its value "
           "into metadata", safe=False),
       True),
    _r("CK103", "high-level-description-type", E, "high_level_description is not a string.",
       _WHY_OFFICIAL, '{"high_level_description":7, ...}', None, True),
    _r("CK104", "missing-composition", E, "compositional_deconstruction is missing.",
       "It is the only required root key.", '{"high_level_description":"..."}',
       Fix("unwrap a caption held under a wrapper key (prompt, caption, json_prompt, json), keeping the "
           "other keys as metadata", safe=False), True),
    _r("CK110", "style-not-object", E, "style_description is not an object.", _WHY_OFFICIAL,
       '"style_description":"moody"', None, True),
    _r("CK111", "style-unknown-key", E, "style_description holds a key outside the schema.",
       _WHY_OFFICIAL, '"style_description":{..., "camera":"35mm"}',
       Fix("rename a known alias (camera -> photo, colour_palette -> color_palette), else move the key "
           "and its value into metadata", safe=False), True),
    _r("CK112", "style-both-branches", E, "style_description has both photo and art_style.",
       "Exactly one branch: photo for photographs, art_style for everything else.",
       '{"photo":"35mm","art_style":"oil"}', None, True),
    _r("CK113", "style-no-branch", E, "style_description has neither photo nor art_style.",
       "Exactly one branch is required; the hosted API's own example misses it.",
       '{"aesthetics":"a","lighting":"l","medium":"m"}', None, True),
    _r("CK120", "composition-not-object", E, "compositional_deconstruction is not an object.",
       _WHY_OFFICIAL, '"compositional_deconstruction":[]', None, True),
    _r("CK121", "missing-background", E, "compositional_deconstruction has no background.",
       "The background is the scene shell and is required.", '{"elements":[]}', None, True),
    _r("CK122", "background-type", E, "background is not a string.", _WHY_OFFICIAL,
       '{"background":null,...}', None, True),
    _r("CK123", "missing-elements", E, "compositional_deconstruction has no elements list.",
       "elements is required (it may be empty).", '{"background":"b"}', None, True),
    _r("CK124", "elements-not-list", E, "elements is not a list.", _WHY_OFFICIAL,
       '"elements":{"type":"obj"}', None, True),
    _r("CK130", "element-not-object", E, "An element is not an object.", _WHY_OFFICIAL,
       '"elements":["a cat"]', Fix("rebuild a [bbox, label] pair as an obj element", safe=False), True),
    _r("CK131", "element-unknown-key", E, "An element holds a key outside the schema.",
       _WHY_OFFICIAL, '{"type":"obj","desc":"d","font":"serif"}',
       Fix("rename a known alias (description -> desc, palette -> color_palette), else move the key "
           "and its value into metadata", safe=False), True),
    _r("CK132", "element-missing-type", E, "An element has no type.",
       "type selects obj or text and their key orders.", '{"desc":"d"}', None, True),
    _r("CK133", "element-invalid-type", E, "An element's type is neither obj nor text.",
       "Only obj and text exist; invented types (character, logo) are rejected.",
       '{"type":"image","desc":"d"}', Fix("map to obj (or text when a text key exists)", safe=False),
       True),
    # -- ordering
    _r("CK201", "style-key-order", E,
       "style_description keys are out of canonical order, or a required one is missing.", _WHY_ORDER,
       "medium before photo; art_style before medium", Fix("reorder keys"), True),
    _r("CK202", "style-key-not-allowed", E, "style_description holds a key its branch does not allow.",
       _WHY_OFFICIAL, '{"photo":..., "foo":1}', None, True),
    _r("CK203", "composition-key-order", E, "background and elements are out of order.", _WHY_ORDER,
       '{"elements":[],"background":"b"}', Fix("reorder keys"), True),
    _r("CK204", "composition-key-not-allowed", E,
       "compositional_deconstruction holds a key besides background and elements.", _WHY_OFFICIAL,
       '{"background":"b","elements":[],"layout":"grid"}',
       Fix("rename a known alias (scene -> background, objects -> elements), else move the key and its "
           "value into metadata", safe=False), True),
    _r("CK205", "element-key-order", E,
       "An element's keys are out of canonical order, or a required one is missing.", _WHY_ORDER,
       '{"type":"text","text":"T","bbox":[...],"desc":"d"}', Fix("reorder keys"), True),
    _r("CK206", "element-key-not-allowed", E,
       "An element holds a key its type does not allow (text in an obj, unknown keys).", _WHY_OFFICIAL,
       '{"type":"obj","text":"T","desc":"d"}',
       Fix("move 'text' out of an obj element into metadata", safe=False), True),
    _r("CK207", "root-key-order", W, "Root keys are out of canonical order.",
       "The verifier does not check it, but the model saw one order in training and key order "
       "changes the image.", '{"compositional_deconstruction":{...},"high_level_description":"..."}',
       Fix("reorder keys")),
    # -- content
    _r("CK301", "bbox-shape", E, "A bbox is not a list of four values.", _WHY_OFFICIAL,
       '"bbox":{"y":1}',
       Fix("rebuild the list from named edges (y_min/x_min/y_max/x_max, top/left/bottom/right)", safe=False),
       True),
    _r("CK302", "bbox-not-int", E, "A bbox holds a non-integer value.",
       "Values are integers 0-1000; 1.0 and 0.5 are rejected.", '"bbox":[0,0,1000,1000.0]',
       (Fix("convert integral floats to integers"),
        Fix("convert boxes from a declared (box_format) or detected convention, or unit floats, to "
            "integers on 0-1000", safe=False)), True),
    _r("CK303", "bbox-out-of-range", E, "A bbox value is outside 0-1000.", _WHY_OFFICIAL,
       '"bbox":[900,-1,100,1001]', Fix("clamp to 0-1000", safe=False), True),
    _r("CK304", "bbox-y-reversed", E, "A bbox has y_min > y_max.", _WHY_OFFICIAL,
       '"bbox":[900,0,100,10]', Fix("swap the edges", safe=False), True),
    _r("CK305", "bbox-x-reversed", E, "A bbox has x_min > x_max.", _WHY_OFFICIAL,
       '"bbox":[10,600,20,500]', Fix("swap the edges", safe=False), True),
    _r("CK310", "palette-not-list", E, "A color_palette is not a list.", _WHY_OFFICIAL,
       '"color_palette":"#FFFFFF"', Fix("split a palette string at commas and spaces into a list", safe=False),
       True),
    _r("CK311", "palette-too-long", E,
       "A color_palette has more than 16 (global) or 5 (element) colours.", _WHY_OFFICIAL,
       "17 global colours", Fix("truncate, reporting what was dropped", safe=False), True),
    _r("CK312", "palette-bad-color", E, "A palette entry is not an uppercase #RRGGBB string.",
       _WHY_OFFICIAL, '"#fff", "#1b1b2f", "navy", 123',
       (Fix("uppercase and expand #RGB"),
        Fix("convert colour names and other notations to hex; drop a value that is no colour (kept in "
            "metadata)", safe=False)), True),
    # -- strict
    _r("CK401", "prose-not-string", W, "A prose field (desc, text, background, style keys) is not a string.",
       "The verifier does not look, but the model reads text; numbers or null here are mistakes.",
       '"desc":5'),
    _r("CK402", "empty-string", W, "A prose field is empty or only whitespace.",
       "An empty description gives the model nothing to draw.", '"background":""'),
    _r("CK403", "bbox-bool", W, "A bbox holds true/false.",
       "Booleans pass the verifier as 1 and 0, which is never what was meant.", '"bbox":[true,0,false,1]',
       Fix("write true/false as 1/0, the values the verifier already reads")),
    _r("CK404", "zero-area-bbox", W, "A bbox has zero width or height.",
       "The verifier accepts it, but nothing can be drawn in it.", '"bbox":[500,500,500,500]'),
    _r("CK405", "duplicate-palette-color", W, "A palette lists the same colour twice.",
       "Repeats waste the palette's few slots.", '["#FFFFFF","#FFFFFF"]',
       Fix("drop the repeats")),
    _r("CK406", "empty-elements", I, "The caption has no elements.",
       "Captions were extremely descriptive in training; sparse ones drift.", '"elements":[]'),
    _r("CK407", "duplicate-key", W, "An object repeats a key; json.loads keeps the last value.",
       "The earlier value is silently lost, and which value was meant is a choice only a person can "
       "make: safe fixes and fmt leave the text as it is.", '{"type":"obj","desc":"x","type":"text"}',
       Fix("keep the last value, as json.loads does; the earlier ones go to the fix's metadata", safe=False)),
    _r("CK408", "not-canonical", I, "The text is valid but not in canonical serialization.",
       "Whitespace and key order change tokens and so the image; canonical text is reproducible.",
       '{"a": 1, "b": 2}', Fix("re-serialise canonically")),
    # -- budget
    _r("CK501", "token-limit", E, "The caption exceeds 2048 tokens, chat wrapper included.",
       "Both the official pipeline and diffusers raise; neither truncates.",
       "a caption of 12,000 characters", None),
    _r("CK502", "token-budget-near", W, "The caption is close to the 2048-token limit.",
       "An estimate near the limit may be over it on the real tokenizer.", "1,900 tokens"),
    # -- lints
    _r("CK601", "long-summary", W, "high_level_description has more than 50 words.",
       "The guide asks for one or two sentences; detail belongs in elements.", "a 70-word summary"),
    _r("CK602", "desc-length", I, "An element desc is outside roughly 25-60 words.",
       "The guide asks for 30-60 words: enough to pin identity, attributes and one detail.",
       '"desc":"A cat."'),
    _r("CK603", "hedge-words", W, "A description hedges: 'such as', 'various', 'e.g.', 'or similar', "
       "'maybe', or 'X or Y' alternatives.",
       "The model draws one thing; hedges make it guess.", '"desc":"a dog or a cat"'),
    _r("CK604", "mood-words", I, "A description uses impression words (stunning, vibrant, beautiful).",
       "Impressions do not say what to draw; name the visual property instead.",
       '"desc":"a stunning vase"'),
    _r("CK605", "warm-light-no-source", I, "Lighting is 'warm' with no named light source.",
       "Name the source (a tungsten lamp, low sun) so the model knows where the light comes from.",
       '"lighting":"warm light"'),
    _r("CK606", "camera-words-in-element", W,
       "An element desc uses camera or render vocabulary (bokeh, depth of field, blur, shadow).",
       "Camera language belongs in style_description.photo; shadows are not elements' business.",
       '"desc":"a cup with bokeh behind it"'),
    _r("CK607", "text-in-desc", W, "A text element's desc repeats its literal text.",
       "The desc describes lettering, not characters; repeating invites duplicated text.",
       '{"type":"text","text":"OPEN","desc":"the word OPEN in red"}'),
    _r("CK608", "duplicate-element", W, "Two elements are identical.",
       "Each subject appears once; duplicates duplicate subjects in the image.", "two equal objs"),
    _r("CK609", "overlapping-text", W, "Two text elements' boxes overlap.",
       "Overlapping text blocks garble each other.", "two text boxes sharing an area"),
    _r("CK610", "round-not-square", W,
       "A square or round object's box is not square in pixels on the frame (needs --size).",
       "Boxes are normalised per axis; an equal-span box on a wide frame stretches the object.",
       "a 'round clock' at [100,100,400,400] on 1920x1088"),
    _r("CK611", "shell-as-element", W, "Ground, sky, floor or walls are an element.",
       "The scene shell belongs in background; as an obj it is double counted.",
       '{"type":"obj","desc":"The sky, blue with clouds"}'),
    _r("CK612", "photo-medium", W, "A photo style's medium is not a photograph.",
       "The photo branch pairs with medium 'photograph'.",
       '{"photo":"35mm","medium":"illustration"}'),
]

RULES: dict[str, Rule] = {r.code: r for r in _ALL}
_BY_NAME: dict[str, Rule] = {r.name: r for r in _ALL}


def rule(code_or_name: str) -> Rule | None:
    """Look a rule up by code (``CK201``) or name (``style-key-order``)."""
    key = code_or_name.strip()
    return RULES.get(key.upper()) or _BY_NAME.get(key.lower())


def official_diagnostic(code: str, path: tuple[Any, ...], official: str) -> Diagnostic:
    """The diagnostic for one official warning: the place is shown by the pointer, so the
    message keeps only the problem (official messages read ``"<place>: <problem>"``)."""
    human = official.split(": ", 1)[1] if ": " in official else official
    return RULES[code].diagnostic(path, human, official)
