"""The diagnostics API: :func:`iter_diagnostics`, :func:`verify`, :func:`is_valid`.

Like jsonschema's triad: ``iter_diagnostics`` is lazy and yields everything,
``verify`` collects a :class:`~captionkit.diagnostics.Report`, ``is_valid``
stops at the first error.

>>> verify('{"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","bbox":[10,600,20,500],"desc":"d"}]}}').codes()
['CK305']
>>> is_valid('{"compositional_deconstruction":{"background":"A wall.","elements":[]}}')
True
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from operator import eq, itemgetter
from typing import Any

import orjson

from captionkit import _accel, _walk
from captionkit._extract import LENIENT, extract_json
from captionkit._fastcheck import canonical_findings, located_walk
from captionkit._frames import frame_size
from captionkit._json import canonical_clean, dumps, is_stored_canonical
from captionkit.compat import _locate, ensure_ascii_findings, official_loads
from captionkit.diagnostics import Diagnostic, Report, Severity
from captionkit.rules import RULES, official_diagnostic
from captionkit.rules.content import lint, lint_parts
from captionkit.tokens import over_budget

__all__ = ["is_valid", "iter_diagnostics", "verify"]

Source = Any  # str | bytes | dict | Caption | any parsed JSON value


def _diag(code: str, path: tuple[Any, ...], message: str, official: str | None = None,
          line: int | None = None, column: int | None = None) -> Diagnostic:
    return RULES[code].diagnostic(path, message, official, line, column)


def _not_canonical() -> Diagnostic:
    return _diag("CK408", (), "valid, but not canonically serialized (run `captionkit fmt`)")


def _human(official: str) -> str:
    # Official messages are "<place>: <problem>"; the place is shown by the pointer.
    return official.split(": ", 1)[1] if ": " in official else official


def _parse(text: str) -> tuple[Any, list[Diagnostic], bool]:
    """Parse as the official verifier does (compat's depth rule), noting duplicate keys.

    Returns ``(value, diags, ok)``.
    """
    # object -> its repeated keys; the object is kept so that its id cannot be reused by
    # another object when a first, failed parse attempt is retried (official_loads may)
    dup_ids: dict[int, tuple[dict[str, Any], list[str]]] = {}

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            seen: set[str] = set()
            dups = [k for k, _ in pairs if k in seen or seen.add(k)]  # type: ignore[func-returns-value]
            dup_ids[id(obj)] = (obj, dups)
        return obj

    diags: list[Diagnostic] = []
    try:
        value = official_loads(text, object_pairs_hook=pairs_hook)
    except json.JSONDecodeError as exc:
        official = f"invalid JSON: {exc}"
        found = None
        if text.startswith("\ufeff"):
            code = "CK003"
        else:
            found = extract_json(text)
            code = "CK005" if found is not None and found[1] != LENIENT else "CK002"
        diag = _diag(code, (), official, official, exc.lineno, exc.colno)
        if code == "CK002" and found is None:
            diag = replace(diag, fix=None)  # no lenient reading either: a person must repair it
        diags.append(diag)
        return None, diags, False
    except (ValueError, RecursionError) as exc:
        official = f"invalid JSON: {exc}"
        diags.append(replace(_diag("CK002", (), official, official), fix=None))
        return None, diags, False
    if dup_ids:
        for path, obj in _iter_objects(value, ()):
            held, keys = dup_ids.get(id(obj), (None, ()))
            for key in keys if held is obj else ():
                diags.append(
                    _diag("CK407", (*path, key), f"key {key!r} appears more than once; the last value wins")
                )
    return value, diags, True


def clean_form(text: str) -> bool | None:
    """What the fast proofs say of caption text, before any parse.

    ``True``: the text is, up to one final ``"\\n"``, the canonical form of a
    caption the official checks accept (the proof ``compat.CaptionVerifier.verify_raw``
    starts from). ``False``: the text is such a caption in another form (white
    space, escapes the canonical form does not write, another root order).
    ``None``: not proven either way; the full parse and walk decide.

    A proven text holds no duplicate keys (the proofs read each key of a fixed
    schema once) and no value the official checks flag, so it needs only
    captionkit's own rules on top. Without the C accelerator only the
    canonical form is proven (``False`` is never answered).
    """
    return _prove(text)[0]


def _prove(text: str) -> tuple[bool | None, tuple[Any, ...] | None]:
    """``(form, spans)``: :func:`clean_form`'s answer, and where it is ``None``, what the C
    locator pointed at (its tuple of suspect spans), if it could read the text."""
    core = text.removesuffix("\n")
    if _locate is not None:
        found = _locate(core)
        if found is True or found is False:
            return found, None
        return None, found
    return (True if canonical_findings(core) == [] else None), None


def proven_canonical_and_clean(text: str) -> bool:
    """True when ``text`` is, up to one final ``"\\n"``, the canonical form of a caption that the
    official checks accept (see :func:`clean_form`)."""
    return clean_form(text) is True


def _proven_value(text: str) -> Any:
    """The value of a text :func:`clean_form` proved: orjson reads it exactly as json.loads does
    (no huge integers, no NaN, no duplicate keys), except that it refuses lone surrogates."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _iter_objects(value: Any, path: tuple[Any, ...]) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
    if isinstance(value, dict):
        yield path, value
        for k, v in value.items():
            yield from _iter_objects(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _iter_objects(v, (*path, i))


_STYLE_PROSE = ("aesthetics", "lighting", "photo", "medium", "art_style")


def _prose(value: Any, path: tuple[Any, ...], what: str) -> Iterator[Diagnostic]:
    if not isinstance(value, str):
        yield _diag("CK401", path, f"{what} should be a string, got {type(value).__name__}")
    elif not value.strip():
        yield _diag("CK402", path, f"{what} is empty")


def _palette_dups(palette: Any, path: tuple[Any, ...]) -> Iterator[Diagnostic]:
    if isinstance(palette, list):
        seen: set[str] = set()
        for j, c in enumerate(palette):
            if isinstance(c, str):
                key = c.upper()
                if key in seen:
                    yield _diag("CK405", (*path, j), f"colour {c} is already in the palette")
                seen.add(key)


def _no_repeats(palette: Any) -> bool:
    """True only when :func:`_palette_dups` finds nothing in ``palette`` (in bulk: one join, one set)."""
    if type(palette) is not list:
        return not isinstance(palette, list)
    try:
        joined = "".join(palette)
    except TypeError:  # an entry that is not a string: the check itself decides
        return False
    # unchanged by upper(): every entry is its own upper-case key, so a repeat is an equal entry
    return joined == joined.upper() and len(set(palette)) == len(palette)


def _strict(value: Any) -> Iterator[Diagnostic]:
    """captionkit's own checks beyond the verifier; defensive about any shape.

    The usual values (strings with text, lists of four ints, palettes without repeats) are
    looked at directly; anything else goes to the helpers that word the findings.
    """
    if not isinstance(value, dict):
        return
    known = [k for k in value if k in _walk.TOP_LEVEL_KNOWN_KEYS]
    canonical = [k for k in _walk.ROOT_KEY_ORDER if k in value]
    if known != canonical:
        yield _diag("CK207", (), f"root keys are in order {tuple(known)!r}, expected {tuple(canonical)!r}")
    hld = value.get("high_level_description")
    if isinstance(hld, str) and not hld.strip():
        yield _diag("CK402", ("high_level_description",), "high_level_description is empty")
    sd = value.get("style_description")
    if isinstance(sd, dict):
        for key in _STYLE_PROSE:
            if key in sd:
                prose = sd[key]
                if type(prose) is not str or not prose.strip():
                    yield from _prose(prose, ("style_description", key), key)
        palette = sd.get("color_palette")
        if not _no_repeats(palette):
            yield from _palette_dups(palette, ("style_description", "color_palette"))
    cd = value.get("compositional_deconstruction")
    if not isinstance(cd, dict):
        return
    bg = cd.get("background")
    if isinstance(bg, str) and not bg.strip():
        yield _diag("CK402", ("compositional_deconstruction", "background"), "background is empty")
    elements = cd.get("elements")
    if not isinstance(elements, list):
        return
    if not elements:
        yield _diag("CK406", ("compositional_deconstruction", "elements"), "the caption has no elements")
    for i, elem in enumerate(elements):
        if not isinstance(elem, dict):
            continue
        if "text" in elem and elem.get("type") == "text":
            prose = elem["text"]
            if type(prose) is not str or not prose.strip():
                yield from _prose(prose, ("compositional_deconstruction", "elements", i, "text"), "text")
        if "desc" in elem:
            prose = elem["desc"]
            if type(prose) is not str or not prose.strip():
                yield from _prose(prose, ("compositional_deconstruction", "elements", i, "desc"), "desc")
        bbox = elem.get("bbox")
        if type(bbox) is list and len(bbox) == 4 and all(type(v) is int for v in bbox):
            if bbox[0] == bbox[2] or bbox[1] == bbox[3]:  # plain ints: no booleans among them
                yield _diag("CK404", ("compositional_deconstruction", "elements", i, "bbox"),
                            f"bbox {bbox!r} has zero width or height")
        elif isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int) for v in bbox):
            base = ("compositional_deconstruction", "elements", i)
            if any(isinstance(v, bool) for v in bbox):
                yield _diag("CK403", (*base, "bbox"), f"bbox holds booleans: {bbox!r}")
            elif bbox[0] == bbox[2] or bbox[1] == bbox[3]:
                yield _diag("CK404", (*base, "bbox"), f"bbox {bbox!r} has zero width or height")
        palette = elem.get("color_palette")
        if not _no_repeats(palette):
            yield from _palette_dups(palette, ("compositional_deconstruction", "elements", i, "color_palette"))


_DESC, _Y0, _X0, _Y1, _X1 = itemgetter("desc"), itemgetter(0), itemgetter(1), itemgetter(2), itemgetter(3)


def _strict_finds_nothing(value: dict[str, Any], canonical_order: bool) -> bool:
    """True only when :func:`_strict` finds nothing in ``value``, a caption :func:`clean_form` proved.

    Such a value has the schema's shape (prose values are strings, palettes are lists of
    uppercase hex, boxes four JSON integers): what is left to look at is looked at in bulk,
    by C-level passes (``map`` over builtins). ``False`` says only "maybe": :func:`_strict`
    then decides and words every finding.
    """
    if not canonical_order and [k for k in value if k in _walk.TOP_LEVEL_KNOWN_KEYS] != [
        k for k in _walk.ROOT_KEY_ORDER if k in value
    ]:
        return False
    cd = value["compositional_deconstruction"]
    elements = cd["elements"]
    if not elements:
        return False
    prose = [cd["background"], *map(_DESC, elements), *[e["text"] for e in elements if "text" in e]]
    if "high_level_description" in value:
        prose.append(value["high_level_description"])
    sd = value.get("style_description")
    palettes = [e["color_palette"] for e in elements if "color_palette" in e]
    if sd is not None:
        prose += [sd[k] for k in _STYLE_PROSE if k in sd]
        if "color_palette" in sd:
            palettes.append(sd["color_palette"])
    # str.strip() hands back the string itself when there is nothing to strip: no copies
    if not all(map(str.strip, prose)):
        return False
    if list(map(len, map(set, palettes))) != list(map(len, palettes)):  # uppercase hex: a repeat is equal
        return False
    boxes = [e["bbox"] for e in elements if "bbox" in e]
    return not (any(map(eq, map(_Y0, boxes), map(_Y1, boxes))) or any(map(eq, map(_X0, boxes), map(_X1, boxes))))


def _token_checks(canonical: str) -> Iterator[Diagnostic]:
    count = over_budget(canonical)
    if count is None:
        return
    if count.status == "over":
        yield _diag("CK501", (), f"{count}: over the limit")
    elif count.status == "near":
        yield _diag("CK502", (), f"{count}: close to the limit")


class Checked:
    """What a check learnt besides its diagnostics: the parsed value and, when known, its canonical text.

    The value of a caption read by the facts route is parsed only when asked for.
    """

    __slots__ = ("_value", "canonical", "proven")

    def __init__(self) -> None:
        self._value: Any = None
        self.canonical: str | None = None
        self.proven: str | None = None  # text clean_form proved, not parsed yet

    @property
    def value(self) -> Any:
        if self.proven is not None:
            self._value, self.proven = _proven_value(self.proven), None
        return self._value

    @value.setter
    def value(self, value: Any) -> None:
        self._value, self.proven = value, None


_caption_facts = _accel.speedups.caption_facts if _accel.speedups is not None and _locate is not None else None
_canonical_of_clean = _accel.speedups.canonical_of_clean if _caption_facts is not None else None


def _facts_route(core: str, tokens: bool, frame: Any, value_of: Callable[[], Any]) -> list[Diagnostic] | None:
    """captionkit's own rules and the lints on canonical, clean ``core``, read by the C
    accelerator's ``caption_facts`` (no dict built); ``None`` when the parsing route must decide.

    The facts are the values the rules read; this route takes them only when ``_strict`` can
    find nothing (every prose value has a word, no palette repeats an entry, the caption has
    elements, no box has zero width or height; the root order is the caller's to check). The
    lints are ``lint_parts`` on the suspect elements, or, with a frame or two equal descs (every
    element is read then), ``lint`` on the value ``value_of`` hands back.
    """
    facts = _caption_facts(core)
    if facts is None:
        return None
    (hld, lighting, medium, photo, kinds, boxes, texts, descs, counts, masks, empty, palette_repeats, flat,
     desc_repeats, suspects, overlapping) = facts
    if empty or palette_repeats or flat or not kinds:
        return None
    if frame is not None or desc_repeats:
        found = list(lint(value_of(), frame=frame))
    else:
        found = list(lint_parts(hld, lighting, medium, photo, kinds, boxes, texts, descs, counts, masks, frame=None,
                                elements=lambda: value_of()["compositional_deconstruction"]["elements"],
                                suspects=suspects, overlapping=overlapping, repeats=False))
    if tokens:
        found += _token_checks(core)
    return found


def _diagnostics(
    source: Source, lints: bool, tokens: bool, frame: Any, checked: Checked
) -> Iterator[Diagnostic]:
    """The one check sequence behind :func:`iter_diagnostics` and :func:`captionkit.loads`."""
    frame = frame_size(frame)  # the one size parser: a bad frame fails here, whatever runs
    text: str | None = None
    repeated = False  # a key given twice: re-serialising would drop a value (CK407 says so; fmt refuses)
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            official = f"invalid JSON: {exc}"
            yield _diag("CK004", (), f"not valid UTF-8: {exc}", official)
            return
    if isinstance(source, str):
        text = source
        for official in ensure_ascii_findings(text):
            yield _diag("CK001", (), _human(official), official)
        form, spans = _prove(text)
        if form is True and lints and _caption_facts is not None:
            # (without lints the value is read anyway, by the caller or _strict: parsing is cheaper)
            checked.proven = checked.canonical = core = text.removesuffix("\n")
            found = _facts_route(core, tokens, frame, lambda: checked.value)
            if found is not None:
                yield from found
                return
        elif form is False and lints and _caption_facts is not None:
            # another layout of a clean caption: the facts are read from its canonical text, made in C
            canonical = _canonical_of_clean(text)
            if canonical is not None:
                checked.proven = text
                found = _facts_route(canonical, tokens, frame, lambda: checked.value)
                if found is not None:
                    # (no lone surrogate in it: the stored form is the canonical text itself)
                    if text.removesuffix("\n") == canonical:
                        checked.canonical = canonical
                    else:
                        yield _not_canonical()
                    yield from found
                    return
        if form is not None:
            # No official finding, no duplicate key: only captionkit's own rules remain.
            value = _proven_value(text)
            checked.value = value
            if form:  # the canonical form, up to one final "\n"
                canonical = text.removesuffix("\n")
                checked.canonical = canonical
            else:
                canonical = canonical_clean(value)
                if is_stored_canonical(text, canonical):
                    checked.canonical = canonical
            if not _strict_finds_nothing(value, form):
                yield from _strict(value)
            if not form and checked.canonical is None:
                yield _not_canonical()
            if lints:
                yield from lint(value, frame=frame)
            if tokens:
                yield from _token_checks(canonical)
            return
        findings = None
        if spans is not None and not spans[4]:
            # JSON the locator read through, in which no object repeats a key: the plain parse
            # reads what the tracking one would (and finds no CK407), and the walk needs to look
            # only at the values the locator pointed at.
            try:
                value = official_loads(text)
            except (ValueError, RecursionError):
                spans = None
            else:
                findings = located_walk(text, spans)
        if spans is None or spans[4]:
            value, parse_diags, ok = _parse(text)
            yield from parse_diags
            repeated = any(d.code == "CK407" for d in parse_diags)
            if not ok:
                return
    elif hasattr(source, "to_dict") and hasattr(source, "compositional_deconstruction"):
        value = source.to_dict()
        findings = None
    else:
        value = source
        findings = None
    checked.value = value
    if findings is None:
        findings = _walk.walk(value)
    for code, path, official in findings:
        yield official_diagnostic(code, path, official)
    strict = list(_strict(value))
    yield from strict
    if findings:
        return
    try:
        canonical = dumps(value) if text is not None or tokens else ""
    except (TypeError, ValueError) as exc:
        # Data that is not JSON (bytes, a str subclass json cannot write, a set...): the checks
        # above have named what they recognise; nothing that needs the text can run on it.
        if not strict:
            yield _diag("CK401", (), f"the caption holds a value JSON cannot write ({exc})")
        return
    if text is not None and not repeated and not is_stored_canonical(text, canonical):
        yield _not_canonical()
    elif canonical and not repeated:
        checked.canonical = canonical
    if lints:
        yield from lint(value, frame=frame)
    if tokens:
        yield from _token_checks(canonical)


def iter_diagnostics(
    source: Source,
    *,
    lints: bool = True,
    tokens: bool = True,
    frame: Any = None,
) -> Iterator[Diagnostic]:
    """Yield every diagnostic for a caption, lazily, in a stable order.

    Args:
        source: caption text (``str``/``bytes``), parsed JSON data, or a
            :class:`~captionkit.models.Caption`.
        lints: include the prompting-guide lints (CK6xx).
        tokens: include the token-budget checks (CK5xx).
        frame: the output size for checks that depend on it: a
            :class:`~captionkit.layout.Frame`, ``"WxH"``, a frame name such as
            ``"banner"``, a ratio such as ``"16:9"``, or a ``(width, height)`` pair.

    >>> [d.code for d in iter_diagnostics('[]')]
    ['CK101']
    """
    return _diagnostics(source, lints, tokens, frame, Checked())


def check(source: Source, *, lints: bool = True, tokens: bool = True, frame: Any = None) -> tuple[Report, Checked]:
    """Like :func:`verify` (no filtering), also handing back the parsed value and canonical text."""
    checked = Checked()
    return Report(list(_diagnostics(source, lints, tokens, frame, checked))), checked


def verify(
    source: Source,
    *,
    lints: bool = True,
    tokens: bool = True,
    frame: Any = None,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
) -> Report:
    """Collect every diagnostic into a :class:`~captionkit.diagnostics.Report`.

    ``select``/``ignore`` take codes, code prefixes (``CK2``) or rule names.

    >>> verify('{"compositional_deconstruction":{"background":"b","elements":[]}}', lints=False).codes()
    ['CK406']
    """
    report, _ = check(source, lints=lints, tokens=tokens, frame=frame)
    if select or ignore:
        report = report.filter(select=select, ignore=ignore)
    return report


def is_valid(source: Source) -> bool:
    """True when the official verifier would accept the caption; stops at the first error."""
    for d in iter_diagnostics(source, lints=False, tokens=False):
        if d.severity is Severity.error:
            return False
    return True
