"""The one reader of caption sources: JSONL split on "\\n" only, records, folders, stdin.

Every command and API reads through ``captionkit._sources``; these tests drive it
directly, through ``render.iter_items`` and through the real CLI, and check that
they agree.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from captionkit import _sources
from captionkit._json import dumps
from captionkit._sources import Source, iter_sources, read_text, record_caption, split_lines
from captionkit.cli import app
from captionkit.render.batch import iter_items
from captionkit.strategies import caption_dicts

runner = CliRunner()

# A valid caption whose text holds a literal U+2028 (and friends): str.splitlines would cut it in two.
BREAKERS = "\u2028\u2029\u0085\x0b\x0c\x1c\x1d\x1e"
CAPTION = {
    "high_level_description": "A shop sign that reads OPEN\u2028LATE in red neon over a dark door.",
    "compositional_deconstruction": {
        "background": "A dark brick wall\u2029at night.",
        "elements": [
            {"type": "text", "bbox": [100, 200, 300, 800], "text": "OPEN\u2028LATE",
             "desc": "Red neon tubes bent into two lines of capital letters, mounted on a black metal frame above the "
                     "door, glowing softly and casting a pink haze on the rough brick\u0085wall around them."},
        ],
    },
}
LINE = json.dumps(CAPTION, ensure_ascii=False, separators=(",", ":"))
assert all(ch in LINE for ch in "\u2028\u2029\u0085")


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


# -- the U+2028 regression, everywhere -------------------------------------------------


def test_split_lines_breaks_on_newline_only():
    raw = [f'"a{ch}b"' for ch in BREAKERS] + ['{"lone":\r1}']
    text = "\n".join(raw[:-1]) + "\n" + raw[-1] + "\r\n \t\n"
    assert list(split_lines(text)) == list(enumerate(raw, start=1))
    assert json.loads(raw[0]) == "a\u2028b"  # a JSON line; the control characters make invalid ones, still one each


def test_u2028_jsonl_line_is_one_caption_through_the_api(tmp_path):
    path = tmp_path / "signs.jsonl"
    path.write_text(LINE + "\n" + LINE + "\n", encoding="utf-8")
    sources = list(iter_sources([path]))
    assert [(s.line, s.text) for s in sources] == [(1, LINE), (2, LINE)]
    items = iter_items(path)  # render reads the same way
    assert [(it.name, it.caption, it.error) for it in items] == [
        ("signs-00001", LINE, None), ("signs-00002", LINE, None)]


def test_u2028_jsonl_line_is_one_caption_through_the_cli(tmp_path):
    path = tmp_path / "signs.jsonl"
    path.write_text(LINE + "\n", encoding="utf-8")
    r = run("verify", str(path))
    assert r.exit_code == 0, r.output
    assert r.stderr.strip().endswith("checked 1 caption(s): clean")
    assert run("fmt", "--check", str(path)).exit_code == 0
    fixed = run("fix", "--stdout", str(path))
    assert fixed.exit_code == 0 and fixed.stdout == LINE + "\n"


def test_u2028_in_an_expand_batch_idea_is_one_idea(tmp_path):
    from captionkit.cli.magic import _read_ideas

    ideas = tmp_path / "ideas.jsonl"
    ideas.write_text(json.dumps({"id": "s", "idea": "a sign\u2028that reads OPEN"}, ensure_ascii=False) + "\n",
                     encoding="utf-8")
    assert _read_ideas(ideas) == [{"id": "s", "idea": "a sign\u2028that reads OPEN"}]


def test_rewriting_a_jsonl_line_keeps_the_others_byte_for_byte(tmp_path):
    path = tmp_path / "mixed.jsonl"
    messy = json.dumps(CAPTION, ensure_ascii=False, indent=None)  # default separators: not canonical
    original = LINE + "\r\n" + messy + "\r\n\n" + LINE + "\n"
    path.write_bytes(original.encode("utf-8"))
    r = run("fmt", str(path))
    assert r.exit_code == 0, r.output
    assert path.read_bytes().decode("utf-8") == LINE + "\r\n" + LINE + "\r\n\n" + LINE + "\n"
    assert run("fmt", "--check", str(path)).exit_code == 0


@given(st.lists(caption_dicts(max_elements=3), min_size=1, max_size=6), st.sampled_from(["\n", "\r\n"]),
       st.lists(st.booleans(), min_size=6, max_size=6))
def test_jsonl_of_any_captions_reads_back_identically(captions, newline, blanks):
    # arbitrary unicode: the strategies' prose includes st.text(), so every separator character can occur
    lines = []
    for caption, blank in zip(captions, blanks):
        lines.append(json.dumps(caption, ensure_ascii=False, separators=(",", ":")))
        if blank:
            lines.append(" ")
    text = newline.join(lines) + newline
    sources = list(_sources.iter_text("c.jsonl", text))
    assert [json.loads(s.text) for s in sources] == captions
    assert all(not s.record and s.problem is None for s in sources)


@given(st.lists(st.text(min_size=0, max_size=20), min_size=1, max_size=8))
def test_jsonl_of_any_strings_reads_back_identically_from_a_file(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("j") / "values.jsonl"
    path.write_text("".join(json.dumps(v, ensure_ascii=False) + "\n" for v in values), encoding="utf-8")
    sources = list(iter_sources([path]))
    assert [json.loads(s.text) for s in sources] == values
    assert [s.line for s in sources] == list(range(1, len(values) + 1))
    assert [it.caption for it in iter_items(path)] == [s.text for s in sources]


# -- records written by `captionkit expand --batch` ------------------------------------


def _records() -> str:
    ok = {"id": "poster/1", "ok": True, "caption": CAPTION, "aspect_ratio": "4:1", "backend": "b"}
    auto = {"id": "k2", "ok": True, "caption": CAPTION, "aspect_ratio": None}
    bad = {"id": "k3", "ok": False, "error": {"type": "BadRequestError", "message": "HTTP 400: rejected"}}
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in (ok, auto, bad))


def test_records_are_read_as_their_captions(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(_records(), encoding="utf-8")
    ok, auto, bad = iter_sources([path])
    assert (ok.record, ok.id, ok.aspect, ok.text) == (True, "poster/1", "4:1", dumps(CAPTION))
    assert (auto.id, auto.aspect, json.loads(auto.text)) == ("k2", None, CAPTION)
    assert bad.record and bad.text is None and "expand failed (HTTP 400: rejected)" in bad.problem
    items = iter_items(path)
    assert [(it.name, it.size) for it in items] == [("poster_1", (1600, 400)), ("k2", None), ("k3", None)]
    assert items[0].caption == dumps(CAPTION) and items[2].error.startswith(f"{path}:3: record 'k3'")


def test_verify_reads_records_and_reports_failed_ones(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(_records(), encoding="utf-8")
    r = run("verify", str(path))
    assert r.exit_code == 1  # the failed expansion is a finding
    assert f"error: {path}:3: record 'k3' has no caption" in r.stderr
    assert "checked 2 caption(s): clean; 1 record(s) without a caption" in r.stderr and r.stdout == ""


def test_fmt_and_fix_keep_canonical_records_whole(tmp_path):
    # fmt and fix work on the caption inside a record and write the record back with its other
    # fields; canonical captions leave the file as it was, and a failed record is left unchanged
    path = tmp_path / "out.jsonl"
    path.write_text(_records(), encoding="utf-8")
    before = path.read_bytes()
    for args in (["fmt"], ["fmt", "--check"], ["fix"]):
        r = run(*args, str(path))
        assert r.exit_code == (1 if args == ["fix"] else 0), r.output  # fix: the failed idea remains
        assert "record 'k3' has no caption: expand failed (HTTP 400: rejected); left unchanged" in r.stderr
    assert path.read_bytes() == before


def test_record_detection_is_strict():
    assert record_caption('{"id": 1, "ok": true, "caption": {}}') is not None
    assert record_caption('{"id": 1, "ok": true}') is None  # no caption
    assert record_caption('{"id": 1, "ok": "yes", "caption": {}}') is None
    assert record_caption('{"id": 1, "ok": true, "caption": {}') is None  # broken JSON: a caption line
    assert record_caption(' {"compositional_deconstruction": {"id": 1}}') is None


# -- files, folders, stdin, errors -------------------------------------------------------


def test_folder_recurses_sorted_and_skips_hidden(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".git").mkdir()
    for rel in ("b/z.json", "a.jsonl", "b/y.txt", ".git/h.json", ".hidden.json"):
        (tmp_path / rel).write_text(LINE, encoding="utf-8")
    assert [s.name for s in iter_sources([tmp_path])] == [str(tmp_path / "a.jsonl"), str(tmp_path / "b/z.json")]


def test_whole_files_get_universal_newlines_like_the_official_reader(tmp_path):
    path = tmp_path / "a.json"
    path.write_bytes(b'{"a":\r\n1}\r')
    assert [s.text for s in iter_sources([path])] == ['{"a":\n1}\n']
    assert read_text(path) == (str(path), '{"a":\n1}\n')


@pytest.mark.parametrize(("content", "needle"), [(b"\xff{}", "not valid UTF-8 (byte 0"), (None, "no such file")])
def test_unreadable_file_is_one_source_with_its_problem(tmp_path, content, needle):
    path = tmp_path / "x.jsonl"
    if content is not None:
        path.write_bytes(content)
    (src,) = iter_sources([path])
    assert src == Source(str(path), None, path, problem=src.problem) and needle in src.problem
    with pytest.raises(_sources.SourceError, match=re.escape(needle)):
        read_text(path)


def test_stdin_is_one_caption(monkeypatch):
    r = run("verify", "-", input=LINE + "\n")
    assert r.exit_code == 0 and "<stdin>: ~" in r.stderr


# -- resuming: the records an earlier run wrote, read by the one reader -----------------------


@given(st.lists(st.tuples(st.text(min_size=1, max_size=6), st.booleans()), max_size=8),
       st.sampled_from(["", '{"id":"x","ok":tr', "  "]), st.booleans(), st.sampled_from(["\n", "\r\n"]))
def test_resume_records_reads_what_an_interrupted_run_left(tmp_path_factory, records, tail, retry_failed, newline):
    path = tmp_path_factory.mktemp("resume") / "out.jsonl"
    lines = [json.dumps({"id": item_id, "ok": ok, "caption" if ok else "error": {}}, ensure_ascii=False)
             for item_id, ok in records]
    path.write_bytes(("".join(line + newline for line in lines) + tail).encode("utf-8"))
    found = _sources.resume_records(path, retry_failed=retry_failed)
    kept = [(i, ok) for i, ok in records if ok or not retry_failed]
    assert found.done == frozenset(i for i, _ in kept)
    assert found.failed == tuple(i for i, ok in kept if not ok)
    assert found.torn is bool(tail.strip())
    after = path.read_bytes().decode("utf-8")
    if tail.strip() or (retry_failed and any(not ok for _, ok in records)):
        # rewritten: the kept records, each on its own line, and nothing torn
        assert [json.loads(line) for line in after.split("\n") if line] == [json.loads(line) for line, (_, ok)
                                                                     in zip(lines, records) if ok or not retry_failed]
    else:
        assert after == "".join(line + newline for line in lines) + tail  # untouched


def test_resume_records_names_a_line_that_is_not_a_record(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"id":"a","ok":true}\n{"no":"id"}\n', encoding="utf-8")
    with pytest.raises(_sources.SourceError, match=r"out.jsonl:2: no 'id'; is this the output of an earlier batch\?"):
        _sources.resume_records(path, retry_failed=False, what="an earlier batch")
    assert _sources.resume_records(tmp_path / "missing.jsonl", retry_failed=True).done == frozenset()


# -- a JSONL file read line by line gives what decoding it whole and cutting it gives ----------------

from hypothesis import given as _given  # noqa: E402
from hypothesis import strategies as _st  # noqa: E402

_PIECES = _st.sampled_from([b"\n", b"\r\n", b"\r", b" ", b"\t", b"[]", b'{"a":1}', "é夜🌧\u2028".encode(), b"\xff",
                            b"\xed\xa0\x80", "\ufeff".encode(), b'{"id": "k", "ok": true, "caption": {"b": 2}}',
                            b'{"id": "k", "ok": false}', b"x"])


@_given(_st.lists(_PIECES, max_size=30).map(b"".join))
def test_jsonl_read_line_by_line_equals_the_whole_text_cut(tmp_path_factory, data):
    from captionkit._sources import SourceError, Source, decode, iter_sources, iter_text

    path = tmp_path_factory.mktemp("jsonl") / "lines.jsonl"
    path.write_bytes(data)
    try:
        text = decode(data, str(path), universal_newlines=False)
    except SourceError as exc:
        expected = [Source(str(path), None, path, problem=str(exc).removeprefix(f"{path}: "))]
    else:
        expected = list(iter_text(str(path), text, path=path, jsonl=True))
    assert list(iter_sources([path])) == expected
