"""The package's layers (pyproject.toml, [tool.importlinter]) hold: no module imports upward."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_linter_contract_is_kept() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).exists():
        pytest.fail("lint-imports is missing: it comes with the dev extra (import-linter)")
    run = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "KEPT" in run.stdout and "BROKEN" not in run.stdout


# -- no function-local import stands in for a layer ------------------------------------------
#
# Outside cli/, a captionkit module imports other captionkit modules at module level only. The
# one exception is the lazy load of a leaf that sits behind an extra (render, magic, strategies,
# preview, fuzz, notebook, mcp); each one is listed here with its reason, and a list entry that
# no longer occurs fails too, so the list stays the truth.

import ast  # noqa: E402

PACKAGE = ROOT / "captionkit"
LEAVES = ("captionkit.render", "captionkit.magic", "captionkit.strategies", "captionkit.preview",
          "captionkit.fuzz", "captionkit.notebook", "captionkit.mcp")

ALLOWED_LAZY = {
    ("captionkit/fuzz.py", "captionkit.strategies"):
        "strategies imports hypothesis at module level (the testing extra); run_fuzz needs it, load_target does not",
    ("captionkit/diagnostics.py", "captionkit.notebook._display"):
        "Report._repr_html_: the notebook leaf draws the table, loaded by name on first display",
    ("captionkit/models.py", "captionkit.notebook._display"):
        "Caption._repr_html_: the notebook leaf draws the caption, loaded by name on first display",
    ("captionkit/render/metadata.py", "captionkit.notebook._display"):
        "RenderResult._repr_png_/_repr_html_: the notebook leaf draws the result, loaded on first display",
    ("captionkit/render/memory.py", "captionkit.notebook._display"):
        "MemoryReport._repr_html_: the notebook leaf draws the bars, loaded on first display",
}
# import_module calls whose module is not a literal: not a captionkit layer at all
ALLOWED_DYNAMIC = {
    "captionkit/_lazy.py": "the lazy exports: the module comes from a package's own export table",
    "captionkit/fuzz.py": "load_target imports the user's MODULE:CALLABLE",
}


def _resolve(module: str | None, level: int, path: Path) -> str:
    if not level:
        return module or ""
    parts = path.relative_to(ROOT).with_suffix("").parts  # a package's __init__ counts as one level
    return ".".join([*parts[: len(parts) - level], *([module] if module else [])])


def _deferred_imports(path: Path, source: str | None = None):
    """``(line, imported module)`` for each captionkit import inside a function, and each
    ``importlib.import_module``/``__import__`` call (``None`` for a non-literal module).

    ``path`` places the module (relative imports resolve from it); ``source`` is its text
    (read from ``path`` when not given)."""
    found = []

    class Visitor(ast.NodeVisitor):
        depth = 0

        def visit_FunctionDef(self, node):
            self.depth += 1
            self.generic_visit(node)
            self.depth -= 1

        visit_AsyncFunctionDef = visit_FunctionDef
        visit_Lambda = visit_FunctionDef

        def visit_Import(self, node):
            if self.depth:
                found.extend((node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "captionkit")

        def visit_ImportFrom(self, node):
            target = _resolve(node.module, node.level, path)
            if self.depth and target.split(".")[0] == "captionkit":
                found.append((node.lineno, target))

        def visit_Call(self, node):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            if name in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                literal = arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None
                if literal is None or literal.split(".")[0] == "captionkit":
                    found.append((node.lineno, literal))
            self.generic_visit(node)

    Visitor().visit(ast.parse(path.read_text(encoding="utf-8") if source is None else source))
    return found


def _scan():
    lazy, dynamic = {}, {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("captionkit/cli/"):
            continue
        for line, target in _deferred_imports(path):
            if target is None:
                dynamic.setdefault(rel, []).append(line)
            else:
                lazy.setdefault((rel, target), []).append(line)
    return lazy, dynamic


def test_no_function_local_import_stands_in_for_a_layer():
    lazy, dynamic = _scan()
    unexpected = [f"{rel}:{lines[0]}: {target}" for (rel, target), lines in sorted(lazy.items())
                  if (rel, target) not in ALLOWED_LAZY]
    assert not unexpected, ("import these at module level (a function-local import may only load a leaf "
                            "behind an extra, listed in ALLOWED_LAZY with its reason):\n" + "\n".join(unexpected))
    assert set(dynamic) <= set(ALLOWED_DYNAMIC), sorted(set(dynamic) - set(ALLOWED_DYNAMIC))


def test_the_allowed_lazy_loads_are_leaves_behind_an_extra_and_all_still_occur():
    lazy, dynamic = _scan()
    for (rel, target), reason in ALLOWED_LAZY.items():
        assert target.startswith(LEAVES), f"{rel} -> {target} is not a leaf"
        assert reason and (rel, target) in lazy, f"stale entry: {rel} -> {target}"
    assert set(ALLOWED_DYNAMIC) == set(dynamic)


def test_the_scan_sees_every_form_of_a_deferred_import():
    # the scanner itself: function-local absolute, relative, aliased and by-name imports are all
    # seen, in functions, coroutines and lambdas; a module-level import is not a deferred one
    source = ("import importlib\n"
              "def f():\n    from captionkit.fixes import fix\n"
              "async def g():\n    from ..models import Caption\n"
              "h = lambda: importlib.import_module('captionkit.verifier')\n"
              "def k():\n    import captionkit.palette as p\n    return __import__(name)\n"
              "from captionkit.rules import RULES\n"
              "def m():\n    import json\n    from . import _fast\n")
    got = _deferred_imports(PACKAGE / "render" / "probe.py", source)
    assert got == [(3, "captionkit.fixes"), (5, "captionkit.models"), (6, "captionkit.verifier"),
                   (8, "captionkit.palette"), (9, None), (13, "captionkit.render")]


def _module_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.add(_resolve(node.module, node.level, path))
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_run_batch_takes_the_expand_callable_and_knows_no_client():
    import anyio

    from captionkit.magic._batch import run_batch

    assert not any(name.startswith("captionkit.magic._client") for name in _module_imports(PACKAGE / "magic" / "_batch.py"))
    seen = []

    async def expand(idea, aspect):
        seen.append((idea, aspect))
        if idea == "bad":
            raise ValueError("no")
        return f"{idea}@{aspect}"

    items = anyio.run(lambda: run_batch(expand, ["a", {"id": "x", "idea": "bad"}, {"idea": "c", "aspect": "3:2"}],
                                        "1:1", concurrency=2, progress=False, on_result=None))
    assert [(it.id, it.result, type(it.error).__name__ if it.error else None) for it in items] == [
        ("0", "a@1:1", None), ("x", None, "ValueError"), ("2", "c@3:2", None)]
    assert sorted(seen) == [("a", "1:1"), ("bad", "1:1"), ("c", "3:2")]


def test_render_result_sits_beside_recipe():
    from captionkit.render import RenderResult
    from captionkit.render import metadata, pipeline

    assert RenderResult is metadata.RenderResult is pipeline.RenderResult
    assert RenderResult.__module__ == "captionkit.render.metadata"
    # the official adapter takes it from there, so it no longer reaches back into the pipeline module
    assert "captionkit.render.pipeline" not in _module_imports(PACKAGE / "render" / "_official.py")
