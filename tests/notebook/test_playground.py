"""examples/playground.ipynb, executed headless with nbclient against the tiny pipeline.

The outputs are read the way a notebook viewer reads them: mime bundles per cell and
the widget state nbclient saves with the notebook.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from nb_html import parse
from PIL import Image

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("diffusers")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "playground.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook after running every cell, in a scratch folder (its renders land there)."""
    folder = tmp_path_factory.mktemp("playground")
    shutil.copy(NOTEBOOK, folder / NOTEBOOK.name)
    nb = nbformat.read(folder / NOTEBOOK.name, as_version=4)
    mp = pytest.MonkeyPatch()
    mp.setenv("CAPTIONKIT_MODEL", "tiny")
    mp.delenv("IDEOGRAM_API_KEY", raising=False)
    # the kernel imports this checkout, installed or not
    mp.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    try:
        client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                         resources={"metadata": {"path": str(folder)}})
        client.execute()
    finally:
        mp.undo()
    return nb, folder


def cell(nb, tag):
    found = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(found) == 1, f"one cell tagged {tag}"
    return found[0]


def bundles(c):
    return [o["data"] for o in c.outputs if o.output_type in ("display_data", "execute_result")]


def test_every_cell_runs_without_an_error(executed):
    nb, _ = executed
    errors = [(c.metadata.get("tags"), o.ename, o.evalue) for c in nb.cells if c.cell_type == "code"
              for o in c.outputs if o.output_type == "error"]
    assert errors == []
    load = "".join(o.get("text", "") for o in cell(nb, "load").outputs if o.output_type == "stream")
    assert "tiny on cpu" in load


def test_caption_cell_shows_the_verified_badge_and_its_layout(executed):
    nb, _ = executed
    [data] = bundles(cell(nb, "caption"))
    root = parse(data["text/html"])
    badge = root.find(cls="ck-badge")
    assert badge.attrs["data-ok"] == "true" and badge.text() == "✓ verified"
    assert root.find(tag="img").attrs["alt"] == "layout preview"


def test_preflight_cell_shows_the_refusal_and_the_fix(executed):
    nb, _ = executed
    data = bundles(cell(nb, "preflight"))
    rows = parse(data[0]["text/html"]).find_all(cls="ck-diagnostic")
    assert rows[0].attrs["data-code"] == "CK203" and rows[0].attrs["data-fix"] == "safe"
    assert json.loads(ast.literal_eval(data[1]["text/plain"]))["compositional_deconstruction"]["background"] == "A white wall."


def test_generate_cell_shows_an_image_with_its_timing(executed):
    nb, folder = executed
    [data] = bundles(cell(nb, "generate"))
    image = Image.open(io.BytesIO(base64.b64decode(data["image/png"])))
    assert image.format == "PNG" and image.size == (256, 256)
    root = parse(data["text/html"])
    generation = root.find(cls="ck-generation")
    assert float(generation.attrs["data-s-per-step"]) > 0
    assert "s/step" in root.text() and root.find(cls="ck-result").attrs["data-seed"] == "7"
    saved = sorted(p.name for p in (folder / "renders").iterdir())
    assert saved == ["render-s1.png", "render-s2.png", "render-s3.png", "render-s7.png"]


def test_memory_cell_shows_the_four_bar_panel(executed):
    nb, _ = executed
    [data] = bundles(cell(nb, "memory"))
    root = parse(data["text/html"])
    assert root.find(cls="ck-memory").attrs["data-device"] == "cpu"
    bars = root.find_all(cls="ck-bar")
    assert [b.attrs["data-bar"] for b in bars] == ["vram-allocated", "vram-reserved", "process-rss", "system-ram"]
    assert [b.attrs["data-state"] for b in bars[:2]] == ["absent", "absent"]  # no GPU here
    assert all(0 < float(b.attrs["data-fraction"]) < 1 for b in bars[2:])


def test_gallery_cell_shows_one_thumbnail_per_seed(executed):
    nb, _ = executed
    [data] = bundles(cell(nb, "gallery"))
    tiles = parse(data["text/html"]).find_all(cls="ck-tile")
    assert [t.attrs["data-seed"] for t in tiles] == ["1", "2", "3"]


def test_studio_cell_is_the_widget_panel(executed):
    nb, _ = executed
    [data] = bundles(cell(nb, "studio"))
    view = data["application/vnd.jupyter.widget-view+json"]
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert view["model_id"] in state and state[view["model_id"]]["model_name"] == "VBoxModel"
    models = [m["state"] for m in state.values()]
    buttons = {m.get("description") for m in models if m.get("_model_name") == "ButtonModel"}
    assert {"Generate", "Cancel", "Apply safe fixes", "Expand"} <= buttons
    editors = [m["value"] for m in models if m.get("_model_name") == "TextareaModel" and m["value"].startswith("{")]
    assert json.loads(editors[0])["high_level_description"] == "A red kite over a green hill."
    presets = [m for m in models if m.get("_model_name") == "DropdownModel" and m.get("description") == "preset"]
    assert presets[0]["_options_labels"][presets[0]["index"]] == "V4_TURBO_12"
    memory = [m["value"] for m in models if m.get("_model_name") == "HTMLModel" and "ck-memory" in m.get("value", "")]
    assert len(memory) == 1
