"""The C estimate's window: stretches of ASCII cut and weighed 64 characters at a time.

The accelerator's ``estimate`` weighs ASCII letters, digits, spaces, line breaks, '_' and
punctuation by bit masks of whole stretches (``_speedups_tokens.h``, ``tk_window``), and
leaves everything else to its piece-by-piece loop. Both must give exactly what the regular
expression gives (``captionkit.tokens._py_weights``): the same hundredths, the same float sum
added in the same order, the same number of pieces. These tests aim at what the window
decides: where its stretches end (at every offset, in text stored with 1, 2 or 4 bytes a
character), what stops it, line breaks and indentation, contractions, weights other than the
shipped ones (with the window on and off), and the portable build without SSE2.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shlex
import shutil
import string
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import captionkit
from captionkit import _accel, tokens
from captionkit.strategies import caption_dicts

if _accel.speedups is None:
    pytest.skip("the C accelerator is not built, or is switched off (CAPTIONKIT_NO_EXTENSIONS)",
                allow_module_level=True)
speedups = _accel.speedups

_WEIGHT_NAMES = ("_PER_DIGIT", "_PER_WORD", "_PER_LONG_LETTER", "_PER_NON_ASCII_LETTER", "_PER_GLUED_WORD",
                 "_PER_NON_ASCII_SYMBOL", "_PER_PUNCT_RUN", "_LONG_WORD", "_PUNCT_GROUP")
SHIPPED = tuple(getattr(tokens, name) for name in _WEIGHT_NAMES)


def assert_same(estimate, text: str) -> None:
    """The accelerator's answers, with and without the float sum, are the regular expression's."""
    expected = tokens._py_weights(text)
    assert estimate(text, True) == expected, text
    assert estimate(text) == (expected[0], None, expected[2]), text


# -- texts -------------------------------------------------------------------------------------

_MARKS = "".join(c for c in map(chr, range(0x20, 0x80)) if not c.isalnum() and c not in " _'") + "\x7f"
_RUNS = st.one_of(
    st.text(alphabet=string.ascii_letters, min_size=1, max_size=70),
    st.text(alphabet=string.digits, min_size=1, max_size=4),
    st.text(alphabet=" ", min_size=1, max_size=70),
    st.text(alphabet=" \n\r", min_size=1, max_size=9),
    st.text(alphabet=_MARKS, min_size=1, max_size=70),
    st.text(alphabet="_", min_size=1, max_size=4),
    # contractions, and apostrophes that start none or cut one off a longer word
    st.sampled_from(["'s", "'S", "'t", "'re", "'VE", "'ll", "'d", "'M", "'", "''", "'x", "'rex", "'sa", "'lLa"]),
    # what canonical and pretty-printed captions are made of
    st.sampled_from(['":"', '","', '":["#', '],"', '."},{"', '"]},{"', ", ", ". ", ",\n  ", "\n    ", "{\n"]),
)
# each ends a window: not ASCII, or white space and control characters the window does not read
_STOPS = st.sampled_from(["\t", "\x0b", "\x0c", "\x1c", "\x00", "\x1b", "é", "Ⅻ", "²", "٣", "\xa0", "\x85",
                          "\u2028", "夜", "−", "🌧", "\ud800"])
# stored with 1, 2 or 4 bytes a character (the str's kind decides which loader reads it)
_WIDTHS = st.sampled_from(["", "\u0100", "\U0001f327"])


@st.composite
def window_texts(draw: st.DrawFn) -> str:
    """Runs of what the window reads, now and then something that ends it, in any storage width."""
    text = "".join(draw(st.lists(st.one_of(_RUNS, _RUNS, _RUNS, _RUNS, _STOPS), max_size=40)))
    wide = draw(_WIDTHS)
    if wide:
        at = draw(st.sampled_from([0, len(text), draw(st.integers(0, len(text)))]))
        text = text[:at] + wide + text[at:]
    return text


_LAYOUTS = {
    "canonical": lambda d: captionkit.dumps(d),
    "indent 2": lambda d: json.dumps(d, ensure_ascii=False, indent=2),
    "indent 4 CRLF": lambda d: json.dumps(d, ensure_ascii=False, indent=4).replace("\n", "\r\n"),
    "ASCII-escaped": lambda d: json.dumps(d, separators=(",", ":")),
}

# every kind of piece the window cuts, and a contraction that splits a word
SAMPLE = (
    '{"high_level_description":"A vendor\'s cart, they\'re near; it\'sa \'rex \'lls \'Q \'s.",'
    '"photo":"35mm, f/2.0","color_palette":["#153EB4","#1DAE91"],"bbox":[532,700,657,857],'
    '"note":"extraordinarily   long__words___and  7 spaces_ _9 ...!!! a.b .c x-y\n  "key": [\r\n    1,\n\n x\n'
    ' \n y "end"    '
)


# -- the shipped weights ---------------------------------------------------------------------------


def test_the_shipped_weights_turn_the_window_on():
    # the weights are whole hundredths, so a stretch weighs its counts times fixed weights
    assert speedups.configure_estimate(*SHIPPED) is True


@given(window_texts())
def test_window_texts_weigh_as_the_regular_expression(text):
    assert_same(speedups.estimate, text)


@given(caption_dicts(max_elements=6), st.sampled_from(sorted(_LAYOUTS)), _WIDTHS)
def test_captions_in_every_layout_weigh_as_the_regular_expression(data, layout, wide):
    assert_same(speedups.estimate, _LAYOUTS[layout](data) + wide)


def test_every_offset_prefix_suffix_and_stop():
    # the stretches end wherever the text makes them end: cut SAMPLE at every offset, and put each
    # kind of stop at every offset, in each storage width
    for wide in ("", "\u0100", "\U0001f327"):
        text = SAMPLE + wide
        for at in range(len(text) + 1):
            assert_same(speedups.estimate, text[:at])
            assert_same(speedups.estimate, text[at:])
            for stop in ("\t", "é", "'s", "'sa", "\n"):
                assert_same(speedups.estimate, text[:at] + stop + text[at:])


def test_long_runs_and_the_text_end():
    # runs as long as a window and longer, ending exactly at 63, 64 and 65 characters
    for length in (1, 2, 15, 16, 17, 62, 63, 64, 65, 66, 127, 128, 129, 200):
        for unit in ("a", "7", " ", "-", "_", "\n", "\r\n", " \n", "ab ", "a.", ". ", "x'", "'s"):
            for wide in ("", "\u0100", "\U0001f327"):
                text = (unit * length)[:length]
                assert_same(speedups.estimate, text + wide)
                assert_same(speedups.estimate, wide + text)
                assert_same(speedups.estimate, "word " + text + " 9")


def test_the_class_table_is_filled_for_the_first_wide_text():
    # the table of every BMP code point's classes is filled when estimate() first meets a str that
    # is not Latin-1: in a fresh interpreter, that first text is weighed right (letters, digits,
    # marks and spaces beyond Latin-1, next to ASCII the window reads)
    code = ("from captionkit import _accel, tokens\n"
            "text = 'Night market \u591c\u5e02 \u0663\u2160 \u2014 \u3000\u00e9t\u00e9 ' * 3\n"
            "print(_accel.speedups.estimate(text, True) == tokens._py_weights(text))")
    run = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert run.stdout.split() == ["True"], run.stderr


# -- other weights -------------------------------------------------------------------------------


@contextlib.contextmanager
def weights(*values):
    """tokens' weights and the accelerator's set to values, both put back after; yields whether
    the accelerator turned its window on."""
    saved = {name: getattr(tokens, name) for name in (*_WEIGHT_NAMES, "_INCREMENTS", "_HUNDREDTHS")}
    try:
        for name, value in zip(_WEIGHT_NAMES, values):
            setattr(tokens, name, value)
        tokens._INCREMENTS = tokens._PieceCache(tokens._increments)
        tokens._HUNDREDTHS = tokens._PieceCache(tokens._hundredths)
        yield speedups.configure_estimate(*values)
    finally:
        for name, value in saved.items():
            setattr(tokens, name, value)
        speedups.configure_estimate(*SHIPPED)


# (weights, whether they let the window weigh by counts)
OTHER_WEIGHTS = [
    ((0.5, 2.0, 0.25, 0.3, 0.75, 0.4, 1.25, 2, 2), True),  # whole hundredths, other lengths
    ((1.0, 1.08, 0.06, 0.82, 1.6, 0.62, 0.7, 0, 1), True),  # every letter long, one run per character
    ((3.0, 0.01, 1.0, 0.82, 0.0, 0.62, 0.33, 32, 32), True),  # the longest the window counts
    ((1.0, 1.08, 0.06, 0.82, 1.6, 0.62, 0.7, 33, 3), False),  # a word length past what it counts
    ((1.0, 1.08, 0.06, 0.82, 1.6, 0.62, 0.7, 6, 40), False),  # a group past what it counts
    ((1.0, 1.08, 0.005, 0.82, 1.6, 0.62, 0.7, 6, 3), False),  # half hundredths: rounding is not linear
    ((1.0, 1.08, 0.06, 0.82, 1.6, 0.62, 0.355, 6, 3), False),  # runs of 35.5 hundredths: not linear
    ((1.0, 1.084, 0.06, 0.82, 1.6, 0.62, 0.7, 6, 3), True),  # 108.4 hundredths, rounded alike for every length
]


@pytest.mark.parametrize(("values", "window"), OTHER_WEIGHTS)
def test_other_weights_on_fixed_texts(values, window):
    with weights(*values) as on:
        assert on is window
        for text in (SAMPLE, SAMPLE + "\u0100", "a" * 70 + " " + "-" * 70 + "_" * 65, "'s'sa'rex x" * 9):
            assert_same(speedups.estimate, text)
    assert_same(speedups.estimate, SAMPLE)  # and the shipped weights are back


@given(st.sampled_from(OTHER_WEIGHTS), window_texts())
def test_other_weights_on_window_texts(config, text):
    values, window = config
    with weights(*values) as on:
        assert on is window
        assert_same(speedups.estimate, text)


# -- the portable build --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def portable(tmp_path_factory):
    """The accelerator compiled with -DTK_NO_SIMD: the window's masks built eight characters at a time
    in plain C, as on a machine without SSE2."""
    source = Path(captionkit.__file__).parent / "_speedups.c"
    ldshared = sysconfig.get_config_var("LDSHARED")
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    if os.environ.get("CAPTIONKIT_NO_EXTENSIONS") or not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("built without the C accelerator (no compiler, or CAPTIONKIT_NO_EXTENSIONS set)")
    if not source.exists() or not ldshared or not suffix or sys.platform == "win32":
        pytest.skip("no C source next to the package, or a platform the build hook does not compile on")
    target = tmp_path_factory.mktemp("portable") / f"_speedups{suffix}"
    command = [*shlex.split(ldshared), "-O2", "-fPIC", "-ffp-contract=off", "-DTK_NO_SIMD",
               f"-I{sysconfig.get_paths()['include']}", str(source), "-o", str(target)]
    built = subprocess.run(command, check=False, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    spec = importlib.util.spec_from_file_location("_speedups", target)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module is not speedups
    assert module.configure_estimate(*SHIPPED) is True
    return module


@given(window_texts())
def test_portable_build_weighs_as_the_regular_expression(portable, text):
    assert_same(portable.estimate, text)


def test_portable_build_at_every_offset(portable):
    for wide in ("", "\u0100", "\U0001f327"):
        text = SAMPLE + wide
        for at in range(len(text) + 1):
            assert_same(portable.estimate, text[:at])
            assert_same(portable.estimate, text[at:])
            assert_same(portable.estimate, text[:at] + "é" + text[at:])
