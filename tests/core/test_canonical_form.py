"""One canonical form per mode, and one trailing-newline policy for dumps, fmt and verify.

The policy (README, "Canonical form"): the canonical text has no trailing
newline; a file holds it followed by at most one "\\n". ``fmt`` writes one,
``fmt --check`` and ``verify`` (CK408) accept the text with or without it, and
nothing else. A lone surrogate is stored as its escape.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import captionkit
from captionkit._json import canonical_text, dumps, is_stored_canonical, parse_exact, storable
from captionkit.builder import CaptionBuilder
from captionkit.cli import app
from captionkit.strategies import caption_dicts, json_values, mutants

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def _ck408(text: str) -> bool:
    return "CK408" in captionkit.verify(text, lints=False, tokens=False).codes()


# -- fmt --pretty output passes fmt --check --pretty (the reproducer) --------------


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_fmt_pretty_output_passes_fmt_check_pretty(tmp_path, example):
    path = tmp_path / example.name
    path.write_bytes(example.read_bytes())
    assert run("fmt", "--pretty", str(path)).exit_code == 0
    once = path.read_bytes()
    assert run("fmt", "--check", "--pretty", str(path)).exit_code == 0
    assert run("fmt", "--pretty", str(path)).exit_code == 0 and path.read_bytes() == once
    assert run("fmt", "--check", str(path)).exit_code == 1  # the other mode's form is another form
    assert run("fmt", str(path)).exit_code == 0
    assert run("fmt", "--check", str(path)).exit_code == 0 and not _ck408(path.read_text(encoding="utf-8"))


def test_fmt_on_a_lone_surrogate_writes_its_escape_and_stays_stable(tmp_path):
    # used to end in a UnicodeEncodeError traceback
    path = tmp_path / "s.json"
    path.write_text('{"compositional_deconstruction": {"background": "a\\ud800b", "elements": []}}', encoding="utf-8")
    for mode in (["--pretty"], []):
        r = run("fmt", *mode, str(path))
        assert r.exit_code == 0 and "Traceback" not in r.output, r.output
        assert parse_exact(path.read_text(encoding="utf-8"))["compositional_deconstruction"]["background"] == "a\ud800b"
        assert run("fmt", "--check", *mode, str(path)).exit_code == 0
    assert path.read_text(encoding="utf-8") == '{"compositional_deconstruction":{"background":"a\\ud800b","elements":[]}}\n'
    assert not _ck408(path.read_text(encoding="utf-8"))


# -- the trailing-newline policy, the same for dumps, builder, fmt and verify -------------


@given(caption_dicts(max_elements=3), st.sampled_from(["", "\n", "\n\n", " ", "\r\n", "\t\n"]))
def test_fmt_check_and_verify_agree_on_every_ending(caption, ending):
    text = dumps(caption) + ending
    accepted = ending in ("", "\n")
    assert is_stored_canonical(text, dumps(caption)) is accepted
    assert _ck408(text) is not accepted
    built = captionkit.loads(dumps(caption))
    assert built.dumps() == dumps(caption) and not built.dumps().endswith("\n")


def test_fmt_keeps_infinity_and_nan(tmp_path):
    # orjson writes them as null: fmt used to turn Infinity into null
    path = tmp_path / "a.json"
    path.write_text('{"compositional_deconstruction":{"background":"b","elements":[1e400, NaN, -Infinity]}}\n')
    assert run("fmt", str(path)).exit_code == 0
    assert path.read_text() == '{"compositional_deconstruction":{"background":"b","elements":[Infinity,NaN,-Infinity]}}\n'


@pytest.mark.parametrize("ending", ["", "\n", "\n\n", "\r\n"])
def test_cli_fmt_check_and_verify_agree_on_file_endings(tmp_path, ending):
    good = CaptionBuilder().background("A white wall.").obj("A red ball on the floor.", box=[600, 400, 800, 600])
    body = good.dumps()
    assert not body.endswith("\n")
    path = tmp_path / "a.json"
    path.write_bytes((body + ending).encode("utf-8"))
    check = run("fmt", "--check", str(path))
    report = run("verify", "--format", "json", str(path))
    codes = [d["code"] for d in json.loads(report.stdout)[0]["diagnostics"]]
    # "\r\n" is read as "\n" (universal newlines, like the official verify_file)
    accepted = ending in ("", "\n", "\r\n")
    assert (check.exit_code == 0) is accepted and ("CK408" in codes) is not accepted
    run("fmt", str(path))
    assert path.read_bytes() == (body + ("\n" if ending == "\n\n" else ending)).encode("utf-8")


# -- fmt is idempotent in both modes ---------------------------------------------------------


@given(st.one_of(json_values(), caption_dicts(max_elements=3), mutants()), st.booleans())
def test_fmt_is_idempotent_in_both_modes(value, pretty):
    text = json.dumps(value, ensure_ascii=False, indent=2 if pretty else None)
    once = canonical_text(text, pretty=pretty)
    assert canonical_text(once, pretty=pretty) == once
    assert canonical_text(once + "\n", pretty=pretty) == once
    # the same value, keys aside (compared as stdlib text, so NaN equals NaN): Infinity and NaN are kept
    assert json.dumps(parse_exact(once), sort_keys=True) == json.dumps(parse_exact(text), sort_keys=True)
    once.encode("utf-8")  # storable: a file can hold it


@given(st.text(max_size=12), st.booleans())
def test_fmt_is_idempotent_on_strings_with_any_escape(content, pretty):
    # ensure_ascii writes every non-ASCII character, lone surrogates included, as an escape
    text = json.dumps({"compositional_deconstruction": {"background": content, "elements": []}}, ensure_ascii=True)
    once = canonical_text(text, pretty=pretty)
    assert canonical_text(once, pretty=pretty) == once and parse_exact(once) == parse_exact(text)


@given(st.lists(st.sampled_from(["\\ud800", "\\udfff", "\\ud83d", "\\ude00", "a", "é", "\\\\"]), max_size=6))
def test_storable_keeps_the_value_read_from_any_text(parts):
    # values come from JSON text, where the parser pairs a high and a low surrogate escape
    value = parse_exact('{"compositional_deconstruction":{"background":"' + "".join(parts) + '","elements":[]}}')
    stored = storable(dumps(value))
    stored.encode("utf-8")
    assert parse_exact(stored) == value and storable(stored) == stored


def test_fmt_cli_is_idempotent_in_both_modes(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(json.dumps(json.loads(p.read_text()), indent=1).replace("\n", "")
                              for p in sorted(EXAMPLES.glob("*.json"))) + "\n", encoding="utf-8")
    for pretty in ([], ["--pretty"]):  # --pretty does not apply to JSONL lines
        run("fmt", *pretty, str(path))
        once = path.read_bytes()
        assert run("fmt", "--check", *pretty, str(path)).exit_code == 0
        run("fmt", *pretty, str(path))
        assert path.read_bytes() == once


def test_fmt_stdin_prints_the_canonical_text_even_when_unchanged():
    body = CaptionBuilder().background("A wall.").dumps()
    for given_text in (body, body + "\n", json.dumps(json.loads(body), indent=2)):
        r = run("fmt", "-", input=given_text)
        assert r.exit_code == 0 and r.stdout == body + "\n"
    assert run("fmt", "--check", "-", input=body).exit_code == 0
