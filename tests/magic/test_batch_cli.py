"""expand_many, and the ``captionkit expand`` command (single and batch), against loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

import captionkit
from captionkit.cli import app
from captionkit.magic import errors, expand_many
from captionkit.magic.testing import SAMPLE_CAPTION, Step

from .conftest import chat_options

runner = CliRunner()


def test_expand_many_keeps_order_records_errors_and_reports_each_item(server) -> None:
    bad = {"compositional_deconstruction": {"elements": []}}
    # with concurrency 1 the script order is the input order
    server.push(Step.caption(SAMPLE_CAPTION), Step.error(400, "bad request"), Step.caption(bad), Step.caption(SAMPLE_CAPTION))
    seen: list[str] = []
    items = [{"id": "a", "idea": "one"}, "two", {"id": "c", "idea": "three", "aspect": "9:16"}, "four"]
    results = anyio.run(
        lambda: expand_many(items, "3:2", backend="openai-compatible", concurrency=1,
                            on_result=lambda item: seen.append(item.id), **chat_options(server, max_reasks=0))
    )
    assert [r.id for r in results] == ["a", "1", "c", "3"] == seen
    assert [r.ok for r in results] == [True, False, False, True]
    assert isinstance(results[1].error, errors.BadRequestError)
    assert isinstance(results[2].error, errors.CaptionVerificationError)
    assert "TARGET IMAGE ASPECT RATIO: 9:16" in server.requests[2].json["messages"][1]["content"]
    record = results[1].to_dict()
    assert record["ok"] is False and record["error"]["status_code"] == 400


def test_expand_many_runs_concurrently_and_preserves_order(server) -> None:
    server.latency = 0.05
    ideas = [f"idea {i}" for i in range(24)]
    results = anyio.run(
        lambda: expand_many(ideas, backend="openai-compatible", concurrency=8, progress=True, **chat_options(server))
    )
    assert [r.idea for r in results] == ideas and all(r.ok for r in results)
    assert sorted(r.json["messages"][1]["content"].rsplit(": ", 1)[1] for r in server.requests) == sorted(ideas)


def test_expand_many_rejects_bad_concurrency(server) -> None:
    with pytest.raises(errors.ConfigurationError, match="concurrency"):
        anyio.run(lambda: expand_many(["x"], backend="openai-compatible", concurrency=0, **chat_options(server)))


def cli(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, ["expand", *args], env=env)


def test_cli_single_prints_the_canonical_caption_on_stdout_only(server) -> None:
    server.push(Step.caption("```json\n" + json.dumps(SAMPLE_CAPTION) + "\n```"))
    result = cli("a cafe", "-b", "openai-compatible", "--base-url", server.chat_url, "-m", "fake", "--aspect", "3:2")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == captionkit.dumps(SAMPLE_CAPTION) + "\n"
    assert "openai-compatible (fake)" in result.stderr and "1 reply" in result.stderr


def test_cli_hosted_with_output_file_and_key_from_its_own_variable(server, tmp_path) -> None:
    out = tmp_path / "caption.json"
    result = cli("a cafe", "--base-url", server.url, "--aspect", "1344x768", "-o", str(out),
                 env={"IDEOGRAM_API_KEY": "ideo-key"})
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert out.read_text(encoding="utf-8") == captionkit.dumps(SAMPLE_CAPTION) + "\n"
    assert server.requests[0].headers["api-key"] == "ideo-key"
    assert server.requests[0].json["aspect_ratio"] == "16x9"
    assert "aspect 16:9 (asked 7:4, 1.6% off)" in result.stderr


def test_cli_errors_are_one_line_with_exit_codes(server) -> None:
    missing = cli("a cafe", env={"MAGIC_PROMPT_API_KEY": "wrong-backend-key"})
    assert missing.exit_code == 2 and missing.stderr.strip().count("\n") == 0
    assert "IDEOGRAM_API_KEY" in missing.stderr and "wrong-backend-key" not in missing.stderr
    aspect = cli("x", "--aspect", "wide", "--base-url", server.url, env={"IDEOGRAM_API_KEY": "k"})
    assert aspect.exit_code == 2 and "aspect ratio 'wide'" in aspect.stderr
    server.push(Step.error(401, "bad key"))
    denied = cli("x", "--base-url", server.url, env={"IDEOGRAM_API_KEY": "k"})
    assert denied.exit_code == 2 and "HTTP 401" in denied.stderr and "Traceback" not in denied.stderr
    server.default = Step.caption('{"compositional_deconstruction": {"elements": []}}')
    unfixable = cli("x", "-b", "openai-compatible", "--base-url", server.chat_url, "-m", "m", "--max-reasks", "0")
    assert unfixable.exit_code == 1 and "'background' must exist" in unfixable.stderr and unfixable.stdout == ""


def test_cli_batch_writes_jsonl_and_resumes(server, tmp_path) -> None:
    ideas = tmp_path / "ideas.jsonl"
    ideas.write_text('{"id": "a", "idea": "one"}\n"two"\n\n{"id": "c", "idea": "three", "aspect": "2:3"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    # an earlier run finished "a" and was killed while writing the next line
    out.write_text('{"id": "a", "ok": true}\n{"id": "2", "ok": tr', encoding="utf-8")
    args = ["--batch", str(ideas), "-o", str(out), "-b", "openai-compatible", "--base-url", server.chat_url, "-m", "m"]
    result = cli(*args, "--concurrency", "2")
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["id"] for r in records) == ["2", "a", "c"] and len(server.requests) == 2
    assert all(r["ok"] for r in records[1:]) and records[1]["caption"] == SAMPLE_CAPTION
    assert "incomplete last line" in result.stderr and "1 skipped" in result.stderr
    again = cli(*args)
    assert again.exit_code == 0 and "nothing to do" in again.stderr and len(server.requests) == 2


def test_cli_batch_records_failures_and_retries_them_on_request(server, tmp_path) -> None:
    ideas = tmp_path / "ideas.jsonl"
    ideas.write_text('"one"\n"two"\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    server.push(Step.error(400, "rejected"), Step.caption(SAMPLE_CAPTION))
    args = ["--batch", str(ideas), "-o", str(out), "-b", "openai-compatible", "--base-url", server.chat_url,
            "-m", "m", "--concurrency", "1"]
    first = cli(*args)
    assert first.exit_code == 1 and "1 expanded, 1 failed" in first.stderr
    assert [json.loads(line)["ok"] for line in out.read_text().splitlines()] == [False, True]
    retried = cli(*args, "--retry-failed")
    assert retried.exit_code == 0, retried.stderr
    assert sorted((json.loads(line)["id"], json.loads(line)["ok"]) for line in out.read_text().splitlines()) == [("1", True), ("2", True)]


def test_cli_batch_input_errors_name_the_line(tmp_path) -> None:
    ideas = tmp_path / "ideas.jsonl"
    ideas.write_text('"ok"\n{not json}\n', encoding="utf-8")
    result = cli("--batch", str(ideas), "-o", str(tmp_path / "o.jsonl"), "-b", "openai-compatible",
                 "--base-url", "http://127.0.0.1:9/v1", "-m", "m")
    assert result.exit_code == 2 and f"{ideas}:2: not JSON" in result.stderr
    assert not (tmp_path / "o.jsonl").exists()
    missing = cli("--batch", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o.jsonl"))
    assert missing.exit_code == 2 and "no such file" in missing.stderr


def test_python_dash_m_captionkit_expand(server) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(captionkit.__file__).parent.parent)}
    proc = subprocess.run(
        [sys.executable, "-m", "captionkit", "expand", "a cafe", "-b", "openai-compatible",
         "--base-url", server.chat_url, "-m", "m", "--format", "record"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["caption"] == SAMPLE_CAPTION and record["backend"] == "openai-compatible"
    assert record["prompt"].startswith("captionkit-v1@")
