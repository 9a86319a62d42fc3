"""``captionkit render`` on the output of ``captionkit expand --batch``, and on JSONL with U+2028.

The render layer reads captions through the shared reader: a record's ``id`` names
its output, its ``aspect_ratio`` gives its size (from the one table of frames), and a
failed record is reported, not rendered.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from render_captions import BOAT, KITE

from captionkit._sources import iter_sources
from captionkit.render.batch import BatchItem, iter_items, render_batch


def _records(path: Path) -> Path:
    rows = [
        {"id": "kite/wide", "ok": True, "caption": KITE, "aspect_ratio": "16:9", "backend": "ideogram-4-v1"},
        {"id": "boat", "ok": True, "caption": BOAT, "aspect_ratio": "auto"},
        {"id": "lost", "ok": False, "error": {"type": "BadRequestError", "message": "HTTP 400: rejected"}},
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_records_become_items_named_by_id_and_sized_by_aspect(tmp_path):
    items = iter_items(_records(tmp_path / "out.jsonl"))
    assert [(it.name, it.size, it.error is None) for it in items] == [
        ("kite_wide", (1920, 1088), True), ("boat", None, True), ("lost", None, False)]
    assert json.loads(items[0].caption) == KITE
    assert "expand failed (HTTP 400: rejected)" in items[2].error


class _Recorder:
    """Stands in for the renderer to see which size each item is rendered at (no pipeline needed)."""

    model = backend_requested = None

    def __init__(self) -> None:
        self.sizes: dict[str, Any] = {}

    def load(self, on_progress=None) -> _Recorder:
        return self

    def render(self, caption, *, size, seeds, label, **_: Any) -> list[Any]:
        self.sizes[label] = size
        return []


def test_a_record_size_is_used_unless_the_batch_gives_one(tmp_path):
    items = [it for it in iter_items(_records(tmp_path / "out.jsonl")) if it.error is None]
    recorder = _Recorder()
    render_batch(recorder, items, tmp_path / "renders")
    assert recorder.sizes == {f"{tmp_path / 'out.jsonl'}:1": (1920, 1088), f"{tmp_path / 'out.jsonl'}:2": (1024, 1024)}
    recorder = _Recorder()
    render_batch(recorder, items, tmp_path / "renders", size=(256, 256))
    assert set(recorder.sizes.values()) == {(256, 256)}


def test_a_record_aspect_without_a_frame_is_reported(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps({"id": "x", "ok": True, "caption": KITE, "aspect_ratio": "1000:999"}) + "\n",
                    encoding="utf-8")
    (item,) = iter_items(path)
    assert item.caption is None and "aspect_ratio '1000:999'" in item.error and "\n" not in item.error


def test_render_cli_on_batch_records_and_u2028(tiny_model_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from typer.testing import CliRunner

    from captionkit.cli import app

    src = tmp_path / "src"
    src.mkdir()
    _records(src / "out.jsonl")
    neon = json.loads(json.dumps(KITE))
    neon["compositional_deconstruction"]["background"] = "A green hill\u2028under a blue sky."
    (src / "neon.jsonl").write_text(json.dumps(neon, ensure_ascii=False) + "\n", encoding="utf-8")
    assert len(list(iter_sources([src / "neon.jsonl"]))) == 1
    out = tmp_path / "renders"
    res = CliRunner().invoke(app, ["render", str(src), "--out", str(out), "--model", str(tiny_model_dir),
                                   "--steps", "2", "--size", "256x256", "--dtype", "float32", "--device", "cpu",
                                   "--quiet"])
    assert res.exit_code == 1, res.output  # the failed record is a finding; the others render
    assert sorted(p.name for p in out.glob("*.png")) == ["boat-s0.png", "kite_wide-s0.png", "neon-00001-s0.png"]
    assert f"error: {src / 'out.jsonl'}:3: record 'lost' has no caption" in res.stderr


def test_batch_item_positional_fields_are_unchanged():
    # code that builds items positionally (name, source, caption, recipe, error) keeps working
    item = BatchItem("n", "s", "{}", None, "why")
    assert (item.error, item.size) == ("why", None)
