"""``captionkit render``, ``captionkit info`` and ``captionkit cache``."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from captionkit.cli._common import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, err, fail

EXIT_CANCELLED = 130


class Fmt(str, Enum):
    text = "text"
    json = "json"


class BackendChoice(str, Enum):
    auto = "auto"
    diffusers = "diffusers"
    official = "official"


class QuantChoice(str, Enum):
    auto = "auto"
    bf16 = "bf16"
    none = "none"
    fp8 = "fp8"
    fp8_weights = "fp8-weights"
    nf4 = "nf4"


class OffloadChoice(str, Enum):
    auto = "auto"
    none = "none"
    text_encoder = "text-encoder"
    model = "model"
    dit_swap = "dit-swap"


def _parse_seeds(seed: int | None, seeds: str | None) -> list[int] | None:
    if seed is not None and seeds is not None:
        fail("--seed and --seeds exclude each other; give one seed with --seed or several with --seeds")
    if seeds is not None:
        out: list[int] = []
        for part in seeds.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                value = int(part)
            except ValueError:
                fail(f"--seeds: {part!r} is not an integer")
            if value < 0:
                fail(f"--seeds: {value} is negative")
            if value in out:
                fail(f"--seeds: {value} is given twice (each seed makes one image)")
            out.append(value)
        if not out:
            fail("--seeds: give at least one seed, for example --seeds 1,2,3")
        return out
    if seed is not None:
        if seed < 0:
            fail(f"--seed: {seed} is negative")
        return [seed]
    return None


def _summary(recipe: Any) -> list[str]:
    p = recipe.preset
    runs: list[str] = []
    for g in p.schedule:
        if runs and runs[-1][0] == g:
            runs[-1] = (g, runs[-1][1] + 1)  # type: ignore[assignment]
        else:
            runs.append((g, 1))  # type: ignore[arg-type]
    sched = ", ".join(f"{g:g} x{n}" for g, n in runs)  # type: ignore[misc]
    model = recipe.model or "-"
    if recipe.revision:
        model += f" @ {recipe.revision}"
    versions = ", ".join(f"{k} {v}" for k, v in recipe.versions.items()) or "-"
    return [
        f"seed: {recipe.seed}",
        f"preset: {p.name} ({p.steps} steps, mu {p.mu:g}, std {p.std:g})",
        f"guidance (run order): {sched}",
        f"size: {recipe.width}x{recipe.height}",
        f"backend: {recipe.backend}",
        f"model: {model}",
        f"dtype: {recipe.dtype or '-'}, quantization: {recipe.quantization or '-'}",
        "guidance cut: " + ("none" if recipe.cfg_until is None else
                            f"unconditional pass for the first {recipe.cfg_until:g} of the steps"),
        f"vae: {'tiled' if recipe.vae_tiling else 'whole'}",
        *([f"devices: {', '.join(recipe.devices)} (guidance split)"] if recipe.devices else []),
        f"versions: {versions}",
    ]


def _custom(base: Any, steps: int | None, guidance: float | None, mu: float | None, std: float | None) -> Any:
    from captionkit.render import DEFAULT_PRESET, Preset, resolve_preset

    base = base or resolve_preset(DEFAULT_PRESET)
    if steps is None and guidance is None:
        schedule: Any = base.schedule
        n = base.steps
    else:
        n = steps if steps is not None else base.steps
        schedule = [guidance if guidance is not None else 7.0] * n
    return Preset.custom(
        steps=n, schedule=schedule, mu=base.mu if mu is None else mu, std=base.std if std is None else std
    )


class EngineChoice(str, Enum):
    local = "local"
    ray = "ray"


class DtypeChoice(str, Enum):
    bfloat16 = "bfloat16"
    float16 = "float16"
    float32 = "float32"


def _recipe_settings(items: list[Any], model: str | None, revision: str | None) -> dict[str, Any]:
    """Settings taken from the recipes of PNG inputs (re-rendering), where the flags leave them open.

    The model is the recipe's: its local folder when it still exists, else its
    Hub id and revision. PNGs rendered with different models cannot share one
    pipeline, so that is refused (naming ``--model``).
    """
    import os

    recipes = [(it.source, it.recipe) for it in items if it.recipe is not None]
    if not recipes:
        return {}
    found: dict[str, Any] = {}
    if model is None:
        models = {(r.model, r.revision) for _, r in recipes}
        if len(models) > 1:
            listed = ", ".join(sorted(f"{m}@{v}" if v else str(m) for m, v in models))
            fail(f"the PNGs were rendered with different models ({listed}); render them separately or pass --model")
        (chosen, chosen_revision), = models
        source = recipes[0][0]
        if chosen is not None:
            # the same rule as the loader: a Hub id is exactly org/name
            local = chosen.startswith((".", "/", "~")) or chosen.count("/") != 1
            if os.path.isdir(os.path.expanduser(chosen)):
                found["model"] = chosen
            elif local:
                fail(f"{source}: the recipe's model folder {chosen} no longer exists; pass --model")
            else:
                found["model"] = chosen
                if revision is None and chosen_revision:
                    found["revision"] = chosen_revision
    for key in ("dtype", "quantization", "backend", "cfg_until"):
        values = {getattr(r, key) for _, r in recipes if getattr(r, key)}
        if len(values) == 1:
            found[key] = values.pop()
    return found


def _apply_fixes(items: list[Any]) -> list[Any]:
    """``--fix``: apply the safe fixes to every caption first and report each change."""
    from captionkit.fixes import fix
    from captionkit.render import BatchItem

    fixed = []
    for it in items:
        if it.caption is None or it.recipe is not None:
            fixed.append(it)
            continue
        result = fix(it.caption)
        for change in result.changes:
            err(f"{it.source}: fixed {change}")
        caption = result.text if result.text is not None else it.caption
        fixed.append(BatchItem(it.name, it.source, caption, it.recipe, it.error))
    return fixed


def render_cmd(
    sources: Annotated[list[str], typer.Argument(help="Caption .json files, folders, .jsonl files, captionkit PNGs, or - for stdin.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("renders"),
    preset: Annotated[str | None, typer.Option(help="V4_QUALITY_48, V4_DEFAULT_20 (default), V4_TURBO_12, or quality/default/turbo.")] = None,
    size: Annotated[str | None, typer.Option(help="WIDTHxHEIGHT, a frame name (banner) or W:H (default: a record's aspect ratio, else 1024x1024).")] = None,
    aspect: Annotated[str | None, typer.Option(help="W:H; the size comes from the table of frames in docs/render.md (e.g. 16:9 is 1920x1088).")] = None,
    steps: Annotated[int | None, typer.Option(help="Custom parameters: number of steps (constant guidance unless --guidance).")] = None,
    guidance: Annotated[float | None, typer.Option(help="Custom parameters: constant guidance weight (default 7.0 with --steps).")] = None,
    mu: Annotated[float | None, typer.Option(help="Custom parameters: schedule mean.")] = None,
    std: Annotated[float | None, typer.Option(help="Custom parameters: schedule spread.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (default 0, or the PNG's).")] = None,
    seeds: Annotated[str | None, typer.Option(help="Several seeds, a,b,c: one image each, caption encoded once.")] = None,
    model: Annotated[str | None, typer.Option(help="Hub repo id or local folder (default: the PNG's recipe, else the official id).")] = None,
    backend: Annotated[BackendChoice | None, typer.Option(help="Pipeline backend (default: the PNG's, else auto).")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    devices: Annotated[str | None, typer.Option("--devices", metavar="A,B", help="Guidance split over two GPUs (e.g. 0,1): the conditional and unconditional DiTs run each step at once, one per GPU. Same image; recorded in the PNG.")] = None,
    quantization: Annotated[QuantChoice | None, typer.Option(help="auto (fastest that fits, says why), bf16 (alias none), fp8 (fp8 compute on GPUs with fp8 tensor cores; fp8-weights elsewhere), fp8-weights (fp8 storage, any device), nf4 (CUDA). Default: the PNG's, else auto.")] = None,
    offload: Annotated[OffloadChoice, typer.Option(help="Memory plan: auto (least offloading that fits), none, text-encoder (off the GPU between captions), model (encoder and DiTs take turns), dit-swap (one model at a time).")] = OffloadChoice.auto,
    vae_tiling: Annotated[bool | None, typer.Option("--vae-tiling/--no-vae-tiling", help="Decode in tiles (default: only where the size would not fit; changes pixels slightly).")] = None,
    cfg_until: Annotated[float | None, typer.Option("--cfg-until", metavar="FRACTION", help="Opt-in: skip the unconditional transformer after this fraction of the steps. Faster; changes the image; recorded in the PNG (default: the PNG's, else off).")] = None,
    dtype: Annotated[DtypeChoice | None, typer.Option(help="Compute dtype (default: the PNG's, else bfloat16).")] = None,
    revision: Annotated[str | None, typer.Option(help="Hub revision (default: the PNG's).")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Use only the local Hugging Face cache.")] = False,
    compile_blocks: Annotated[bool | None, typer.Option("--compile/--no-compile", help="Compile transformer blocks (default: on for CUDA).")] = None,
    optimize: Annotated[bool, typer.Option("--optimize/--no-optimize", help="Exact-length text and mask-free attention.")] = True,
    batch_size: Annotated[int, typer.Option(help="Images per pipeline call.")] = 4,
    resume: Annotated[bool, typer.Option("--resume/--overwrite", help="Keep outputs already present when their recipe matches (default); --overwrite renders them again.")] = True,
    fix: Annotated[bool, typer.Option("--fix", help="Apply the safe fixes to each caption first (each change is reported).")] = False,
    token_check: Annotated[bool, typer.Option("--token-check/--no-token-check", help="Refuse captions over the token limit before loading (an estimate unless the model folder has a tokenizer); the exact count after loading always applies.")] = True,
    memory: Annotated[bool, typer.Option("--memory", help="Print a memory report at the end.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    fmt: Annotated[Fmt, typer.Option("--format", help="Output format.")] = Fmt.text,
    engine: Annotated[EngineChoice, typer.Option(help="local: this process (or one per GPU under torchrun); ray: a Ray Data actor pool, one warm pipeline per GPU (the ray extra).")] = EngineChoice.local,
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="--engine ray: the cluster to join (ray://HOST:10001, HOST:6379 or auto; default: RAY_ADDRESS, else a local cluster).")] = None,
    workers: Annotated[int | None, typer.Option(help="--engine ray: pipelines (actors) to run, each on its own GPU (default: one per GPU of the cluster, one on CPU).")] = None,
    gpus_per_worker: Annotated[float | None, typer.Option("--gpus-per-worker", help="--engine ray: GPUs per pipeline (default: 1 when the cluster has GPUs, else 0).")] = None,
    ray_runtime_env: Annotated[str | None, typer.Option("--ray-runtime-env", metavar="JSON|FILE", help="--engine ray: Ray runtime environment for the workers, a JSON object or a .json file, e.g. '{\"pip\": [\"captionkit[render]\"]}'.")] = None,
) -> None:
    """Render captions to PNG files with the recipe in their metadata."""
    from captionkit._io import check_writable
    from captionkit.render import (
        BatchItem,
        Cancelled,
        DistContext,
        Renderer,
        RenderError,
        iter_items,
        parse_size,
        prepare_caption,
        render_batch,
        resolve_preset,
    )
    from captionkit.render._split import parse_devices
    from captionkit.render.batch import unique_names
    from captionkit.render.hub import DEFAULT_MODEL, local_tokenizer
    from captionkit.render.progress import RichProgress

    from captionkit.cli._common import warn_environment

    warn_environment()
    seed_list = _parse_seeds(seed, seeds)
    ray_flags = {"--ray-address": ray_address, "--workers": workers, "--gpus-per-worker": gpus_per_worker,
                 "--ray-runtime-env": ray_runtime_env}
    if engine is EngineChoice.local:
        given = [flag for flag, value in ray_flags.items() if value is not None]
        if given:
            fail(f"{given[0]} needs --engine ray")
    if workers is not None and workers < 1:
        fail(f"--workers must be at least 1, got {workers}")
    if gpus_per_worker is not None and gpus_per_worker < 0:
        fail(f"--gpus-per-worker must be 0 or more, got {gpus_per_worker:g}")
    runtime_env = _runtime_env(ray_runtime_env) if ray_runtime_env is not None else None
    if guidance is not None and guidance < 0:
        fail(f"--guidance: {guidance:g} is negative; use a weight of 0 or more (7.0 is the presets' main weight)")
    if size is not None and aspect is not None:
        fail("--size and --aspect exclude each other")
    try:
        size_value = parse_size(size) if size is not None else None
        if aspect is not None:
            size_value = _aspect_size(aspect)
        preset_value = resolve_preset(preset) if preset is not None else None
        if any(v is not None for v in (steps, guidance, mu, std)):
            preset_value = _custom(preset_value, steps, guidance, mu, std)
        if batch_size < 1:
            raise RenderError(f"--batch-size must be at least 1, got {batch_size}")
        # the output folder before anything costly: an unwritable --out must not cost a render
        check_writable(out, folder=True)
        items: list[Any] = []
        for source in sources:
            if source == "-":
                from captionkit.cli._common import read_text_arg

                _name, text = read_text_arg("-")
                items.append(BatchItem("stdin", "<stdin>", text))
            else:
                items.extend(iter_items(source))
        items = unique_names(items)
        if fix:
            items = _apply_fixes(items)
        from_recipes = _recipe_settings(items, model, revision)
        chosen_model = model or from_recipes.get("model") or DEFAULT_MODEL
        options: dict[str, Any] = {
            "backend": backend.value if backend is not None else from_recipes.get("backend", "auto"),
            "device": device,
            "quantization": quantization.value if quantization is not None else from_recipes.get("quantization", "auto"),
            "offload": offload.value,
            "vae_tiling": "auto" if vae_tiling is None else vae_tiling,
            "cfg_until": cfg_until if cfg_until is not None else from_recipes.get("cfg_until"),
            "dtype": dtype.value if dtype is not None else from_recipes.get("dtype", "bfloat16"),
            "revision": revision or from_recipes.get("revision"),
            "offline": True if offline else None,
            "optimize": optimize,
            "compile": "auto" if compile_blocks is None else compile_blocks,
            "devices": parse_devices(devices),
        }
        renderer = Renderer(chosen_model, **options)
        # Count exactly with the model folder's own tokenizer when it has one.
        tokenizer = local_tokenizer(chosen_model)
        # Check every caption before anything loads; a bad one is reported and skipped.
        checked = []
        for it in items:
            if it.error is None:
                try:
                    prepare_caption(it.caption, it.source, tokenizer=tokenizer, token_check=token_check)
                except RenderError as exc:
                    it = replace(it, error=str(exc))
            checked.append(it)
    except RenderError as exc:
        fail(str(exc))
    bad = [it for it in checked if it.error is not None]
    if len(checked) == 1 and bad:
        fail(bad[0].error or "invalid caption")
    for it in bad:
        err(f"error: {it.error}")
    if len(bad) == len(checked):
        fail(f"{', '.join(sources)}: no caption to render")

    torchrun = int(os.environ.get("WORLD_SIZE", "1") or 1) > 1
    if engine is EngineChoice.ray:
        if torchrun:
            fail("--engine ray runs one driver for the whole cluster; launch it without torchrun")
        dist = DistContext()
    else:
        if devices is not None and torchrun:
            fail("--devices splits one render over two GPUs; under torchrun each process has one GPU: "
                 "leave --devices out")
        dist = DistContext.from_env()
    if device == "auto" and dist.device != "auto":
        renderer.device_requested = dist.device
    show = not quiet and dist.rank == 0 and sys.stderr.isatty()
    code = EXIT_CLEAN
    try:
        with RichProgress(disable=not show) as progress:

            def on_progress(event: Any) -> None:
                # the one-line reason for the chosen quantization and memory plan
                if event.message and dist.rank == 0 and not quiet:
                    progress.print(event.message)
                progress(event)

            if engine is EngineChoice.ray:
                import contextlib

                from captionkit.render import render_dataset

                # Ray's driver prints cluster notices (a worker died, a task is retried) on stdout,
                # which carries this command's results: they go to stderr with the other messages.
                with contextlib.redirect_stdout(sys.stderr):
                    result = render_dataset(
                        checked, out, model=chosen_model, preset=preset_value, size=size_value, seeds=seed_list,
                        batch_size=batch_size, resume=resume, workers=workers, address=ray_address,
                        runtime_env=runtime_env, gpus_per_worker=gpus_per_worker, on_progress=on_progress,
                        **options,
                    )
            else:
                result = render_batch(
                    renderer, checked, out, preset=preset_value, size=size_value, seeds=seed_list,
                    batch_size=batch_size, resume=resume, dist=dist, on_progress=on_progress,
                )
    except RenderError as exc:
        fail(str(exc))
    except (KeyboardInterrupt, Cancelled):
        err("cancelled: finished images and the manifest are kept; no partial file was written")
        raise typer.Exit(EXIT_CANCELLED) from None
    finally:
        dist.close()
    if dist.rank != 0:
        return
    for e in result.entries:
        if e["status"] == "failed" and not any(b.source == e["source"] for b in bad):
            err(f"error: {e.get('error')}")
    if result.failed:
        code = EXIT_FINDINGS
    report = renderer.memory() if memory and renderer.pipe is not None else None
    if fmt is Fmt.json:
        payload: dict[str, Any] = {"out": str(out), "items": result.entries}
        if report is not None:
            payload["memory"] = report.to_dict()
            payload["time"] = {"first_call_s": renderer.first_call_seconds, "later_call_s": renderer.later_call_seconds,
                               "compiled": renderer.compiled}
        if renderer.plan is not None:
            payload["plan"] = {"quantization": renderer.quantization, "offload": renderer.offload,
                               "reason": renderer.plan.reason}
        typer.echo(json.dumps(payload, ensure_ascii=False))
    else:
        for e in result.entries:
            if e["status"] == "rendered":
                typer.echo(str(Path(out) / e["file"]))
        err(f"{result.rendered} rendered, {result.skipped} already present, {result.failed} failed -> {out}")
        if report is not None:
            err(report.format())
            err(_timing(renderer))
    raise typer.Exit(code)


def _runtime_env(value: str) -> dict[str, Any]:
    """``--ray-runtime-env``: a JSON object given inline or in a ``.json`` file."""
    text, where = value, "--ray-runtime-env"
    if not value.lstrip().startswith(("{", "[")):
        where = f"--ray-runtime-env {value}"
        try:
            text = Path(value).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"{where}: cannot read ({getattr(exc, 'strerror', None) or exc})")
    try:
        env = json.loads(text)
    except ValueError as exc:
        fail(f"{where}: not JSON ({exc})")
    if not isinstance(env, dict):
        fail(f"{where}: must be a JSON object, like {{\"pip\": [\"captionkit[render]\"]}}")
    return env


def _aspect_size(aspect: str) -> tuple[int, int]:
    from captionkit.layout import frame_for_aspect
    from captionkit.render import RenderError

    try:
        frame = frame_for_aspect(aspect)
    except ValueError as exc:
        raise RenderError(f"--aspect: {exc}") from None
    return frame.width, frame.height


def _timing(renderer: Any) -> str:
    first, later = renderer.first_call_seconds, renderer.later_call_seconds
    if first is None:
        return "time: no pipeline call"
    text = f"time: first call {first:.1f}s" + (" (compilation included)" if renderer.compiled else "")
    return text + (f", later calls {later:.1f}s (median)" if later is not None else "")


def info_cmd(
    image: Annotated[Path, typer.Argument(help="A PNG written by captionkit render.")],
    caption_only: Annotated[bool, typer.Option("--caption", help="Print only the canonical caption.")] = False,
    fmt: Annotated[Fmt, typer.Option("--format", help="Output format.")] = Fmt.text,
) -> None:
    """Show the render recipe stored in a PNG and re-emit its caption."""
    from captionkit.render import RenderError, read_recipe

    try:
        recipe = read_recipe(image)
    except RenderError as exc:
        fail(str(exc))
    if caption_only:
        typer.echo(recipe.caption)
    elif fmt is Fmt.json:
        typer.echo(json.dumps({"caption": recipe.caption, **recipe.to_dict()}, ensure_ascii=False))
    else:
        for line in _summary(recipe):
            typer.echo(line)
        typer.echo("caption:")
        typer.echo(recipe.caption)
    raise typer.Exit(EXIT_CLEAN)


def cache_cmd(
    cache_dir: Annotated[Path | None, typer.Option(help="Hugging Face hub cache (default: HF_HUB_CACHE).")] = None,
    clear_compile: Annotated[bool, typer.Option("--clear-compile", help="Delete captionkit's compile cache.")] = False,
    fmt: Annotated[Fmt, typer.Option("--format", help="Output format.")] = Fmt.text,
) -> None:
    """List the Ideogram 4 models in the local Hugging Face cache, and the compile cache."""
    from captionkit.render import RenderError, compile_cache, list_cached_models

    if clear_compile:
        try:
            gone = compile_cache.clear()
        except RenderError as exc:
            fail(str(exc))
        if fmt is Fmt.json:
            typer.echo(json.dumps({"cleared": gone.to_dict()}, ensure_ascii=False))
        else:
            err(f"compile cache {gone.path}: removed {gone.files} files, {_human(gone.size)}")
        raise typer.Exit(EXIT_CLEAN)
    try:
        models = list_cached_models(cache_dir)
    except (OSError, ValueError) as exc:
        fail(f"cannot read the Hugging Face cache: {exc}")
    compiled = compile_cache.info()
    if fmt is Fmt.json:
        typer.echo(json.dumps({"models": [m.to_dict() for m in models], "compile": compiled.to_dict()},
                              ensure_ascii=False))
        raise typer.Exit(EXIT_CLEAN)
    if not models:
        err("no Ideogram 4 models in the local Hugging Face cache")
    else:
        width = max(len(m.repo_id) for m in models)
        for m in models:
            state = "complete" if m.complete else "partial"
            revs = ",".join(r[:8] for r in m.revisions)
            typer.echo(f"{m.repo_id:<{width}}  {_human(m.size_on_disk):>9}  {m.layout:<9}  {state:<8}  {revs}")
    owner = "" if compiled.managed else " (set by TORCHINDUCTOR_CACHE_DIR; not cleared by captionkit)"
    typer.echo(f"compile cache  {_human(compiled.size):>9}  {compiled.files} files  {compiled.path}{owner}")
    raise typer.Exit(EXIT_CLEAN)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{n} B"
        size /= 1024
    return f"{n} B"


def register(app: typer.Typer) -> None:
    """Add the render commands to the captionkit CLI."""
    app.command("render")(render_cmd)
    app.command("info")(info_cmd)
    app.command("cache")(cache_cmd)


__all__ = ["EXIT_CANCELLED", "EXIT_ERROR", "register"]
