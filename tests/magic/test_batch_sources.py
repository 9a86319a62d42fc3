"""What ``expand --batch`` writes is read back by every command through the one reader."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from captionkit._json import dumps
from captionkit._sources import iter_sources
from captionkit.cli import app
from captionkit.magic.testing import SAMPLE_CAPTION, Step

runner = CliRunner()


def test_expand_batch_output_is_read_as_captions(server, tmp_path) -> None:
    ideas = tmp_path / "ideas.jsonl"
    ideas.write_text(
        json.dumps({"id": "sign", "idea": "a neon sign\u2028that reads OPEN", "aspect": "4:1"}, ensure_ascii=False)
        + "\n" + '{"id": "bad", "idea": "two"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    server.push(Step.caption(SAMPLE_CAPTION), Step.error(400, "rejected"))
    result = runner.invoke(app, ["expand", "--batch", str(ideas), "-o", str(out), "-b", "openai-compatible",
                                 "--base-url", server.chat_url, "-m", "m", "--concurrency", "1", "--max-reasks", "0"])
    assert result.exit_code == 1 and "1 expanded, 1 failed" in result.stderr
    # the idea reached the backend whole, U+2028 included
    assert "a neon sign\u2028that reads OPEN" in server.requests[0].json["messages"][1]["content"]

    sign, bad = iter_sources([out])
    assert (sign.record, sign.id, sign.aspect, sign.text) == (True, "sign", "4:1", dumps(SAMPLE_CAPTION))
    assert bad.record and bad.text is None and "rejected" in bad.problem

    checked = runner.invoke(app, ["verify", str(out), "--no-lints"])
    assert checked.exit_code == 1 and "checked 1 caption(s): clean; 1 record(s) without a caption" in checked.stderr
    assert f"{out}:2: record 'bad' has no caption" in checked.stderr
