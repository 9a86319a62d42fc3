"""`import captionkit` must stay light."""

import subprocess
import sys

HEAVY = ("torch", "diffusers", "transformers", "hypothesis", "typer", "ray")


def _loaded_after(code):
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys\nprint(' '.join(m for m in %r if m in sys.modules))" % (HEAVY,)],
        capture_output=True, text=True, check=True,
    )
    return out.stdout.split()


def test_import_is_light():
    assert _loaded_after("import captionkit") == []


def test_the_ray_engine_loads_ray_only_when_it_runs():
    assert _loaded_after("from captionkit.render import render_dataset, render_batch, Renderer") == []


def test_core_use_is_light():
    code = (
        "import captionkit\n"
        "r = captionkit.verify('{\"compositional_deconstruction\":{\"background\":\"b\",\"elements\":[]}}')\n"
        "captionkit.fix('[]'); captionkit.loads('{\"compositional_deconstruction\":{\"background\":\"b\",\"elements\":[]}}')\n"
        "from captionkit.compat import CaptionVerifier; CaptionVerifier().verify_raw('{}')\n"
        "import captionkit.schema, captionkit.layout, captionkit.palette, captionkit.tokens\n"
    )
    assert _loaded_after(code) == []


def test_top_level_functions_are_not_shadowed_by_submodules():
    code = (
        "import captionkit, captionkit.verifier, captionkit.fixes, captionkit.tokens, captionkit.magic\n"
        "import types\n"
        "names = [n for n in captionkit.__all__ if isinstance(getattr(captionkit, n), types.ModuleType)]\n"
        "print(' '.join(names))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []
