"""Dataset mode of describe (sidecars or one JSONL, resumable) and the ``captionkit describe`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from captionkit.cli import app
from captionkit.compat import CaptionVerifier
from captionkit.magic import describe_dataset, errors
from captionkit.magic.testing import Step

from .conftest import FAST_RETRY

runner = CliRunner()


def png(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, "white").save(path)
    return path


def dataset(root: Path) -> list[Path]:
    images = [png(root / "a.png"), png(root / "b.jpg"), png(root / "sub" / "c.webp")]
    png(root / ".hidden" / "d.png")  # hidden folders are skipped
    (root / "notes.txt").write_text("not an image", encoding="utf-8")
    return images


def options(server) -> dict:
    return {"backend": "ideogram-4-v1", "api_key": "k", "base_url": server.url, "retry": FAST_RETRY}


def test_sidecars_are_written_and_a_second_run_skips_everything(server, tmp_path) -> None:
    images = dataset(tmp_path)
    report = describe_dataset([tmp_path], concurrency=2, **options(server))
    assert sorted(report.described) == ["a.png", "b.jpg", "sub/c.webp"] and report.ok
    for image in images:
        text = image.with_suffix(".json").read_text(encoding="utf-8")
        assert text.endswith("\n") and CaptionVerifier().verify_raw(text.rstrip("\n")) == []
    assert not (tmp_path / ".hidden" / "d.json").exists()
    assert len(server.requests) == 3
    again = describe_dataset([tmp_path], **options(server))
    assert sorted(again.skipped) == ["a.png", "b.jpg", "sub/c.webp"] and again.described == []
    assert len(server.requests) == 3  # nothing sent


def test_a_failed_image_gets_no_sidecar_and_is_retried_next_run(server, tmp_path) -> None:
    dataset(tmp_path)
    server.push(Step.json({"error": "Image failed safety check"}, status=422))
    report = describe_dataset([tmp_path], concurrency=1, **options(server))
    assert len(report.failed) == 1 and len(report.described) == 2
    failed_id, message = report.failed[0]
    assert "safety check" in message and "\n" not in message
    assert not (tmp_path / failed_id).with_suffix(".json").exists()
    rerun = describe_dataset([tmp_path], **options(server))
    assert rerun.described == [failed_id] and len(rerun.skipped) == 2


def test_an_existing_sidecar_that_is_not_a_caption_is_never_overwritten(server, tmp_path) -> None:
    image = png(tmp_path / "a.png")
    mine = '{"owner": "someone else"}\n'
    image.with_suffix(".json").write_text(mine, encoding="utf-8")
    report = describe_dataset([tmp_path], **options(server))
    assert report.kept == ["a.png"] and report.described == [] and server.requests == []
    assert image.with_suffix(".json").read_text(encoding="utf-8") == mine
    forced = describe_dataset([tmp_path], overwrite=True, **options(server))
    assert forced.described == ["a.png"]
    assert CaptionVerifier().verify_raw(image.with_suffix(".json").read_text(encoding="utf-8").rstrip()) == []


def test_overwrite_keeps_the_old_sidecar_when_describing_fails(server, tmp_path) -> None:
    image = png(tmp_path / "a.png")
    describe_dataset([tmp_path], **options(server))
    before = image.with_suffix(".json").read_bytes()
    server.push(Step.json({"error": "bad"}, status=400))
    report = describe_dataset([tmp_path], overwrite=True, **options(server))
    assert len(report.failed) == 1 and image.with_suffix(".json").read_bytes() == before


def test_sidecar_clashes_are_refused_before_any_request(server, tmp_path) -> None:
    png(tmp_path / "x.png")
    png(tmp_path / "x.jpg")
    with pytest.raises(errors.ConfigurationError, match=r"would share the sidecar .*x\.json; write one JSONL instead"):
        describe_dataset([tmp_path], **options(server))
    assert server.requests == [] and not (tmp_path / "x.json").exists()


def test_a_configuration_error_touches_no_file(tmp_path) -> None:
    dataset(tmp_path)
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "a.png", "ok": true}\n{"id": "b.j', encoding="utf-8")
    with pytest.raises(errors.MissingAPIKeyError):
        describe_dataset([tmp_path], jsonl=out, overwrite=True)
    assert out.read_text(encoding="utf-8") == '{"id": "a.png", "ok": true}\n{"id": "b.j'


def test_jsonl_resumes_after_a_torn_line_and_retries_failures_on_request(server, tmp_path) -> None:
    root = tmp_path / "images"
    dataset(root)
    out = tmp_path / "captions.jsonl"
    server.push(Step.json({"error": "Image failed safety check"}, status=422))
    first = describe_dataset([root], jsonl=out, concurrency=1, **options(server))
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["id"] for r in records) == ["a.png", "b.jpg", "sub/c.webp"]
    assert [r["ok"] for r in records].count(False) == 1 and len(first.failed) == 1
    good = next(r for r in records if r["ok"])
    assert good["width"] == 64 and good["height"] == 48 and good["backend"] == "ideogram-4-v1"
    assert CaptionVerifier().verify_raw(json.dumps(good["caption"], ensure_ascii=False, separators=(",", ":"))) == []
    with out.open("a", encoding="utf-8") as handle:
        handle.write('{"id": "torn')  # an interrupted append
    resumed = describe_dataset([root], jsonl=out, **options(server))
    assert resumed.described == [] and len(resumed.skipped) == 3
    assert out.read_text(encoding="utf-8").endswith("}\n")  # the torn line is gone
    retried = describe_dataset([root], jsonl=out, retry_failed=True, **options(server))
    assert retried.described == [first.failed[0][0]]
    final = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(final) == 3 and all(r["ok"] for r in final)


# ------------------------------------------------------------------ the command


def test_cli_one_image_prints_the_caption(server, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("IDEOGRAM_API_KEY", "k")
    image = png(tmp_path / "a.png", (300, 200))
    result = runner.invoke(app, ["describe", str(image), "--base-url", server.url])
    assert result.exit_code == 0, result.output
    assert CaptionVerifier().verify_raw(result.stdout.strip()) == []
    assert f"{image} · ideogram-4-v1 · 300x200" in result.stderr
    record = runner.invoke(app, ["describe", str(image), "--base-url", server.url, "--format", "record"])
    assert json.loads(record.stdout)["aspect_ratio"] == "3:2"


def test_cli_dataset_mode_and_exit_codes(server, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("IDEOGRAM_API_KEY", "k")
    dataset(tmp_path)
    server.push(Step.json({"error": "Image failed safety check"}, status=422))
    first = runner.invoke(app, ["describe", str(tmp_path), "--base-url", server.url, "-j", "1"])
    assert first.exit_code == 1
    assert "2 described, 1 failed, 0 skipped" in first.stderr and "safety check" in first.stderr
    second = runner.invoke(app, ["describe", str(tmp_path), "--base-url", server.url])
    assert second.exit_code == 0 and "1 described, 0 failed, 2 skipped" in second.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "x.json"], "error: -o is for one image; a dataset gets sidecar files, or --jsonl OUT"),
        (["--retry-failed"], "error: --retry-failed needs --jsonl"),
        (["--backend", "dall-e"], "error: unknown backend 'dall-e'"),
        (["--box-format", "polar"], "error: unknown box convention 'polar'"),
    ],
)
def test_cli_usage_errors_are_one_line(tmp_path, args, message, monkeypatch) -> None:
    monkeypatch.setenv("IDEOGRAM_API_KEY", "k")
    dataset(tmp_path)
    result = runner.invoke(app, ["describe", str(tmp_path), *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message)


def test_cli_bad_single_image_is_exit_2(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("IDEOGRAM_API_KEY", "k")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    result = runner.invoke(app, ["describe", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {bad}: not an image captionkit can read (unknown format)"
