"""The token estimate as it was first written, one character at a time: the reference for the fast one.

Kept in the tests only. ``captionkit.tokens.estimate`` must return the same float, bit for bit.
"""

from __future__ import annotations

import math

from captionkit.tokens import (
    _PER_DIGIT,
    _PER_GLUED_WORD,
    _PER_LONG_LETTER,
    _PER_NON_ASCII_LETTER,
    _PER_NON_ASCII_SYMBOL,
    _PER_PUNCT_RUN,
    _PER_WORD,
    _PIECES,
)


def reference_estimate(text: str) -> float:
    total = 0.0
    for match in _PIECES.finditer(text):
        piece = match.group()
        if piece.isdigit():
            total += _PER_DIGIT
            continue
        letters = sum(1 for c in piece if c.isalpha())
        if letters:
            ascii_letters = sum(1 for c in piece if c.isalpha() and c.isascii())
            if ascii_letters:
                total += _PER_WORD + _PER_LONG_LETTER * max(0, ascii_letters - 6)
            total += _PER_NON_ASCII_LETTER * (letters - ascii_letters)
            if len(piece.lstrip(" ")) > letters:
                total += _PER_GLUED_WORD
            continue
        non_ascii = sum(1 for c in piece if not c.isascii())
        rest = len(piece) - non_ascii
        total += _PER_NON_ASCII_SYMBOL * non_ascii + _PER_PUNCT_RUN * math.ceil(rest / 3)
    return total


def reference_count(text: str) -> tuple[int, int]:
    """``(count, upper_bound)`` of the estimate, as first written (wrapper included)."""
    from captionkit.tokens import ESTIMATE_MARGIN, WRAPPER_TOKENS

    raw = reference_estimate(text)
    count = round(raw) + WRAPPER_TOKENS
    hard_cap = len(text.encode("utf-8", "surrogatepass")) + WRAPPER_TOKENS
    bound = min(hard_cap, math.ceil(raw * (1 + ESTIMATE_MARGIN)) + WRAPPER_TOKENS)
    return min(count, bound), bound
