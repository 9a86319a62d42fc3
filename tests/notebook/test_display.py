"""Rich displays: what a notebook shows for captions, reports, renders, memory, batches and the machine.

Every display is read back with an HTML parser, so the tests check what a person sees
(badge, rows, bars, images), and that nothing from a caption or an error escapes into markup.
"""

from __future__ import annotations

import io
import platform

import pytest
from hypothesis import given
from hypothesis import strategies as st
from IPython.core.formatters import DisplayFormatter
from nb_html import image_of, parse
from PIL import Image

import captionkit
from captionkit import strategies as cks
from captionkit.diagnostics import Diagnostic, Fix, Report, Severity
from captionkit.models import Caption
from captionkit.notebook import caption_html, gallery, memory_html, report_html, result_html
from captionkit.notebook._display import HIGH
from captionkit.notebook._env import Device, Environment, environment
from captionkit.preview import render_preview
from captionkit.render.errors import RenderError
from captionkit.render.memory import MemoryReport
from captionkit.render.plan import peak_gib
from captionkit.render.metadata import Recipe, write_png
from captionkit.render.pipeline import RenderResult
from captionkit.render.presets import PRESETS
from captionkit.rules import RULES

GIB = 1024**3


def mime(obj) -> dict:
    """The mime bundle IPython builds for an object, as a notebook would receive it."""
    data, _metadata = DisplayFormatter().format(obj)
    return data


# ---------------------------------------------------------------- reports

diagnostics = st.builds(
    Diagnostic,
    code=st.sampled_from(sorted(RULES)),
    name=st.text(max_size=20),
    message=st.text(max_size=60),
    path=st.lists(st.one_of(st.text(max_size=8), st.integers(0, 40)), max_size=4).map(tuple),
    severity=st.sampled_from(list(Severity)),
    fix=st.none() | st.builds(Fix, st.text(max_size=30), st.booleans()),
)
@given(st.lists(diagnostics, max_size=8))
def test_report_table_shows_every_diagnostic_exactly(items):
    report = Report(items)
    root = parse(report_html(report))  # a message with "<" or "&" must not break the markup
    rows = root.find_all(cls="ck-diagnostic")
    assert len(rows) == len(items)
    for row, d in zip(rows, items, strict=True):
        cells = [td.text() for td in row.find_all(tag="td")]
        fix = "—" if d.fix is None else f"{d.fix.applicability} {d.fix.description}"
        assert cells == [d.code, d.pointer or "/", d.severity.value, d.message, fix]
        assert row.attrs["data-fix"] == ("none" if d.fix is None else d.fix.applicability)
    badge = root.find(cls="ck-badge")
    errors = sum(1 for d in items if d.severity is Severity.error)
    assert badge.attrs["data-errors"] == str(errors)
    assert badge.attrs["data-ok"] == str(errors == 0).lower()
    assert badge.text() == ("✓ verified" if errors == 0 else f"✗ {errors} error{'s' if errors != 1 else ''}")


def test_report_displays_as_its_table_in_a_notebook():
    report = captionkit.verify('{"compositional_deconstruction":{"elements":[],"background":"b"}}')
    html = mime(report)["text/html"]
    rows = parse(html).find_all(cls="ck-diagnostic")
    assert [r.attrs["data-code"] for r in rows] == report.codes()
    ck203 = rows[0]
    assert ck203.attrs["data-severity"] == "error" and ck203.attrs["data-fix"] == "safe"


def test_report_limit_says_how_many_more():
    report = Report([Diagnostic("CK406", "empty-elements", f"m{i}", severity=Severity.info) for i in range(5)])
    root = parse(report_html(report, limit=2))
    assert len(root.find_all(cls="ck-diagnostic")) == 2
    assert "… and 3 more" in root.text()


# ---------------------------------------------------------------- captions
@given(cks.captions())
def test_caption_shows_preview_and_the_verifier_badge(caption):
    report = captionkit.verify(caption)
    root = parse(caption_html(caption, width=200))
    card = root.find(cls="ck-caption")
    assert card.attrs["data-ok"] == str(report.ok).lower()
    badge = root.find(cls="ck-badge")
    assert badge.attrs["data-errors"] == str(len(report.errors))
    try:
        render_preview(caption, width=200)
    except Exception:  # the preview module's own limits (reported separately): the card still shows
        assert root.find_all(tag="img") == [] and "no layout preview" in card.text()
    else:
        preview = image_of(root.find(tag="img"))
        assert preview.format == "PNG" and preview.width == 200
    assert captionkit.loads(captionkit.dumps(caption)) == caption
    assert captionkit.dumps(caption, pretty=True) in root.find(tag="pre").text()


def test_caption_over_the_token_limit_shows_its_error_count():
    caption = Caption.from_dict({
        "high_level_description": "lantern " * 4000,
        "compositional_deconstruction": {"background": "A wall.", "elements": []},
    })
    errors = captionkit.verify(caption).errors
    assert [d.code for d in errors] == ["CK501"]
    badge = parse(mime(caption)["text/html"]).find(cls="ck-badge")
    assert badge.attrs["data-ok"] == "false" and badge.text() == "✗ 1 error"


def test_caption_text_is_escaped():
    evil = '</pre></details><script>alert("x")</script><img src=x onerror=alert(1)>'
    caption = Caption.from_dict({"compositional_deconstruction": {"background": evil, "elements": [
        {"type": "text", "bbox": [100, 100, 300, 900], "text": "<b>&amp;</b>", "desc": evil}]}})
    root = parse(caption_html(caption))
    assert root.find_all(tag="script") == []
    assert len(root.find_all(tag="img")) == 1  # only the preview
    assert root.find(tag="pre").text() == captionkit.dumps(caption, pretty=True)


# ---------------------------------------------------------------- render results


def _recipe(seed=7, preset="V4_TURBO_12", size=(256, 256)) -> Recipe:
    return Recipe(caption=captionkit.dumps(captionkit.loads(
        '{"compositional_deconstruction":{"background":"A wall.","elements":[]}}')), seed=seed,
        preset=PRESETS[preset], width=size[0], height=size[1], model="captionkit-tiny", dtype="float32",
        quantization="none")
@given(st.integers(0, 2**64 - 1), st.sampled_from(sorted(PRESETS)), st.floats(0.01, 1e4))
def test_render_result_shows_image_recipe_and_seconds_per_step(seed, preset, seconds):
    image = Image.new("RGB", (64, 32), (200, 30, 30))
    result = RenderResult(image=image, recipe=_recipe(seed, preset), seconds=seconds)
    steps = PRESETS[preset].steps
    root = parse(result_html(result))
    card = root.find(cls="ck-result")
    assert card.attrs["data-seed"] == str(seed)
    assert float(card.attrs["data-s-per-step"]) == pytest.approx(seconds / steps, abs=1e-4)
    shown = image_of(root.find(tag="img"))
    assert shown.size == (64, 32) and shown.convert("RGB").getpixel((3, 3)) == (200, 30, 30)
    rows = {tr.find(tag="th").text(): tr.find(tag="td").text() for tr in root.find_all(tag="tr")}
    assert rows["seed"] == str(seed)
    assert rows["preset"] == f"{preset} · {steps} steps"
    assert rows["time"] == f"{seconds:.2f} s · {seconds / steps:.3f} s/step"


def test_render_result_gives_a_notebook_html_and_a_png():
    result = RenderResult(image=Image.new("RGB", (48, 48), "navy"), recipe=_recipe(), seconds=1.2)
    bundle = mime(result)
    assert Image.open(io.BytesIO(bundle["image/png"])).size == (48, 48)
    assert 'class="ck-result"' in bundle["text/html"]


# ---------------------------------------------------------------- memory

totals = st.integers(0, 2**45)
amounts = st.integers(0, 2**46)
@given(st.builds(MemoryReport, st.sampled_from(["cpu", "cuda:0"]), amounts, amounts, amounts, totals,
                 amounts, totals, amounts))
def test_memory_panel_has_four_bars_red_past_85_percent(report):
    root = parse(memory_html(report))
    panel = root.find(cls="ck-memory")
    assert "background:#0b1220" in panel.attrs["style"]  # the dark panel
    bars = root.find_all(cls="ck-bar")
    assert [b.attrs["data-bar"] for b in bars] == ["vram-allocated", "vram-reserved", "process-rss", "system-ram"]
    used = [report.gpu_allocated, report.gpu_reserved, report.rss, max(0, report.ram_total - report.ram_available)]
    total = [report.gpu_total, report.gpu_total, report.ram_total, report.ram_total]
    for bar, u, t in zip(bars, used, total, strict=True):
        if t == 0:
            assert bar.attrs["data-state"] == "absent"
            continue
        assert float(bar.attrs["data-fraction"]) == pytest.approx(u / t, abs=5e-5, rel=1e-9)  # written to 4 decimals, which a huge float cannot hold
        red = u / t > HIGH
        assert (bar.attrs["data-state"] == "high") == red
        fill = [n for n in bar.find_all(tag="div") if "width:" in (n.attrs.get("style") or "")][0]
        width = float(fill.attrs["style"].split("width:", 1)[1].split("%", 1)[0])
        assert 0 <= width <= 100
        assert ("#dc2626" in fill.attrs["style"]) == red


def test_memory_report_displays_as_the_panel():
    report = MemoryReport("cuda:0", 70 * GIB, 75 * GIB, 72 * GIB, 80 * GIB, 20 * GIB, 128 * GIB, 100 * GIB)
    root = parse(mime(report)["text/html"])
    states = {b.attrs["data-bar"]: b.attrs["data-state"] for b in root.find_all(cls="ck-bar")}
    assert states == {"vram-allocated": "high", "vram-reserved": "high", "process-rss": "ok", "system-ram": "ok"}
    assert "peak 72.00" in root.text()


# ---------------------------------------------------------------- batches


def test_gallery_of_a_folder_reads_each_recipe(tmp_path):
    for seed in (3, 1, 2):
        write_png(Image.new("RGB", (256, 128), (seed * 40, 0, 0)), tmp_path / f"kite-s{seed}.png", _recipe(seed, size=(256, 128)))
    Image.new("RGB", (32, 32)).save(tmp_path / "plain.png")
    (tmp_path / "notes.txt").write_text("not an image")
    root = parse(mime(gallery(tmp_path, size=100))["text/html"])
    tiles = root.find_all(cls="ck-tile")
    assert [t.attrs.get("data-seed") for t in tiles] == ["1", "2", "3", None]
    assert [t.find(tag="figcaption").text() for t in tiles][-1] == "plain.png"
    assert max(image_of(tiles[0].find(tag="img")).size) == 100


def test_gallery_refuses_what_it_cannot_show():
    with pytest.raises(TypeError, match="gallery: cannot show int"):
        gallery([3])


# ---------------------------------------------------------------- environment
@given(st.integers(0, 400 * GIB), st.booleans())
def test_environment_suggests_the_first_precision_that_fits(free, bnb):
    env = Environment("3.11.0", "2.13.0", (Device("cuda:0", "card", 400 * GIB, free, True),), 0, (), bnb)

    def fits(q):
        return peak_gib(q, "none") <= free / GIB

    expected = next((q for q in ("bf16", "fp8", "nf4") if fits(q)), None)
    line = env.suggestion()
    if expected is None:
        assert line.startswith("not enough GPU memory")
    else:
        assert line.startswith(f"{expected} ") and ("pip install bitsandbytes" in line) == (expected == "nf4" and not bnb)
    assert parse(env._repr_html_()).find(cls="ck-environment").attrs["data-gpus"] == "1"


def test_environment_here_reports_this_machine():
    env = environment()
    assert env.python == platform.python_version()
    torch = pytest.importorskip("torch")
    assert env.torch == torch.__version__
    assert len(env.devices) == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert "text/html" in mime(env)
