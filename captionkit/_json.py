"""Canonical JSON: the one serializer, and parsers with the official semantics.

Reading follows Python's ``json.loads`` exactly where it matters (error text,
``NaN``, huge integers, lone surrogates, duplicate keys); orjson is only a fast
path whose result is used when it cannot differ. :func:`parse_tracked` also records
repeated keys; :func:`parse_lenient` reads loosely written JSON (trailing commas,
single quotes, Python's constants) token by token, never editing inside a string.
Writing produces the canonical text: keys in canonical order, minified, literal
non-ASCII, numbers exactly as ``json.dumps`` writes them.
"""

from __future__ import annotations

import bisect
import json
import re
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from captionkit import _accel, _walk

if TYPE_CHECKING:
    from captionkit.models import Caption

__all__ = [
    "Duplicate",
    "Parsed",
    "canonical_order",
    "canonical_text",
    "dumps",
    "is_stored_canonical",
    "parse_exact",
    "parse_for_verify",
    "parse_lenient",
    "parse_tracked",
    "remember_text",
    "storable",
]

_ROOT_ORDER = _walk.ROOT_KEY_ORDER
_locate = _accel.speedups.locate if _accel.speedups is not None else None
# photo before medium, art_style after it: either branch (or an ambiguous mix) comes out canonical
_STYLE_ORDER = ("aesthetics", "lighting", "photo", "medium", "art_style", "color_palette")
_CD_ORDER = _walk.COMPOSITION_KEY_ORDER
_ELEMENT_ORDER = _walk.ELEMENT_KEY_ORDER_TEXT  # obj elements simply lack "text"


def parse_exact(text: str | bytes) -> Any:
    """Parse with ``json.loads`` semantics; crashes of the stdlib become ``ValueError``.

    Raises:
        json.JSONDecodeError: for malformed JSON (official error text).
        ValueError: for integers beyond the digit limit or nesting beyond the recursion limit.
    """
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError(str(exc)) from None


def parse_for_verify(text: str, exact: bool = False) -> tuple[Any, str | None, bool]:
    """Parse for verification. Returns ``(value, error_text_or_None, came_from_fast_path)``."""
    if not exact:
        try:
            return orjson.loads(text), None, True
        except orjson.JSONDecodeError:
            pass  # the stdlib decides, and words the error
    try:
        return json.loads(text), None, False
    except json.JSONDecodeError as exc:
        return None, str(exc), False
    except (ValueError, RecursionError) as exc:
        return None, str(exc), False


# A float as orjson writes it inside a container (a value after ':', ',' or '['). Prose that
# happens to match only costs a fallback to the stdlib, which is always right. (A character
# class first lets the regex engine skip ahead; an alternation with ^ would cost 4x.)
_FLOAT = re.compile(rb"[:,\[]-?[0-9]+[.eE]")


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A key that one object repeats; ``json.loads`` keeps the last value and drops the others.

    Attributes:
        path: where the object stands (keys and indices from the root).
        key: the repeated key.
        dropped: the earlier values, which ``json.loads`` discards, in order.
    """

    path: tuple[Any, ...]
    key: str
    dropped: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed text with what the parse noticed on the way.

    Attributes:
        value: the value, as ``json.loads`` reads it (the last of repeated keys wins).
        duplicates: every repeated key in ``value`` (empty for most texts).
        tolerated: what a lenient parse accepted beyond JSON, e.g. ``("trailing commas",)``;
            empty for a strict parse.
    """

    value: Any
    duplicates: tuple[Duplicate, ...] = ()
    tolerated: tuple[str, ...] = ()


def parse_tracked(text: str) -> Parsed:
    """Parse with ``json.loads`` semantics and record repeated keys.

    Raises:
        ValueError: malformed JSON (a :class:`json.JSONDecodeError` with the official text),
            an integer beyond the digit limit, or nesting too deep to parse.

    >>> parse_tracked('{"a":1,"a":2}')
    Parsed(value={'a': 2}, duplicates=(Duplicate(path=(), key='a', dropped=(1,)),), tolerated=())
    """
    repeats: dict[int, list[tuple[str, list[Any]]]] = {}

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            earlier: dict[str, list[Any]] = {}
            for i, (k, v) in enumerate(pairs):
                if any(k == later for later, _ in pairs[i + 1 :]):
                    earlier.setdefault(k, []).append(v)
            repeats[id(obj)] = list(earlier.items())
        return obj

    try:
        value = json.loads(text, object_pairs_hook=pairs_hook)
    except RecursionError:
        raise ValueError("nested too deeply to parse") from None
    if not repeats:
        return Parsed(value)
    found: list[Duplicate] = []
    # iterative walk: the value can be nested nearly as deep as the recursion limit
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            for k, dropped in repeats.get(id(node), ()):
                found.append(Duplicate(path, k, tuple(dropped)))
            stack.extend(((*path, k), v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in reversed(list(enumerate(node))))
    return Parsed(value, tuple(found))


# Lenient parsing works on tokens: a string is one token and is never edited inside.
_TOKEN = re.compile(
    r"""
    (?P<ws>[ \t\n\r]+)
    | (?P<dq>"(?:[^"\\]|\\.)*")
    | (?P<sq>'(?:[^'\\]|\\.)*')
    | (?P<punct>[{}\[\]:,])
    | (?P<num>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![0-9A-Za-z_.]))
    | (?P<word>-?[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE | re.DOTALL,
)
_WORDS = {"true": "true", "false": "false", "null": "null", "True": "true", "False": "false", "None": "null",
          "NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity"}
_PYTHON_WORDS = frozenset({"True", "False", "None"})
# A string written as a Python literal (single-quoted, or any string in a text with single
# quotes or Python's constants) is read with the escapes Python's repr writes, which JSON5
# and JavaScript read the same way: \\ \' \" \n \r \t \b \f \xHH \uHHHH \UHHHHHHHH. Any other
# escape (\/ \a \0 \101 \N{...}, a line continuation) reads differently in the languages a
# loose writer may have meant, so the text is refused rather than guessed at. (\uD83D\uDE00
# is read as JSON reads it, one character: Python's reading, two lone surrogates, is not
# text any caption can hold.)
_PY_ESCAPE = re.compile(r"""\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)|(")""", re.DOTALL)
_KEPT_ESCAPES = frozenset('\\"bfnrt')
_TOLERANCES = ("trailing commas", "single quotes", "Python constants")
_VALUE_END = frozenset({"dq", "sq", "num", "word", "}", "]"})


_JSON_ESCAPES = frozenset('"\\/bfnrtu')


def _beyond_json(token: str) -> bool:
    """Whether a double-quoted token holds an escape JSON lacks (\\x41, \\U0001F600): Python's."""
    return any(m.group(1) and m.group(1)[0] not in _JSON_ESCAPES for m in _PY_ESCAPE.finditer(token, 1, len(token) - 1))


def _python_string(token: str, at: int) -> str:
    """A Python string literal token as the JSON string token with the same characters."""

    def convert(m: re.Match[str]) -> str:
        if m.group(2):
            return '\\"'
        esc = m.group(1)
        if esc == "'":
            return "'"
        if esc in _KEPT_ESCAPES or esc[0] == "u" and len(esc) == 5:
            return "\\" + esc
        if esc[0] == "x" and len(esc) == 3:
            return "\\u00" + esc[1:]
        if esc[0] == "U" and len(esc) == 9 and int(esc[1:], 16) <= 0x10FFFF:
            code = int(esc[1:], 16)
            return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)
        raise ValueError(
            f"not JSON even read leniently: the string at character {at} holds the escape "
            f"\\{esc[:9]}, which JSON, JavaScript and Python read differently"
        )

    return '"' + _PY_ESCAPE.sub(convert, token[1:-1]) + '"'


def parse_lenient(text: str) -> Parsed:
    """Parse JSON written loosely: trailing commas, single quotes, Python's True/False/None.

    The text is split into tokens (strings, numbers, words, punctuation); only whole tokens
    change: a comma right before a closing bracket is dropped, a single-quoted string becomes
    the same string in double quotes, and Python's constants become JSON's. The result is then
    read by ``json.loads``, so the whole text must be one value: nothing is cut away, nothing
    is guessed, and the inside of a string is never edited. Anything else (comments, unquoted
    keys, Python sets, bytes or tuples, escapes that JSON and Python read differently) raises.

    Raises:
        ValueError: the text is not one value even read leniently (one line, with the place).

    >>> parse_lenient("{'a': [1, 2,], 'b': 'x, ]', 'c': None,}").value
    {'a': [1, 2], 'b': 'x, ]', 'c': None}
    >>> parse_lenient("{'a': [1, 2,], 'b': 'x, ]', 'c': None,}").tolerated
    ('trailing commas', 'single quotes', 'Python constants')
    >>> parse_lenient("{'a': {1, 2}}")
    Traceback (most recent call last):
    ...
    ValueError: not JSON even read leniently: Expecting property name enclosed in double quotes: line 1 column 8 (char 7)
    """
    tokens: list[tuple[str, str, int]] = []  # (kind, text, position)
    pos, n = 0, len(text)
    while pos < n:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"not JSON even read leniently: unexpected {text[pos]!r} at character {pos}")
        kind = m.lastgroup or ""
        tokens.append((m.group() if kind == "punct" else kind, m.group(), pos))
        pos = m.end()
    following = [""] * len(tokens)  # the kind of the next significant token after each one
    upcoming = ""
    for i in range(len(tokens) - 1, -1, -1):
        following[i] = upcoming
        if tokens[i][0] != "ws":
            upcoming = tokens[i][0]
    tolerated: list[str] = []
    out: list[str] = []
    starts: list[tuple[int, int]] = []  # (offset in the rewritten text, offset in ``text``) per token
    size = 0
    previous = ""  # the kind of the last significant token
    pythonish = any(k == "sq" or (k == "word" and t in _PYTHON_WORDS) for k, t, _ in tokens)
    for i, (kind, tok, at) in enumerate(tokens):
        if kind == "dq" and "\\" in tok and (pythonish or _beyond_json(tok)):
            tok = _python_string(tok, at)
        if kind == ",":
            if following[i] in ("}", "]") and previous in _VALUE_END:
                if "trailing commas" not in tolerated:
                    tolerated.append("trailing commas")
                continue
        elif kind == "sq":
            tok = _python_string(tok, at)
            if "single quotes" not in tolerated:
                tolerated.append("single quotes")
        elif kind == "word":
            if tok not in _WORDS:
                raise ValueError(f"not JSON even read leniently: unexpected word {tok!r} at character {at}")
            if tok in _PYTHON_WORDS and "Python constants" not in tolerated:
                tolerated.append("Python constants")
            tok = _WORDS[tok]
        out.append(tok)
        starts.append((size, at))
        size += len(tok)
        if kind != "ws":
            previous = kind
    try:
        parsed = parse_tracked("".join(out))
    except json.JSONDecodeError as exc:
        # point at the place in the caller's text, not in the rewritten one
        k = bisect.bisect_right(starts, (exc.pos, n)) - 1
        at = starts[k][1] + exc.pos - starts[k][0] if k >= 0 else 0
        line = text.count("\n", 0, at) + 1
        column = at - text.rfind("\n", 0, at)
        raise ValueError(f"not JSON even read leniently: {exc.msg}: line {line} column {column} (char {at})") from None
    except ValueError as exc:
        raise ValueError(f"not JSON even read leniently: {exc}") from None
    return Parsed(parsed.value, parsed.duplicates, tuple(t for t in _TOLERANCES if t in tolerated))


def _order_keys(obj: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    known = [k for k in order if k in obj]
    if len(known) == len(obj) and list(obj) == known:
        return obj
    out = {k: obj[k] for k in known}
    for k, v in obj.items():  # unknown keys keep their relative order, after the known ones
        if k not in out:
            out[k] = v
    return out


def canonical_order(data: Any) -> Any:
    """Return ``data`` with every caption object's keys in canonical order.

    Unknown keys are kept, after the known ones. Values are not changed.

    >>> canonical_order({"compositional_deconstruction": {"elements": [], "background": "b"}})
    {'compositional_deconstruction': {'background': 'b', 'elements': []}}
    """
    if not isinstance(data, dict):
        return data
    root = _order_keys(data, _ROOT_ORDER)
    if root is data:
        root = dict(data)
    sd = root.get("style_description")
    if isinstance(sd, dict):
        root["style_description"] = dict(_order_keys(sd, _STYLE_ORDER))
    cd = root.get("compositional_deconstruction")
    if isinstance(cd, dict):
        cd = dict(_order_keys(cd, _CD_ORDER))
        elements = cd.get("elements")
        if isinstance(elements, list):
            cd["elements"] = [
                dict(_order_keys(e, _ELEMENT_ORDER)) if isinstance(e, dict) else e for e in elements
            ]
        root["compositional_deconstruction"] = cd
    return root


# Canonical text already known for a caption object (set by loads() and the builder, kept
# while the object lives), with a weak reference to the object: captions are frozen, so the
# text can never go stale, and the entry leaves with the object. (A plain weak reference with
# a callback: weakref.finalize costs ten times as much, and loads() makes one per caption.)
_KNOWN_TEXT: dict[int, tuple[str, weakref.ref[Any]]] = {}


def remember_text(caption: Any, text: str) -> None:
    """Record ``text`` as the canonical form of the frozen ``caption`` object, for :func:`dumps`."""
    key = id(caption)

    def forget(ref: weakref.ref[Any]) -> None:
        entry = _KNOWN_TEXT.get(key)
        if entry is not None and entry[1] is ref:  # not the entry of a newer object with the same id
            del _KNOWN_TEXT[key]

    _KNOWN_TEXT[key] = (text, weakref.ref(caption, forget))


def _known_text(caption: Any) -> str | None:
    entry = _KNOWN_TEXT.get(id(caption))
    if entry is not None and entry[1]() is caption:
        return entry[0]
    return None


def _to_data(caption: Any) -> Any:
    to_dict = getattr(caption, "to_dict", None)
    if to_dict is not None:
        return to_dict()
    return canonical_order(caption)


def dumps(caption: Caption | dict[str, Any], *, pretty: bool = False) -> str:
    """Serialize a caption to its canonical JSON text.

    The compact form is exactly ``json.dumps(data, separators=(",", ":"),
    ensure_ascii=False)`` of the caption with keys in canonical order.
    ``pretty=True`` indents by two spaces for people (not for the model).

    >>> dumps({"compositional_deconstruction": {"elements": [], "background": "Café wall"}})
    '{"compositional_deconstruction":{"background":"Café wall","elements":[]}}'
    """
    if not pretty and type(caption) is not dict:
        known = _known_text(caption)
        if known is not None:
            return known
    data = _to_data(caption)
    if pretty:
        return json.dumps(data, ensure_ascii=False, indent=2)
    try:
        out = orjson.dumps(data)
    except (orjson.JSONEncodeError, TypeError):
        # lone surrogates, huge ints, non-JSON values: the stdlib decides
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    # a model's data holds only strings and integers, where orjson and the stdlib agree
    from_model = getattr(caption, "to_dict", None) is not None
    if not from_model and (b"null" in out or _FLOAT.search(out) is not None or out[0] in b"-0123456789"):
        # orjson writes NaN and infinities as null and floats in its own notation
        # (1e-5, 0.00001 where json.dumps writes 1e-05): the stdlib decides
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return out.decode("utf-8")


def canonical_clean(data: dict[str, Any]) -> str:
    """:func:`dumps` of caption data the official checks accept, read from JSON text.

    Such data holds only the schema's keys, strings, integers of the box range, lists and
    objects: no float, no null, nothing orjson writes otherwise than json.dumps. orjson then
    writes the canonical text itself, whatever the strings hold (a prose "f/2.0" sends
    :func:`dumps` of a plain dict to the stdlib, which may not know where a float could be).

    >>> canonical_clean({"compositional_deconstruction": {"elements": [], "background": "f/2.0"}})
    '{"compositional_deconstruction":{"background":"f/2.0","elements":[]}}'
    """
    try:
        return orjson.dumps(canonical_order(data)).decode("utf-8")
    except (orjson.JSONEncodeError, TypeError):  # a lone surrogate: the stdlib writes it
        return json.dumps(canonical_order(data), separators=(",", ":"), ensure_ascii=False)


# -- the canonical text as stored ------------------------------------------------
#
# The canonical text has no trailing newline (dumps, Caption.dumps and
# CaptionBuilder.dumps return it as is). A file or a stream holds it followed by
# at most one "\n": `fmt` writes one, and `fmt --check` and `verify` (CK408)
# accept the text with or without it. A lone surrogate (legal as a JSON escape,
# as the official parser reads it) cannot be stored as UTF-8, so a stored
# canonical text keeps it as its escape.

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    r"""``text`` with each lone surrogate written as its ``\uXXXX`` escape, so UTF-8 can hold it.

    Only JSON strings can hold a surrogate, and there an escape means the same
    character, so the text parses to the same value.

    >>> storable('{"a":"x\ud800"}')
    '{"a":"x\\ud800"}'
    """
    if text.isascii() or _LONE_SURROGATE.search(text) is None:
        return text
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def canonical_text(text: str, *, pretty: bool = False) -> str:
    """The canonical form of JSON text, as stored (what ``fmt`` writes, less the final newline).

    Raises:
        json.JSONDecodeError: for malformed JSON (official error text).
        ValueError: see :func:`parse_exact`.

    >>> canonical_text('{"compositional_deconstruction": {"elements": [], "background": "b"}}\\n')
    '{"compositional_deconstruction":{"background":"b","elements":[]}}'
    """
    if not pretty:
        body = text.removesuffix("\n")
        if _locate is not None and _locate(body) is True:
            # the C locator proved body the canonical form of a clean caption, surrogate-free:
            # dumps(json.loads(body)) is body itself, and storing it changes nothing
            return body
        try:
            quick = dumps(orjson.loads(body))
        except (ValueError, TypeError):
            pass
        else:
            # body is the canonical serialization of a value, so json.loads reads that
            # same value back from it, and the exact route below would give body too
            if quick == body:
                return body
    return storable(dumps(parse_exact(text), pretty=pretty))


def is_stored_canonical(text: str, canonical: str) -> bool:
    """Whether ``text`` is ``canonical`` as stored: itself or its :func:`storable` form, plus at most one ``"\\n"``.

    >>> is_stored_canonical('{"a":1}\\n', '{"a":1}'), is_stored_canonical('{"a":1}\\n\\n', '{"a":1}')
    (True, False)
    """
    body = text[:-1] if text.endswith("\n") else text
    return body == canonical or body == storable(canonical)
