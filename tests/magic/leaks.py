"""An independent leak oracle and hypothesis strategies for canary keys and their echoes.

The oracle decodes outputs with the standard library only (``unicode_escape``, percent and
HTML unescaping, up to three layers, in every order), so it does not share code with the
redactor it checks.
"""

from __future__ import annotations

import codecs
import functools
import html
import json
import pickle
import traceback
import urllib.parse
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

import captionkit

#: A realistic key alphabet: letters, digits and the punctuation of url-safe base64 and OpenAI keys.
KEY_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
#: Every printable ASCII character but the space: what a header can carry.
PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))
PARTIAL = 8


def _py_unescape(text: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "invalid escape sequence": expected here
        return codecs.decode(text.encode("latin-1", "backslashreplace"), "unicode_escape", errors="ignore")


_DECODERS = (_py_unescape, urllib.parse.unquote, html.unescape)


def decodings(text: str, levels: int = 3) -> set[str]:
    """``text`` and what it becomes under every sequence of up to ``levels`` decoders."""
    seen = {text}
    frontier = [text]
    for _ in range(levels):
        nxt = []
        for item in frontier:
            for decode in _DECODERS:
                try:
                    out = decode(item)
                except Exception:
                    continue
                if out not in seen:
                    seen.add(out)
                    nxt.append(out)
        frontier = nxt
    return seen


def windows(key: str) -> set[str]:
    """Every piece of ``key`` that must never show: all runs of 8 characters (the whole key if
    shorter), but for runs that are ordinary words (ASCII letters of one case), which captionkit
    documents it does not redact on their own."""
    width = min(PARTIAL, len(key))
    runs = {key[i : i + width] for i in range(len(key) - width + 1)}
    return {r for r in runs if not (r.isascii() and r.isalpha() and (r.islower() or r.isupper()))} | {key}


#: Canary prefixes: pieces of these are always checked, even though they are in the sources.
PREFIXES = ("sk-canary-", "sk-or-v1-", "ck_")


@functools.lru_cache(maxsize=1)
def vocabulary() -> str:
    """The text of captionkit's and these tests' sources, canary prefixes and constants blanked.

    Hypothesis builds strings from constants it finds in the code under test, so a generated
    key can share a run of 8 characters with a field name such as ``transport_attempts``, which
    then shows in every ``repr`` without having leaked. Pieces found here are not evidence
    of a leak and are not counted; the canaries' own prefixes and the tests' fixed canary are
    blanked first, so pieces of those are always checked.
    """
    roots = [Path(captionkit.__file__).parent, Path(__file__).parent]
    texts = [p.read_text(encoding="utf-8", errors="replace") for root in roots for p in sorted(root.rglob("*"))
             if p.suffix in (".py", ".txt", ".md", ".json") and p.is_file()]
    text = "\n".join(texts)
    for fixed in ("sk-canary-7f3a9c1e5b2d4f60", *PREFIXES):  # longest first
        text = text.replace(fixed, " ")
    return text


@functools.lru_cache(maxsize=4096)
def _common(piece: str) -> bool:
    return piece in vocabulary()


def leaks(key: str, outputs: Iterable[tuple[str, str]], *, strict: bool = False) -> list[str]:
    """The names of the outputs that hold a piece of ``key`` in any decoded form.

    Pieces that are also in :func:`vocabulary` are not counted unless ``strict``.
    """
    pieces = windows(key)
    found = []
    for name, text in outputs:
        for form in decodings(text):
            hit = next((p for p in pieces if p in form and (strict or not _common(p))), None)
            if hit is not None:
                at = form.index(hit)
                found.append(f"{name}: ...{form[max(0, at - 60): at + 60]!r}...")
                break
    return found


def exception_outputs(name: str, exc: BaseException) -> list[tuple[str, str]]:
    """Every way an exception can be shown: str, repr, args, attributes, pickle, traceback."""
    out = [
        (f"{name}.str", str(exc)),
        (f"{name}.repr", repr(exc)),
        (f"{name}.args", repr(exc.args)),
        (f"{name}.vars", repr(vars(exc)) if hasattr(exc, "__dict__") else ""),
        (f"{name}.traceback", "".join(traceback.format_exception(exc))),
    ]
    try:
        out.append((f"{name}.pickle", pickle.dumps(exc).decode("latin-1")))
        again = pickle.loads(pickle.dumps(exc))
        out.append((f"{name}.unpickled", repr(again) + repr(getattr(again, "__dict__", {}))))
    except Exception as problem:  # an exception that cannot be pickled cannot leak that way
        out.append((f"{name}.pickle-error", repr(problem)))
    for attr in ("text", "raw", "report", "diagnostics", "body", "request_id", "code"):
        value = getattr(exc, attr, None)
        if value is not None:
            out.append((f"{name}.{attr}", str(value) + repr(value)))
    return out


def result_outputs(name: str, result: Any) -> list[tuple[str, str]]:
    out = [
        (f"{name}.repr", repr(result)),
        (f"{name}.str", str(result)),
        (f"{name}.to_dict", json.dumps(result.to_dict(), ensure_ascii=False)),
        (f"{name}.summary", result.summary()),
        (f"{name}.caption", repr(result.caption.to_dict())),
    ]
    out.append((f"{name}.pickle", pickle.dumps(result).decode("latin-1")))
    return out


@st.composite
def canaries(draw: Any, *, alphabet: str = KEY_ALPHABET, min_size: int = 16, max_size: int = 64) -> str:
    """Canary keys: a distinctive prefix and a random body."""
    prefix = draw(st.sampled_from([*PREFIXES, ""]))
    body = draw(st.text(alphabet=alphabet, min_size=min_size, max_size=max_size))
    return prefix + body


@st.composite
def fragments(draw: Any, key: str) -> str:
    """A piece of ``key`` a server might echo: the whole key, a prefix, a suffix or a middle run (>= 8)."""
    width = min(PARTIAL, len(key))
    size = draw(st.integers(width, len(key)))
    start = draw(st.integers(0, len(key) - size))
    return key[start : start + size]


def _json_u(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


def _mixed_u(text: str) -> str:
    return "".join(f"\\u{ord(c):04X}" if i % 2 else c for i, c in enumerate(text))


def _percent(text: str) -> str:
    return "".join(f"%{ord(c):02X}" for c in text)


def _html(text: str) -> str:
    return "".join(f"&#{ord(c)};" for c in text)


#: How an echoed piece is written into a reply (all ASCII, so it fits a header or status line).
ENCODINGS = {
    "raw": lambda t: t,
    "repr": lambda t: repr(t),
    "json": lambda t: json.dumps(t)[1:-1],
    "json-u": _json_u,
    "mixed-u": _mixed_u,
    "double-u": lambda t: _json_u(t).replace("\\", "\\\\"),
    "percent": _percent,
    "percent-lower": lambda t: _percent(t).lower(),
    "html": _html,
}


@st.composite
def echoes(draw: Any, key: str) -> str:
    """An echo of a piece of ``key`` in one of :data:`ENCODINGS`, maybe inside some words."""
    piece = draw(fragments(key))
    form = ENCODINGS[draw(st.sampled_from(sorted(ENCODINGS)))](piece)
    before = draw(st.sampled_from(["", "invalid key ", "key=", "Bearer ", "(", "sk "]))
    after = draw(st.sampled_from(["", " rejected", ".", "'", "\\n"]))
    return before + form + after
