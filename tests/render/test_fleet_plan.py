"""The Ray driver plans a run exactly as a local batch runs it (no cluster, no pipeline needed).

Over generated items (repeated names, unreadable items, bad captions, PNG
recipes), seeds, sizes and outputs already present (matching, or made with
other settings), the items the Ray engine dispatches, with their seeds, are
the renders a local ``render_batch`` asks for; the entries, the manifest, the
``skip`` events and a resume conflict are the same too.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st
from render_captions import BOAT, KITE

from captionkit.render import BatchItem, RenderError, render_batch
from captionkit.render._core import canonical_text
from captionkit.render.batch import output_name, unique_names
from captionkit.render.fleet import plan_dataset
from captionkit.render.metadata import Recipe, write_png
from captionkit.render.presets import DEFAULT_PRESET, PRESETS, resolve_preset

CAPTIONS = [json.dumps(KITE), json.dumps(BOAT), "not json at all"]


class _Recorder:
    """Stands in for the renderer: lends the settings a plan needs and records each render asked of it."""

    model = "models/tiny"
    revision = None
    dtype = "bfloat16"
    quantization_requested = "auto"
    backend_requested = "auto"
    cfg_until = None

    def __init__(self) -> None:
        self.calls: list[tuple[int, str, tuple[int, ...]]] = []

    def load(self, on_progress: Any = None) -> _Recorder:
        return self

    def render(self, caption: Any, *, seeds: Any, label: str, item: int, **_: Any) -> list[Any]:
        self.calls.append((item, label, tuple(seeds)))
        return []


@st.composite
def runs(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 6))
    items = []
    for i in range(n):
        name = draw(st.sampled_from(["a", "b", "a-2", "poster"]))
        kind = draw(st.sampled_from(["caption", "caption", "unreadable", "recipe"]))
        caption = draw(st.sampled_from(CAPTIONS))
        if kind == "unreadable":
            items.append(BatchItem(name, f"src:{i}", None, error=f"src:{i}: not a caption"))
        elif kind == "recipe":
            recipe = Recipe(caption=canonical_text(CAPTIONS[0]), seed=draw(st.integers(0, 3)),
                            preset=PRESETS["V4_TURBO_12"], width=512, height=256)
            items.append(BatchItem(name, f"src:{i}", recipe.caption, recipe=recipe))
        else:
            items.append(BatchItem(name, f"src:{i}", caption,
                                   size=draw(st.sampled_from([None, (256, 512)]))))
    seeds = draw(st.none() | st.lists(st.integers(0, 3), min_size=1, max_size=3, unique=True))
    size = draw(st.sampled_from([None, (256, 256)]))
    present = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 3),
                                      st.sampled_from(["same", "same", "other-size"])), max_size=8))
    return {"items": unique_names(items) if draw(st.booleans()) else items, "seeds": seeds, "size": size,
            "present": present}


def _write_present(out: Path, run: dict[str, Any]) -> None:
    """Outputs of an earlier run: with this run's recipe, or (other-size) one made at another size."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    for index, seed, how in run["present"]:
        it = run["items"][index]
        if it.error is not None:
            continue
        rec = it.recipe
        # mostly one of the item's own seeds (then the output counts); sometimes another
        own = run["seeds"] or ([rec.seed] if rec is not None else [0])
        seed = own[seed % len(own)] if seed < 3 else seed
        preset = rec.preset if rec is not None else resolve_preset(DEFAULT_PRESET)
        width, height = run["size"] or it.size or ((rec.width, rec.height) if rec else (1024, 1024))
        try:
            caption = canonical_text(it.caption)
        except RenderError:
            caption = canonical_text(CAPTIONS[1])  # a bad caption's output is never compared
        if how == "other-size":
            width, height = 2048, 256
        recipe = Recipe(caption=caption, seed=seed, preset=preset, width=width, height=height,
                        model=_Recorder.model, dtype=_Recorder.dtype)
        write_png(Image.new("RGB", (4, 4)), out / output_name(it.name, seed), recipe)


@given(runs())
def test_the_ray_plan_is_the_local_batch(run: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        local_out, ray_out = Path(tmp) / "local", Path(tmp) / "ray"
        _write_present(local_out, run)
        shutil.copytree(local_out, ray_out)
        recorder = _Recorder()
        local_events: list[Any] = []
        ray_events: list[Any] = []
        local_error = ray_error = None
        local = plan = None
        try:
            local = render_batch(recorder, run["items"], local_out, size=run["size"], seeds=run["seeds"],
                                 on_progress=local_events.append)
        except RenderError as exc:
            local_error = str(exc)
        try:
            plan = plan_dataset(_Recorder(), run["items"], ray_out, size=run["size"], seeds=run["seeds"],
                                on_progress=ray_events.append)
        except RenderError as exc:
            ray_error = str(exc)
        # a conflicting output stops both before anything renders, with the same line (its folder aside)
        assert (local_error is None) == (ray_error is None)
        if local_error is not None:
            event("a resume conflict")
            assert local_error.replace(str(local_out), "OUT") == ray_error.replace(str(ray_out), "OUT")
            assert recorder.calls == []
            return
        assert local is not None and plan is not None
        # the same renders: item, caption source, and the seeds still missing
        assert [(p.index, p.item.source, p.todo) for p in plan.todo] == recorder.calls
        event(f"renders: {'some' if plan.todo else 'none'}; skips: {'some' if ray_events else 'none'}")
        # the same entries for what needs no render, and the same skip events
        assert plan.entries() == local.entries
        assert ray_events == local_events
        if plan.done and any(plan.done.values()):
            plan.save(ray_out)
            assert json.loads((ray_out / "manifest.json").read_text()) == json.loads(
                (local_out / "manifest.json").read_text())
