"""The Studio panel, driven through its widgets' own state (no browser): what a person clicks and reads.

Renders run on the tiny random pipeline on the CPU, through the real render code path.
"""

from __future__ import annotations

import re

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from IPython.core.formatters import DisplayFormatter
from PIL import Image

pytest.importorskip("ipywidgets")

import captionkit
from captionkit import strategies as cks
from captionkit.magic import BACKENDS
from captionkit.magic.testing import SAMPLE_CAPTION, FakeMagicServer, Step
from captionkit.notebook import Studio
from captionkit.notebook._controls import CUSTOM, fields_for, size_problem
from captionkit.render.metadata import read_recipe
from captionkit.render.presets import PRESETS

LOCKED = ("steps", "guidance", "mu", "std", "schedule")


class Counting:
    """A renderer that counts render calls (and passes them to the real one, if any)."""

    def __init__(self, inner=None):
        self.inner = inner
        self.calls = 0

    def render(self, *args, **kwargs):
        self.calls += 1
        if self.inner is None:
            raise AssertionError("nothing should have been rendered")
        return self.inner.render(*args, **kwargs)

    def memory(self):
        from captionkit.render.memory import memory_report

        return memory_report("cpu") if self.inner is None else self.inner.memory()

    def __getattr__(self, name):
        return getattr(self.inner, name)


def image_size(png: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(png)).size


def files(folder: Path) -> list[str]:
    return sorted(os.listdir(folder)) if folder.exists() else []


# ---------------------------------------------------------------- sampler


def test_presets_lock_their_fields_and_custom_unlocks_them():
    studio = Studio(debounce=0)
    for name, preset in PRESETS.items():
        studio.preset.value = name
        f = fields_for(preset)
        assert (studio.steps.value, studio.guidance.value, studio.mu.value, studio.std.value, studio.schedule.value) == (
            f.steps, f.guidance, f.mu, f.std, f.schedule)
        assert all(getattr(studio, w).disabled for w in LOCKED)
        assert studio.sampler_preset() is preset
        studio.preset.value = CUSTOM
        assert not any(getattr(studio, w).disabled for w in LOCKED)
        # Custom starts from the preset it came from, and means the same parameters
        made = studio.sampler_preset()
        assert (made.steps, made.schedule, made.mu, made.std) == (preset.steps, preset.schedule, preset.mu, preset.std)
        studio.preset.value = name  # locking again restores the preset's values
        assert studio.schedule.value == f.schedule and studio.steps.disabled


def test_custom_fields_in_official_order_reach_the_sampler():
    studio = Studio(debounce=0, preset="V4_TURBO_12")
    studio.preset.value = CUSTOM
    studio.steps.value = 4
    studio.schedule.value = "2.5, 7*3"  # official order: the polish step first
    studio.mu.value, studio.std.value = 0.25, 1.5
    p = studio.sampler_preset()
    assert p.diffusers_schedule() == (7.0, 7.0, 7.0, 2.5) and (p.mu, p.std) == (0.25, 1.5)
    assert "run order 7×3 → 2.5" in studio.schedule_note.value
    studio.guidance.value = 5.0  # the guidance box writes a constant schedule
    assert studio.schedule.value == "5.0*4"
    studio.steps.value = 6  # and a constant schedule follows the step count
    assert studio.sampler_preset().schedule == (5.0,) * 6
    studio.schedule.value = "3, 7"  # a schedule of the wrong length is refused, with the reason
    assert "sampler: the schedule has 2 values for 6 steps" in studio.problems()
    assert "the schedule has 2 values for 6 steps" in studio.schedule_note.value


# ---------------------------------------------------------------- size


def test_invalid_sizes_are_refused_before_anything_runs():
    renderer = Counting()
    # a long debounce: only the size widgets are under test, not the preview
    studio = Studio(renderer=renderer, size="256x256", debounce=60, out=None)
    @given(st.integers(-50, 4200), st.integers(-50, 4200))
    def check(width, height):
        problem = size_problem(width, height)
        studio.width.value, studio.height.value = width, height
        if problem is None:
            assert "refused" not in studio.size_status.value and studio.snap_button.layout.display == "none"
            assert not studio.generate_button.disabled
            return
        assert f"size {width}x{height} refused: {problem}" in studio.size_status.value
        assert studio.generate_button.disabled
        studio.generate_button.click()  # a program can click a disabled button: still refused
        assert studio.wait(10)
        assert f"refused: size {width}x{height}: {problem}" in studio.status.value
        assert renderer.calls == 0
        studio.snap_button.click()  # the offered official frame is valid
        assert size_problem(studio.width.value, studio.height.value) is None
        assert studio.frame.value == f"{studio.width.value}x{studio.height.value}"

    check()


def test_frames_menu_and_size_fields_follow_each_other():
    studio = Studio(debounce=0)
    studio.frame.value = "1920x1088"
    assert (studio.width.value, studio.height.value) == (1920, 1088)
    studio.width.value = 1904
    assert studio.frame.value == "custom"
    studio.width.value = 1536
    studio.height.value = 1024
    assert studio.frame.value == "1536x1024"


# ---------------------------------------------------------------- generate


def test_generate_shows_the_image_saves_it_and_records_it(tiny_renderer, kite, three_steps, tmp_path):
    studio = Studio(kite, renderer=tiny_renderer, size="256x384", preset=three_steps, seed=5, out=tmp_path, debounce=0)
    labels: list[str] = []
    values: list[int] = []
    studio.progress_label.observe(lambda c: labels.append(c["new"]), names="value")
    studio.progress.observe(lambda c: values.append(c["new"]), names="value")
    result = studio.generate(timeout=300)
    assert result is not None and len(result) == 1
    assert image_size(studio.image.value) == (256, 384)
    assert files(tmp_path) == ["studio-s5.png"]
    recipe = read_recipe(tmp_path / "studio-s5.png")
    assert (recipe.seed, recipe.width, recipe.height) == (5, 256, 384)
    assert recipe.preset.diffusers_schedule() == (7.0, 7.0, 3.0)
    assert recipe.caption == captionkit.dumps(kite)
    # progress over encode, each step and decode, ending full
    seen = [lbl for lbl in labels if ">" in lbl]
    text = " | ".join(seen)
    for part in ("encoding the caption", "step 1/3", "step 3/3", "decoding", "done"):
        assert part in text
    assert text.index("encoding") < text.index("step 1/3") < text.index("decoding") < text.index("done")
    assert values == sorted(values) and studio.progress.value == studio.progress.max
    assert "s/step" in studio.timing.value and float(result.seconds_per_step) > 0
    assert 'class="ck-memory"' in studio.memory_panel.value
    assert [e.result.recipe.seed for e in studio.history] == [5]
    assert not studio.generate_button.disabled and studio.cancel_button.disabled


def test_seeds_give_one_image_each_and_never_replace_a_file(tiny_renderer, kite, three_steps, tmp_path):
    studio = Studio(kite, renderer=tiny_renderer, size="256x256", preset=three_steps, out=tmp_path, debounce=0)
    studio.seeds.value = "1-2"
    assert len(studio.generate(timeout=300)) == 2
    studio.seeds.value = "2"
    studio.generate(timeout=300)
    assert files(tmp_path) == ["studio-s1.png", "studio-s2-2.png", "studio-s2.png"]
    assert [e.result.recipe.seed for e in studio.history] == [2, 2, 1]


def test_cancel_stops_the_render_and_leaves_no_file(tiny_renderer, kite, tmp_path):
    studio = Studio(kite, renderer=tiny_renderer, size="256x256", preset=CUSTOM, out=tmp_path, debounce=0)
    studio.steps.value = 6
    studio.schedule.value = "3, 7*5"

    def press_cancel(change):
        if change["new"] >= 2:  # encode done and the first step finished
            studio.cancel_button.click()

    studio.progress.observe(press_cancel, names="value")
    assert studio.generate(timeout=300) is None
    assert "cancelled: nothing was saved" in studio.status.value
    # pressed at step 1; on a busy machine the render may reach the next step before it looks
    assert re.search(r"cancelled at step [1-5]/6", studio.progress_label.value)
    assert files(tmp_path) == []  # no image, no temporary file
    assert studio.history == [] and studio.last is None
    assert not studio.generate_button.disabled and studio.cancel_button.disabled
    studio.progress.unobserve(press_cancel, names="value")
    assert studio.generate(timeout=300) is not None  # the next Generate is not cancelled
    assert files(tmp_path) == ["studio-s0.png"]


def _widget_states():
    return st.fixed_dictionaries({
        "caption": st.sampled_from(['{"compositional_deconstruction":{"background":"x","elements":[]}}', "not json", ""]),
        "idea": st.text(max_size=20),
        "backend": st.sampled_from(list(BACKENDS)),
        "preset": st.sampled_from([*PRESETS, CUSTOM]),
        "steps": st.integers(1, 60),
        "guidance": st.floats(0, 20),
        "mu": st.floats(-2, 2),
        "std": st.floats(0.1, 3),
        "schedule": st.sampled_from(["", "3, 7", "7*9", "junk"]),
        "raise_on_issues": st.booleans(),
        "width": st.integers(0, 3000),
        "height": st.integers(0, 3000),
        "seed": st.integers(0, 2**40),
        "seeds": st.sampled_from(["", "1, 2", "4-9", "x"]),
    })


def test_load_this_recipe_restores_every_widget(tiny_renderer, kite, tmp_path):
    studio = Studio(kite, renderer=tiny_renderer, size="256x384", out=tmp_path, debounce=0)
    studio.load_state({"idea": "a kite", "backend": "claude-opus-v1", "preset": CUSTOM, "steps": 3,
                       "schedule": "3, 7*2", "mu": 0.25, "std": 1.5, "raise_on_issues": False, "seed": 11})
    studio.guidance.value = 6.5
    studio.schedule.value = "3, 7*2"
    before = studio.state()
    assert studio.generate(timeout=300) is not None
    entry = studio.history[0]
    @given(_widget_states())
    def check(other):
        studio.load_state(other)
        entry.load_button.click()
        assert studio.state() == before
        assert studio.sampler_preset().diffusers_schedule() == (7.0, 7.0, 3.0)

    check()
    # a PNG's recipe restores caption, sampler, size and seed too
    studio.load_state({"preset": "V4_TURBO_12", "width": 1024, "height": 1024, "seed": 1, "caption": "{}"})
    studio.load_png(entry.path)
    after = studio.state()
    for key in ("preset", "steps", "mu", "std", "width", "height", "seed", "caption"):
        assert after[key] == before[key], key
    assert after["schedule"] == "3.0, 7.0*2"  # the same values, written canonically
    assert studio.sampler_preset().diffusers_schedule() == (7.0, 7.0, 3.0)


# ---------------------------------------------------------------- editor


def test_diagnostics_wait_for_typing_to_pause():
    studio = Studio(debounce=30)  # long enough that only flush() can run it
    first = studio.report
    broken = '{"compositional_deconstruction":{"elements":[],"background":"b"}}'
    for i in range(1, len(broken) + 1):
        studio.editor.value = broken[:i]  # typing, one character at a time
    assert studio.report is first and studio._debouncer.pending
    studio.flush()
    assert studio.report == captionkit.verify(broken, ignore=["CK408"])
    assert 'data-code="CK203"' in studio.diagnostics.value


def test_diagnostics_update_by_themselves_after_the_pause():
    studio = Studio(debounce=0.05)
    studio.editor.value = "[]"
    deadline = time.monotonic() + 30
    while studio.report.codes() != ["CK101"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert studio.report.codes() == ["CK101"]
    assert 'data-ok="false"' in studio.diagnostics.value


def test_one_click_applies_exactly_the_safe_fixes():
    studio = Studio(debounce=0)
    @given(cks.mutants())
    def check(data):
        text = json.dumps(data, ensure_ascii=False)  # the mistakes as typed, key order included
        expected = captionkit.fix(text)
        studio.editor.value = text
        useful = expected.text is not None and any(c.code != "CK408" for c in expected.changes)
        assert studio.fix_button.disabled == (not useful)
        if not useful:
            return
        studio.fix_button.click()
        assert json.loads(studio.editor.value) == expected.data
        assert studio.report.ok == expected.ok
        assert "safe fix" in studio.fix_status.value

    check()


def test_preview_follows_the_edits(kite):
    studio = Studio(kite, debounce=0, preview_width=300)
    first = studio.preview.value
    assert image_size(first)[0] == 300
    kite["compositional_deconstruction"]["elements"][0]["bbox"] = [500, 100, 900, 400]
    studio.editor.value = json.dumps(kite)
    moved = studio.preview.value
    assert moved != first
    studio.frame.value = "1600x400"  # a wide frame: the picture gets flatter
    w, h = image_size(studio.preview.value)
    assert (w, h) != image_size(moved) and w == 300
    studio.editor.value = '{"compositional_deconstruction": '  # mid-edit, not JSON
    assert studio.preview.value != b"" and "last valid form" in studio.preview_note.value


# ---------------------------------------------------------------- idea box


def test_idea_box_expands_through_the_chosen_backend():
    with FakeMagicServer() as server:
        studio = Studio(debounce=0, size="1536x1024", magic_backend="openai-compatible",
                        magic_options={"base_url": server.chat_url, "model": "fake", "api_key": "test-key"})
        studio.idea.value = "an espresso on a café counter"
        studio.expand_button.click()
        assert studio.wait(60)
        assert json.loads(studio.editor.value) == SAMPLE_CAPTION
        assert studio.report.ok and "openai-compatible (fake)" in studio.idea_status.value
        sent = server.requests[0].json
        assert sent["model"] == "fake" and "an espresso on a café counter" in json.dumps(sent, ensure_ascii=False)
        server.push(Step.error(401, "bad key"))
        before = studio.editor.value
        studio.expand_button.click()
        assert studio.wait(60)
        assert studio.editor.value == before and "#b91c1c" in studio.idea_status.value
        assert "401" in studio.idea_status.value
        studio.magic_options["bogus_option"] = 1  # a mistake in the options is shown, not lost in a thread
        studio.expand_button.click()
        assert studio.wait(60)
        assert "expand failed: TypeError" in studio.idea_status.value and not studio.expand_button.disabled


def test_idea_box_without_a_key_names_the_variable(monkeypatch):
    monkeypatch.delenv("IDEOGRAM_API_KEY", raising=False)
    studio = Studio(debounce=0)
    before = studio.editor.value
    studio.expand_button.click()
    assert studio.wait(10) and "write an idea first" in studio.idea_status.value
    studio.idea.value = "a kite"
    studio.expand_button.click()
    assert studio.wait(60)
    assert "ideogram-4-v1: no API key; set IDEOGRAM_API_KEY" in studio.idea_status.value
    assert studio.editor.value == before


# ---------------------------------------------------------------- caption issues


def test_raise_on_caption_issues_decides_between_refusing_and_the_safe_fix(tiny_renderer, three_steps, tmp_path):
    disordered = '{"compositional_deconstruction":{"elements":[],"background":"A calm lake."}}'
    renderer = Counting(tiny_renderer)
    studio = Studio(disordered, renderer=renderer, size="256x256", preset=three_steps, out=tmp_path, debounce=0)
    assert studio.raise_on_issues.value
    assert studio.generate(timeout=300) is None
    assert "refused: caption has 1 error: /compositional_deconstruction: CK203" in studio.status.value
    assert renderer.calls == 0 and files(tmp_path) == []
    studio.raise_on_issues.value = False
    assert studio.generate(timeout=300) is not None
    assert "rendered the safe-fixed caption" in studio.status.value
    assert read_recipe(tmp_path / "studio-s0.png").caption == captionkit.fix(disordered).text
    studio.editor.value = '{"compositional_deconstruction":{"elements":[]}}'  # no background: nothing to fix
    assert studio.generate(timeout=300) is None
    assert "no safe fix repairs it" in studio.status.value and renderer.calls == 1


# ---------------------------------------------------------------- without a renderer


def test_authoring_only_panel():
    studio = Studio(debounce=0)
    assert studio.generate_button.disabled and "authoring only" in studio.status.value
    studio.generate_button.click()
    assert studio.wait(10) and "refused: authoring only: no renderer" in studio.status.value
    assert captionkit.verify(studio.editor.value).ok and studio.preview.value
    bundle, _ = DisplayFormatter().format(studio)
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == studio.panel.model_id


def _run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_studio_works_without_the_render_extra():
    code = (
        "import sys\n"
        "for m in ('torch', 'diffusers', 'transformers'): sys.modules[m] = None\n"
        "from captionkit.notebook import Studio, load_renderer\n"
        "s = Studio('{\"compositional_deconstruction\":{\"elements\":[],\"background\":\"b\"}}', debounce=0)\n"
        "assert not s.report.ok and not s.fix_button.disabled\n"
        "s.fix_button.click(); assert s.report.ok, s.report\n"
        "assert s.preview.value and s.generate_button.disabled\n"
        "try:\n    load_renderer('tiny')\nexcept Exception as e:\n    print(type(e).__name__, e)\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("RenderError rendering needs the render extra (torch, diffusers, transformers missing): "
                                  "pip install 'captionkit[render]'")


def test_displays_need_no_widgets_and_the_studio_names_its_extra():
    code = (
        "import sys\n"
        "sys.modules['ipywidgets'] = None\n"
        "import captionkit\n"
        "c = captionkit.loads('{\"compositional_deconstruction\":{\"background\":\"b\",\"elements\":[]}}')\n"
        "assert 'ck-badge' in c._repr_html_()\n"
        "try:\n    from captionkit.notebook import Studio\nexcept ImportError as e:\n    print(e)\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "the notebook Studio needs the notebook extra: pip install 'captionkit[notebook]'"


def test_notebook_displays_keep_captionkit_light():
    code = (
        "import sys, captionkit, captionkit.notebook as nb\n"
        "c = captionkit.loads('{\"compositional_deconstruction\":{\"background\":\"b\",\"elements\":[]}}')\n"
        "c._repr_html_(); captionkit.verify('[]')._repr_html_()\n"
        "from captionkit.render.memory import MemoryReport\n"
        "MemoryReport('cpu', 0, 0, 0, 0, 1, 2, 1)._repr_html_(); nb.parse_schedule('7*3'); nb.Generation\n"
        "print(' '.join(m for m in ('torch', 'diffusers', 'transformers', 'hypothesis', 'typer', 'ipywidgets')"
        " if m in sys.modules))\n"
    )
    out = _run(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == []
