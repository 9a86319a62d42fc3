"""Load an Ideogram 4 pipeline once and render many verified captions with it."""

from __future__ import annotations

import importlib
import contextlib
import importlib.util
import logging
import os
import re
import secrets
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from captionkit.render._core import PreparedCaption, check_tokens, parse_size, prepare_caption
from captionkit.render.errors import Cancelled, RenderError
from captionkit.render.hub import DEFAULT_MODEL, ModelSource, offline_mode, resolve_source
from captionkit.render.memory import MemoryReport, check_fits, free_bytes, memory_report
from captionkit.render.metadata import Recipe, write_png
from captionkit.render.presets import DEFAULT_PRESET, Preset, resolve_preset
from captionkit.render.progress import CancelToken, ProgressCallback, _Emitter

__all__ = ["RenderResult", "Renderer", "render"]

Backend = Literal["auto", "diffusers", "official"]
Quantization = Literal["auto", "none", "nf4", "fp8"]
_DTYPES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
           "fp32": "float32", "float32": "float32"}
_DIFFUSERS_DEFAULT_MSL = 2048
_DEVICE_RE = re.compile(r"auto|cpu|cuda(:\d+)?")


@dataclass(frozen=True)
class RenderResult:
    """One rendered image and the recipe that reproduces it.

    Attributes:
        image: The RGB ``PIL.Image``.
        recipe: Caption, seed, parameters, model and versions.
        seconds: Wall time of the render call that produced it (shared by a seed batch).
    """

    image: Any
    recipe: Recipe
    seconds: float = 0.0

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the image as PNG with the recipe in its metadata (atomically)."""
        return write_png(self.image, path, self.recipe)

    def _repr_png_(self) -> bytes:
        return importlib.import_module("captionkit.notebook._display").png_bytes(self.image)

    def _repr_html_(self) -> str:
        # Notebooks: the image, its recipe and its timing. The notebook leaf draws it, loaded by
        # name on first display like the lazy exports (a layer may reach up only to a leaf).
        return importlib.import_module("captionkit.notebook._display").result_html(self)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import captionkit

    out = {"captionkit": captionkit.__version__}
    for dist in ("diffusers", "torch", "transformers", "ideogram-4"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def _require_render_extra() -> None:
    missing = [m for m in ("torch", "diffusers", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise RenderError(
            f"rendering needs the render extra ({', '.join(missing)} missing): pip install 'captionkit[render]'"
        )


@contextlib.contextmanager
def _quiet_imports():
    # bitsandbytes/torchao print CPU-kernel and CUDA-library warnings on import;
    # they are cosmetic and would bury the one line the user needs.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loggers = [logging.getLogger(n) for n in ("bitsandbytes", "torchao", "diffusers", "transformers")]
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, lvl in zip(loggers, levels, strict=True):
                lg.setLevel(lvl)


class Renderer:
    """A loaded Ideogram 4 pipeline that renders captions.

    Every caption is canonicalized, verified with the official-compatible
    verifier and token-checked, and the size and device options are checked,
    before any weights load. The pipeline loads on first use and stays warm.

    Args:
        model: Hub repo id or local folder (diffusers layout, or the official
            fused layout for the ``official`` backend); ``DEFAULT_MODEL`` when
            None and no ``pipeline`` is given.
        backend: ``diffusers``, ``official`` or ``auto`` (diffusers unless the
            weights are in the official layout).
        device: ``cuda``, ``cuda:N``, ``cpu`` or ``auto`` (CUDA when available).
        quantization: ``auto``, ``none`` (stored precision cast to ``dtype``),
            ``nf4`` (bitsandbytes, CUDA only) or ``fp8`` (fp8 storage, bf16
            compute; any device).
        dtype: Compute dtype: ``bfloat16`` (default), ``float16`` or ``float32``.
        revision: Hub revision.
        token: Hub token (``HF_TOKEN`` when None).
        offline: Use only the local cache (``HF_HUB_OFFLINE`` when None).
        cache_dir: Hugging Face cache override.
        optimize: Exact-length text and mask-free attention (the output is the
            same as diffusers' defaults within float tolerance).
        compile: Compile the repeated transformer blocks: ``auto`` (on CUDA
            with Triton), True or False.
        compile_dynamic: ``torch.compile``'s ``dynamic`` for the blocks (None:
            one recompile with a symbolic length when a second length arrives).
        pipeline: An already built pipeline to use instead of loading one.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        backend: Backend = "auto",
        device: str = "auto",
        quantization: Quantization = "auto",
        dtype: str = "bfloat16",
        revision: str | None = None,
        token: str | None = None,
        offline: bool | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        optimize: bool = True,
        compile: bool | Literal["auto"] = "auto",
        compile_dynamic: bool | None = None,
        pipeline: Any = None,
    ) -> None:
        if backend not in ("auto", "diffusers", "official"):
            raise RenderError(f"unknown backend {backend!r}; choose diffusers, official or auto")
        if quantization not in ("auto", "none", "nf4", "fp8"):
            raise RenderError(f"unknown quantization {quantization!r}; choose auto, none, nf4 or fp8")
        if dtype not in _DTYPES:
            raise RenderError(f"unknown dtype {dtype!r}; choose bfloat16, float16 or float32")
        if not _DEVICE_RE.fullmatch(str(device)):
            # checked here, not at load: a run whose outputs all exist never loads
            raise RenderError(f"unknown device {device!r}; choose auto, cpu, cuda or cuda:N")
        if model is None and pipeline is None:
            model = DEFAULT_MODEL
        self.model = os.fspath(model) if model is not None else None
        self.backend_requested = backend
        self.device_requested = device
        self.quantization_requested = quantization
        self.dtype = _DTYPES[dtype]
        self.revision = revision
        self.token = token
        self.offline = offline_mode(offline)
        self.cache_dir = cache_dir
        self.optimize = optimize
        self.compile_requested = compile
        self.compile_dynamic = compile_dynamic
        self.pipe = pipeline
        self.backend: str | None = "diffusers" if pipeline is not None else None
        self.device: str | None = None
        self.quantization: str | None = None
        self.source: ModelSource | None = None
        self.compiled = False
        self._processors: list[Any] = []
        self._emit: _Emitter | None = None
        self._encode_cache: tuple[Any, Any] | None = None
        if pipeline is not None:
            self._adopt(pipeline)

    # ----------------------------------------------------------------- loading

    def _resolve_device(self) -> str:
        import torch

        req = self.device_requested
        if req == "auto":
            return "cuda:0" if torch.cuda.is_available() else "cpu"
        if req.startswith("cuda"):
            if not torch.cuda.is_available():
                raise RenderError(f"device {req}: no CUDA GPU is available here; use --device cpu")
            if req == "cuda":
                return f"cuda:{torch.cuda.current_device()}"
            index = int(req.split(":", 1)[1]) if ":" in req else 0
            if index >= torch.cuda.device_count():
                raise RenderError(f"device {req}: only {torch.cuda.device_count()} CUDA device(s) here")
            return req
        if req != "cpu":
            raise RenderError(f"unknown device {req!r}; choose auto, cpu, cuda or cuda:N")
        return "cpu"

    def _resolve_quantization(self, device: str, source: ModelSource) -> str:
        req = self.quantization_requested
        cuda = device.startswith("cuda")
        has_bnb = importlib.util.find_spec("bitsandbytes") is not None
        if source.prequantized == "nf4":
            if req not in ("auto", "nf4"):
                raise RenderError(f"model {source.model} holds nf4 weights; --quantization {req} cannot apply to it")
            req = "nf4"
        if req == "nf4":
            if not cuda:
                raise RenderError(
                    f"nf4 weights need a CUDA GPU (device is {device}); use --quantization fp8 or none, "
                    "or the official fp8 weights"
                )
            if not has_bnb:
                raise RenderError("nf4 needs bitsandbytes: pip install bitsandbytes (Linux with CUDA)")
            return "nf4"
        if req in ("none", "fp8"):
            return req
        # auto: keep full precision when it fits, else the smallest format the device supports.
        if source.weights_bytes is not None and source.weights_bytes < 4 * 1024**3:
            return "none"
        try:
            check_fits("bf16", free_bytes(device), device)
            return "none"
        except RenderError:
            if cuda and has_bnb:
                return "nf4"
            return "fp8"

    def load(self, on_progress: ProgressCallback | None = None) -> Renderer:
        """Load the pipeline now (rendering loads it on first use). Returns self.

        Raises:
            RenderError: any impossible device/quantization/backend combination,
                a Hub failure, or not enough memory for the chosen variant.
        """
        if self.pipe is not None:
            return self
        _require_render_extra()
        emit = _Emitter(on_progress, None)
        emit("load")
        with _quiet_imports():
            import torch
            from diffusers.utils import logging as diffusers_logging
            from transformers.utils import logging as transformers_logging

        # captionkit draws its own progress; the loaders' bars would interleave with it.
        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()
        device = self._resolve_device()
        source = resolve_source(
            self.model, revision=self.revision, token=self.token, offline=self.offline, cache_dir=self.cache_dir
        )
        backend = self.backend_requested
        official_available = importlib.util.find_spec("ideogram4") is not None
        if backend == "auto":
            backend = "official" if (source.layout == "official" and official_available) else "diffusers"
        if backend == "diffusers" and source.layout == "official":
            raise RenderError(
                f"model {source.model} is in the official fused layout, which diffusers cannot load; "
                "install the ideogram4 package and use --backend official"
            )
        if backend == "official" and not official_available:
            raise RenderError("the official backend needs the ideogram4 package (distribution ideogram-4)")
        quant = self._resolve_quantization(device, source)
        if source.weights_bytes is not None:
            scale = {"none": 1.0, "fp8": 0.55, "nf4": 0.3}[quant] if source.prequantized is None else 1.0
            check_fits(quant if quant != "none" else "bf16", free_bytes(device), device,
                       needed_gib=source.weights_bytes * scale / 1024**3)
        else:
            check_fits(quant if quant != "none" else "bf16", free_bytes(device), device)
        dtype = getattr(torch, self.dtype)
        with _quiet_imports():
            if backend == "official":
                from captionkit.render import _official

                pipe = _official.load(source, device=device, dtype=dtype)
            else:
                pipe = self._load_diffusers(source, device, dtype, quant)
        self.source, self.device, self.quantization, self.backend = source, device, quant, backend
        self.pipe = pipe
        if backend == "diffusers":
            self._adopt(pipe)
        return self

    def _load_diffusers(self, source: ModelSource, device: str, dtype: Any, quant: str) -> Any:
        import torch
        from diffusers import Ideogram4Pipeline

        kwargs: dict[str, Any] = {"dtype": dtype, "local_files_only": self.offline}
        target = source.model
        if not _is_dir(source.model):
            # a Hub id: the loader fetches (or, offline, finds) the weights itself
            kwargs.update(revision=self.revision, token=self.token, cache_dir=self.cache_dir)
        if quant == "nf4" and source.prequantized is None:
            from diffusers import PipelineQuantizationConfig

            kwargs["quantization_config"] = PipelineQuantizationConfig(
                quant_backend="bitsandbytes_4bit",
                quant_kwargs={
                    "load_in_4bit": True,
                    "bnb_4bit_quant_type": "nf4",
                    "bnb_4bit_compute_dtype": dtype,
                },
                components_to_quantize=["transformer", "unconditional_transformer", "text_encoder"],
            )
        if quant == "nf4":
            kwargs["device_map"] = "cuda"
        try:
            pipe = Ideogram4Pipeline.from_pretrained(target, **kwargs)
        except RenderError:
            raise
        except Exception as exc:  # map the loader's many failure types to one line
            raise RenderError(_load_error(source.model, exc)) from None
        if quant != "nf4":
            pipe.to(device)
        if quant == "fp8":
            for name in ("transformer", "unconditional_transformer"):
                getattr(pipe, name).enable_layerwise_casting(
                    storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype
                )
        return pipe

    def _adopt(self, pipe: Any) -> None:
        """Wire progress, caching and the speed layer into a diffusers pipeline."""
        from captionkit.render import _fast

        pipe.set_progress_bar_config(disable=True)
        if self.device is None:
            self.device = str(getattr(pipe, "_execution_device", None) or pipe.device)
        if self.quantization is None:
            self.quantization = "none"
        self._processors = _fast.install_processors(pipe) if self.optimize else []
        original = type(pipe).encode_prompt.__get__(pipe)

        def encode_prompt(prompt: Any, grid_h: int, grid_w: int, max_sequence_length: int, device: Any) -> Any:
            key = (tuple([prompt] if isinstance(prompt, str) else prompt), grid_h, grid_w, max_sequence_length, str(device))
            if self._encode_cache is not None and self._encode_cache[0] == key:
                return self._encode_cache[1]
            if self._emit is not None:
                self._emit("encode", **self._fields)
            result = original(prompt, grid_h, grid_w, max_sequence_length, device)
            self._encode_cache = (key, result)
            return result

        object.__setattr__(pipe, "encode_prompt", encode_prompt)
        compile_on = self.compile_requested
        if compile_on == "auto":
            compile_on = _fast.compile_supported(self.device)[0] and self.optimize
        if compile_on:
            _fast.compile_blocks(pipe, dynamic=self.compile_dynamic)
            self.compiled = True

    # --------------------------------------------------------------- rendering

    def token_count(self, text: str) -> int:
        """Exact token count of a caption with the loaded tokenizer, chat wrapper included."""
        tok = self.pipe.tokenizer
        messages = [{"role": "user", "content": [{"type": "text", "text": text}]}]
        rendered = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return len(tok(rendered, add_special_tokens=False)["input_ids"])

    def render(
        self,
        caption: Any,
        *,
        preset: str | Preset = DEFAULT_PRESET,
        size: str | tuple[int, int] = (1024, 1024),
        seed: int | None = None,
        seeds: Sequence[int] | None = None,
        batch_size: int = 4,
        label: str = "<caption>",
        item: int = 0,
        items: int = 1,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> list[RenderResult]:
        """Render one caption, one image per seed.

        The caption is encoded once for all seeds. Each image's noise comes from
        its own CPU generator, so a seed gives the same image alone or in a batch
        and on any machine with the same torch version.

        Args:
            caption: A ``Caption``, a dict or caption text.
            preset: Preset name or :class:`Preset` (custom parameters).
            size: ``"WxH"`` or ``(width, height)``.
            seed: One seed; a random one is drawn (and recorded) when None.
            seeds: Several seeds (one image each); overrides ``seed``.
            batch_size: Images per pipeline call.
            label: Name shown in progress and errors.
            item: Index of this caption in a larger run (for progress).
            items: Size of that run.
            on_progress: Called with each :class:`ProgressEvent`.
            cancel: Stops the render at the next step when cancelled.

        Raises:
            RenderError: the caption, size, preset or options are invalid (raised
                before anything loads).
            Cancelled: the cancel token fired; nothing is returned.
        """
        prepared = prepare_caption(caption, label)
        width, height = parse_size(size)
        params = resolve_preset(preset)
        if seeds is not None:
            seed_list = [int(s) for s in seeds]
            if not seed_list:
                raise RenderError("seeds: give at least one seed")
        else:
            seed_list = [int(seed) if seed is not None else secrets.randbelow(2**32)]
        for s in seed_list:
            if not 0 <= s < 2**64:
                raise RenderError(f"seed {s}: must be between 0 and 2**64-1")
        if batch_size < 1:
            raise RenderError(f"batch size must be at least 1, got {batch_size}")
        self.load(on_progress)
        return self._render_prepared(
            prepared, params, width, height, seed_list, batch_size, label, item, items, on_progress, cancel
        )

    def _render_prepared(
        self,
        prepared: PreparedCaption,
        params: Preset,
        width: int,
        height: int,
        seeds: list[int],
        batch_size: int,
        label: str,
        item: int,
        items: int,
        on_progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> list[RenderResult]:
        emit = _Emitter(on_progress, cancel)
        self._fields = {"item": item, "items": items, "steps": params.steps, "label": label}
        recipe = Recipe(
            caption=prepared.text,
            seed=seeds[0],
            preset=params,
            width=width,
            height=height,
            backend=self.backend or "diffusers",
            model=self.model if self.source is None else self.source.model,
            revision=None if self.source is None else self.source.revision,
            dtype=self.dtype,
            quantization=self.quantization,
            versions=_versions(),
        )
        if self.backend == "official":
            from captionkit.render import _official

            return _official.render(self.pipe, recipe, seeds, emit, self._fields)

        import torch

        n_tokens = self.token_count(prepared.text)
        check_tokens(n_tokens, True, label)
        msl = n_tokens if self.optimize else _DIFFUSERS_DEFAULT_MSL
        # One caption per call, so with the exact length there is no padding
        # and the block mask is all-true on both branches.
        for proc in self._processors:
            proc.mask_free = msl == n_tokens

        steps = params.steps

        def on_step(pipe: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            emit("step", step=i + 1, **self._fields)
            if i + 1 == steps:
                emit("decode", step=steps, **self._fields)
            return {}

        results: list[RenderResult] = []
        self._emit = emit
        self._encode_cache = None
        try:
            for start in range(0, len(seeds), batch_size):
                chunk = seeds[start : start + batch_size]
                t0 = time.perf_counter()
                generators = [torch.Generator("cpu").manual_seed(s) for s in chunk]
                with torch.inference_mode(), warnings.catch_warnings():
                    # transformers' deprecation notices about arguments diffusers passes
                    warnings.simplefilter("ignore", FutureWarning)
                    out = self.pipe(
                        prompt=[prepared.text],
                        height=height,
                        width=width,
                        num_inference_steps=steps,
                        guidance_scale=None,
                        guidance_schedule=list(params.diffusers_schedule()),
                        mu=params.mu,
                        std=params.std,
                        max_sequence_length=msl,
                        num_images_per_prompt=len(chunk),
                        generator=generators,
                        output_type="pil",
                        callback_on_step_end=on_step,
                    )
                seconds = time.perf_counter() - t0
                for s, image in zip(chunk, out.images, strict=True):
                    results.append(RenderResult(image=image, recipe=recipe.with_seed(s), seconds=seconds))
        except Cancelled:
            raise
        except KeyboardInterrupt:
            raise
        except RuntimeError as exc:
            raise RenderError(_runtime_error(label, exc)) from None
        finally:
            self._emit = None
            self._encode_cache = None
        return results

    def memory(self) -> MemoryReport:
        """Memory figures now: GPU allocated / reserved / peak, process RSS, system RAM."""
        return memory_report(self.device)


def _is_dir(model: str) -> bool:
    return os.path.isdir(os.path.expanduser(model))


def _load_error(model: str, exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    name = type(exc).__name__
    if "GatedRepo" in name:
        return f"model {model} is gated: accept its licence on the Hub and set HF_TOKEN"
    if "LocalEntryNotFound" in name or "offline" in text.lower():
        return f"model {model}: weights not in the local cache while offline ({text})"
    if "No GPU found" in text or "requires accelerator" in text:
        return f"model {model}: {text}; this needs a GPU, use --quantization fp8 or none"
    if "create_causal_mask" in text or "cache_position" in text:
        return f"model {model}: transformers version not supported by diffusers' Ideogram 4 pipeline ({text}); use transformers>=5.4"
    return f"model {model}: cannot load ({name}: {text})"


def _runtime_error(label: str, exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "out of memory" in text.lower():
        return f"{label}: out of GPU memory ({text}); try a smaller size, --batch-size 1 or --quantization nf4"
    return f"{label}: render failed ({type(exc).__name__}: {text})"


def render(
    caption: Any,
    *,
    model: str | os.PathLike[str] = DEFAULT_MODEL,
    preset: str | Preset = DEFAULT_PRESET,
    size: str | tuple[int, int] = (1024, 1024),
    seed: int | None = None,
    seeds: Iterable[int] | None = None,
    **options: Any,
) -> list[RenderResult]:
    """Render one caption with a freshly loaded pipeline (use :class:`Renderer` for many).

    Args:
        caption: A ``Caption``, a dict or caption text.
        model: Hub repo id or local folder.
        preset: Preset name or :class:`Preset`.
        size: ``"WxH"`` or ``(width, height)``.
        seed: One seed (random and recorded when None).
        seeds: Several seeds, one image each.
        **options: Passed to :class:`Renderer` (backend, device, quantization...).
    """
    renderer = Renderer(model, **options)
    return renderer.render(
        caption, preset=preset, size=size, seed=seed, seeds=list(seeds) if seeds is not None else None
    )
