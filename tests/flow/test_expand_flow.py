"""``captionkit expand`` on a misbehaving server: earlier failures, an unreachable server, Ctrl-C,
and warnings for what the renderer cannot use."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import captionkit
from captionkit.cli import app
from captionkit.magic.testing import SAMPLE_CAPTION, FakeMagicServer, Step

STYLED = SAMPLE_CAPTION if "style_description" in SAMPLE_CAPTION else {
    **SAMPLE_CAPTION,
    "style_description": {"aesthetics": "calm", "lighting": "soft", "photo": "50mm", "medium": "photograph"},
}


def expand(cli, url: str, *args: str):
    return cli.invoke(app, ["expand", *args, "-b", "openai-compatible", "--base-url", url, "-m", "m"])


def ideas_file(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "ideas.jsonl"
    path.write_text("".join(json.dumps({"id": f"i{k}", "idea": f"idea {k}"}) + "\n" for k in range(n)),
                    encoding="utf-8")
    return path


def test_rerun_after_failures_names_them_and_points_to_retry_failed(cli, server, tmp_path: Path) -> None:
    ideas, out = ideas_file(tmp_path, 3), tmp_path / "out.jsonl"
    server.push(Step.error(400, "rejected"), Step.caption(SAMPLE_CAPTION), Step.error(400, "rejected"))
    args = ["--batch", str(ideas), "-o", str(out), "-j", "1", "--max-reasks", "0"]
    first = expand(cli, server.chat_url, *args)
    assert first.exit_code == 1 and "1 expanded, 2 failed" in first.stderr and "--retry-failed" in first.stderr
    again = expand(cli, server.chat_url, *args)
    assert again.exit_code == 1 and len(server.requests) == 3  # nothing sent
    assert "nothing to do" not in again.stderr.replace("nothing new to do", "")
    assert "2 idea(s) failed in an earlier run (i0, i2); run again with --retry-failed" in again.stderr
    retried = expand(cli, server.chat_url, *args, "--retry-failed")
    assert retried.exit_code == 0, retried.stderr
    assert sorted(json.loads(line)["ok"] for line in out.read_text().splitlines()) == [True, True, True]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_server_stops_after_three_connection_failures(cli, tmp_path: Path) -> None:
    ideas, out = ideas_file(tmp_path, 12), tmp_path / "out.jsonl"
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    result = expand(cli, url, "--batch", str(ideas), "-o", str(out), "-j", "1", "--deadline", "5")
    assert result.exit_code == 2
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in records] == ["i0", "i1", "i2"] and not any(r["ok"] for r in records)
    summary = result.stderr.strip().splitlines()[-1]
    assert "stopped after 3 connection failures in a row (i0, i1, i2)" in summary
    assert "0 expanded, 3 failed, 9 not tried" in summary and "--retry-failed" in summary


def test_ctrl_c_prints_a_summary_and_a_resume_hint(tmp_path: Path) -> None:
    ideas, out = ideas_file(tmp_path, 20), tmp_path / "out.jsonl"
    with FakeMagicServer(latency=0.4) as slow:
        env = {**os.environ, "PYTHONPATH": str(Path(captionkit.__file__).parent.parent)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "captionkit", "expand", "--batch", str(ideas), "-o", str(out), "-j", "1",
             "-b", "openai-compatible", "--base-url", slow.chat_url, "-m", "m", "--no-progress"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < 2):
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    line = next(line for line in stderr.splitlines() if line.startswith("interrupted:"))
    done = out.read_text().count("\n")
    assert f"{done} expanded, 0 failed, {20 - done} not tried" in line
    assert "run the same command again to resume" in line


def test_no_style_with_a_styled_reply_and_extreme_aspects_warn(cli, server, tmp_path: Path) -> None:
    server.push(Step.caption(STYLED))
    styled = expand(cli, server.chat_url, "a cafe", "--no-style")
    assert styled.exit_code == 0
    assert "warning: the model returned a style_description although --no-style asked for none" in styled.stderr
    wide = expand(cli, server.chat_url, "a banner", "-a", "100:1")
    assert "warning: aspect 100:1 is beyond the renderer's limit of 6:1" in wide.stderr
    ideas = tmp_path / "ideas.jsonl"
    ideas.write_text(json.dumps({"id": "tall", "idea": "a tower", "aspect": "1:9"}) + "\n", encoding="utf-8")
    batch = expand(cli, server.chat_url, "--batch", str(ideas), "-o", str(tmp_path / "o.jsonl"))
    assert "warning: tall: aspect 1:9 is beyond the renderer's limit of 6:1" in batch.stderr


def test_messages_name_the_flags(cli, server) -> None:
    server.default = Step.caption('{"compositional_deconstruction": {"background": "b", "elem', finish_reason="length")
    result = expand(cli, server.chat_url, "a cafe", "--max-reasks", "0")
    assert result.exit_code == 1
    assert "--max-tokens" in result.stderr and "max_tokens" not in result.stderr
