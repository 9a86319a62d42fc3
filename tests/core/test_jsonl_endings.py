"""Rewriting a JSONL file keeps every line's own ending and every line nobody changed.

``captionkit fix``, ``fmt`` and ``verify --fix`` rewrite the lines they repair in place. A
file may mix ``"\\n"`` and ``"\\r\\n"`` endings, end without a newline, hold blank lines and
lines that cannot be repaired. The rewrite splits as the reader splits (on ``"\\n"`` only)
and puts each line back with the ending it had: a CRLF line stays CRLF.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from captionkit._json import dumps
from captionkit.cli import app
from captionkit.fixes import fix
from captionkit.strategies import caption_dicts

runner = CliRunner()


def _messy(caption: dict) -> str:
    # a repairable form: elements before background, default separators
    cd = caption["compositional_deconstruction"]
    return json.dumps({**caption, "compositional_deconstruction": {"elements": cd["elements"],
                                                                     "background": cd["background"]}},
                      ensure_ascii=False)


@st.composite
def jsonl_files(draw):
    """``(lines, endings)``: each line a canonical caption, a repairable one, a blank line or a
    line no fix can repair; each ending ``"\\n"`` or ``"\\r\\n"``, and the last one may be absent."""
    kinds = draw(st.lists(st.sampled_from(["canonical", "messy", "blank", "broken"]), min_size=1, max_size=6))
    lines = []
    for kind in kinds:
        caption = draw(caption_dicts(max_elements=2))
        lines.append({"canonical": dumps(caption), "messy": _messy(caption), "blank": "",
                      "broken": '{"compositional_deconstruction": {"background": '}[kind])
    endings = draw(st.lists(st.sampled_from(["\n", "\r\n"]), min_size=len(lines), max_size=len(lines)))
    if draw(st.booleans()):
        endings[-1] = ""  # no newline at the end of the file
    return lines, endings


def _expected(lines: list[str], endings: list[str], repair) -> str:
    return "".join(repair(line) + ending for line, ending in zip(lines, endings))


def _repaired(line: str) -> str:
    if not line.strip():
        return line
    result = fix(line)
    return result.text if result.text is not None and result.report.ok else line


@given(jsonl_files(), st.sampled_from([["fix"], ["fmt"], ["verify", "--fix"]]))
def test_a_rewrite_keeps_each_lines_ending_and_content(tmp_path_factory, file, command):
    lines, endings = file
    original = "".join(line + ending for line, ending in zip(lines, endings))
    path = tmp_path_factory.mktemp("jsonl") / "captions.jsonl"
    path.write_bytes(original.encode("utf-8"))
    result = runner.invoke(app, [*command, str(path)])
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output
    after = path.read_bytes().decode("utf-8")
    # every repaired line is the canonical repair; every other line is as it was; every ending is kept
    assert after == _expected(lines, endings, _repaired)
    assert [part.endswith("\r") for part in after.split("\n")] == [part.endswith("\r") for part in original.split("\n")]


def test_a_crlf_file_stays_crlf_after_fix(tmp_path):
    # the reproducer: a CRLF JSONL rewritten by `captionkit fix` came back with LF endings
    caption = {"compositional_deconstruction": {"background": "A wall.", "elements": []}}
    path = tmp_path / "a.jsonl"
    path.write_bytes((_messy(caption) + "\r\n" + dumps(caption) + "\r\n").encode("utf-8"))
    assert runner.invoke(app, ["fix", str(path)]).exit_code == 0
    assert path.read_bytes() == (dumps(caption) + "\r\n" + dumps(caption) + "\r\n").encode("utf-8")
