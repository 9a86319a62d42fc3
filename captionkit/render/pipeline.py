"""Load an Ideogram 4 pipeline once and render many verified captions with it."""

from __future__ import annotations

import importlib
import contextlib
import importlib.util
import logging
import math
import os
import re
import secrets
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from captionkit import __version__
from captionkit.render import _fast, _official, compile_cache
from captionkit.render._core import PreparedCaption, check_tokens, parse_size, prepare_caption
from captionkit.render._split import GuidanceSplit
from captionkit.render.errors import Cancelled, RenderError
from captionkit.render.hub import DEFAULT_MODEL, ModelSource, offline_mode, resolve_source
from captionkit.render.memory import COMPONENTS, MemoryReport, PeakTracker, component_gib, free_bytes, memory_report
from captionkit.render.metadata import Recipe, RenderResult
from captionkit.render.plan import FP8_MODES, OFFLOADS, Plan, Shuttle, choose, needs_tiling, secondary_gib
from captionkit.render.presets import DEFAULT_PRESET, Preset, resolve_preset
from captionkit.render.progress import CancelToken, ProgressCallback, _Emitter
from captionkit.render.quant import fp8_compute_support, module_bytes, normalize_mode, quantize_pipeline

__all__ = ["RenderResult", "Renderer", "check_cfg_until", "guided_steps", "render"]

Backend = Literal["auto", "diffusers", "official"]
Quantization = Literal["auto", "bf16", "none", "fp8", "fp8-weights", "nf4"]
Offload = Literal["auto", "none", "text-encoder", "model", "dit-swap"]
_DTYPES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
           "fp32": "float32", "float32": "float32"}
_DIFFUSERS_DEFAULT_MSL = 2048
_DEVICE_RE = re.compile(r"auto|cpu|cuda(:\d+)?")
_FULL_PARAMS = 2 * 9_279_288_448 + 8_150_000_000 + 84_000_000


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"captionkit": __version__}
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
        loggers = [logging.getLogger(n) for n in ("bitsandbytes", "torchao", "diffusers", "transformers",
                                                  "torch.utils._pytree")]
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
        quantization: ``auto`` (the fastest mode that fits, with a one-line
            reason in :attr:`plan`), ``bf16`` (no quantization; alias
            ``none``), ``fp8`` (fp8 compute on GPUs with fp8 tensor cores,
            otherwise the same as ``fp8-weights``), ``fp8-weights`` (fp8
            storage, compute in ``dtype``; any device) or ``nf4``
            (bitsandbytes 4-bit; CUDA only). See :mod:`captionkit.render.quant`.
        dtype: Compute dtype: ``bfloat16`` (default), ``float16`` or ``float32``.
        revision: Hub revision.
        token: Hub token (``HF_TOKEN`` when None).
        offline: Use only the local cache (``HF_HUB_OFFLINE`` when None).
        cache_dir: Hugging Face cache override.
        optimize: Exact-length text and mask-free attention (the output is the
            same as diffusers' defaults within float tolerance).
        compile: Compile the repeated transformer blocks: ``auto`` (on CUDA
            with Triton), True or False. Compiled code is cached on disk
            (:mod:`captionkit.render.compile_cache`).
        compile_dynamic: ``torch.compile``'s ``dynamic`` for the blocks (None:
            one recompile with a symbolic length when a second length arrives).
        offload: Memory plan: ``auto`` (the least offloading that fits),
            ``none``, ``text-encoder``, ``model`` or ``dit-swap``. See :mod:`captionkit.render.plan`.
        vae_tiling: Decode in tiles: ``auto`` (only where the size would not
            fit otherwise), True or False. Tiling changes pixels slightly and
            is recorded in the recipe.
        cfg_until: Opt-in guidance cut: run the unconditional transformer only
            for this fraction of the steps (0..1) and skip it afterwards (the
            conditional prediction alone drives the rest). Faster; **changes
            the image**; recorded in the recipe. None (default) keeps full
            guidance.
        pipeline: An already built pipeline to use instead of loading one. An
            explicit ``quantization`` or ``offload`` is applied to it in place.
        devices: The guidance split: two devices (``["cuda:0", "cuda:1"]``).
            The text encoder, the conditional DiT and the VAE live on the
            first, the unconditional DiT on the second, and the two passes of
            every step run at once (:mod:`captionkit.render._split`). It
            composes with compile and every quantization mode, lets two 24 GB
            cards hold the bf16 pair, and is recorded in the recipe. The same
            image as one device. ``["cpu", "cpu"]`` runs the split's
            bookkeeping without parallelism (for tests).
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
        offload: Offload = "auto",
        vae_tiling: bool | Literal["auto"] = "auto",
        cfg_until: float | None = None,
        pipeline: Any = None,
        devices: Sequence[str] | None = None,
    ) -> None:
        if backend not in ("auto", "diffusers", "official"):
            raise RenderError(f"unknown backend {backend!r}; choose diffusers, official or auto")
        mode = normalize_mode(quantization)
        if offload not in OFFLOADS:
            raise RenderError(f"unknown offload plan {offload!r}; choose {', '.join(OFFLOADS)}")
        if vae_tiling not in (True, False, "auto"):
            raise RenderError(f"vae_tiling must be True, False or 'auto', got {vae_tiling!r}")
        if dtype not in _DTYPES:
            raise RenderError(f"unknown dtype {dtype!r}; choose bfloat16, float16 or float32")
        if not _DEVICE_RE.fullmatch(str(device)):
            # checked here, not at load: a run whose outputs all exist never loads
            raise RenderError(f"unknown device {device!r}; choose auto, cpu, cuda or cuda:N")
        self.cfg_until = check_cfg_until(cfg_until)
        self.devices_requested = _check_devices(devices, device)
        if self.devices_requested is not None:
            if backend == "official":
                raise RenderError("--devices needs the diffusers backend (the official pipeline runs on one device)")
            device = self.devices_requested[0]
        if model is None and pipeline is None:
            model = DEFAULT_MODEL
        self.model = os.fspath(model) if model is not None else None
        self.backend_requested = backend
        self.device_requested = device
        self.quantization_requested = mode
        self.offload_requested = offload
        self.vae_tiling_requested = vae_tiling
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
        self.offload: str | None = None
        self.plan: Plan | None = None
        self.source: ModelSource | None = None
        self.compiled = False
        self.compile_cache: Path | None = None
        self.call_times: list[float] = []
        self._scale = 1.0
        self._processors: list[Any] = []
        self._emit: _Emitter | None = None
        self._encode_cache: tuple[Any, Any] | None = None
        self._shuttle: Shuttle | None = None
        self._tracker = PeakTracker(None)
        self._cfg: dict[str, int] | None = None
        self.devices: list[str] | None = None
        self._split: GuidanceSplit | None = None
        if pipeline is not None:
            self._take(pipeline)

    # ----------------------------------------------------------------- loading

    def _resolve_devices(self) -> list[str] | None:
        """The guidance split's two devices, checked against this machine (None without a split)."""
        if self.devices_requested is None:
            return None
        return [self._resolve_device(d) for d in self.devices_requested]

    def _placement(self) -> dict[str, str]:
        return {"unconditional_transformer": self.devices[1]} if self.devices else {}

    def _resolve_device(self, req: str | None = None) -> str:
        import torch

        req = self.device_requested if req is None else req
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

    def _choose(self, device: str, prequantized: str | None, budget: Callable[[], int] | None) -> Plan:
        """Resolve the quantization and the memory plan, refusing what cannot run here.

        ``budget`` reads the free memory; it is called only after the requests
        that cannot run on this device at all have been refused.
        """
        req = self.quantization_requested
        cuda = device.startswith("cuda")
        has_bnb = importlib.util.find_spec("bitsandbytes") is not None
        has_torchao = importlib.util.find_spec("torchao") is not None
        if prequantized == "nf4" and req not in ("auto", "nf4"):
            raise RenderError(f"model {self.model} holds nf4 weights; --quantization {req} cannot apply to it")
        if req == "nf4" or prequantized == "nf4":
            if not cuda:
                raise RenderError(
                    f"nf4 weights need a CUDA GPU (device is {device}); use --quantization fp8-weights or bf16, "
                    "or the official fp8 weights"
                )
            if not has_bnb:
                raise RenderError("nf4 needs bitsandbytes: pip install bitsandbytes (Linux with CUDA)")
        fp8_ok, why_not = fp8_compute_support(device)
        note = ""
        if req == "fp8" and not fp8_ok:
            if cuda and not has_torchao:
                raise RenderError("fp8 compute needs torchao: pip install torchao, or use --quantization fp8-weights")
            # the old meaning of fp8 (storage only) where fp8 compute cannot run
            req, note = "fp8-weights", f"fp8 runs as fp8-weights here: {why_not}"
        if req in ("fp8", "fp8-weights") and not has_torchao:
            raise RenderError(f"--quantization {req} needs torchao: pip install torchao (part of captionkit[render])")
        plan = choose(
            budget_gib=None if budget is None else budget() / 1024**3,
            cuda=cuda, fp8_compute=fp8_ok, nf4=cuda and has_bnb, quantization=req,
            offload=self.offload_requested, scale=self._scale, where=device, why_not_fp8=why_not,
            prequantized=prequantized, split=self.devices_requested is not None,
        )
        devices = self.devices
        if devices and budget is not None and devices[1].startswith("cuda"):
            need = secondary_gib(plan.quantization, scale=self._scale)
            free = free_bytes(devices[1]) / 1024**3
            if need > free:
                raise RenderError(
                    f"not enough memory on {devices[1]} for the unconditional DiT in {plan.quantization}: "
                    f"need about {need:.1f} GiB, {free:.1f} GiB free"
                )
        if note:
            plan = replace(plan, reason=f"{note}; {plan.reason}")
        return plan

    def load(self, on_progress: ProgressCallback | None = None) -> Renderer:
        """Load the pipeline now (rendering loads it on first use). Returns self.

        Raises:
            RenderError: any impossible device/quantization/backend/offload
                combination, a Hub failure, or not enough memory for any plan.
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
        self.devices = self._resolve_devices()
        device = self.devices[0] if self.devices else self._resolve_device()
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
        if backend == "official" and self.offload_requested not in ("auto", "none"):
            raise RenderError("the official backend manages its own memory; --offload needs the diffusers backend")
        if backend == "official" and self.cfg_until is not None:
            raise RenderError("--cfg-until needs the diffusers backend (the official pipeline has no per-step hook)")
        if source.weights_bytes:
            full = sum(component_gib(source.prequantized or "bf16").values()) * 1024**3
            self._scale = min(1.0, source.weights_bytes / full)
        plan = self._choose(device, source.prequantized, lambda: free_bytes(device))
        if backend == "official":
            plan = replace(plan, offload="none")
        emit("load", message=plan.reason)
        dtype = getattr(torch, self.dtype)
        with _quiet_imports():
            if backend == "official":
                pipe = _official.load(source, device=device, dtype=dtype)
            else:
                pipe = self._load_diffusers(source, device, dtype, plan)
        self.source, self.device, self.backend = source, device, backend
        self.plan, self.quantization, self.offload = plan, plan.quantization, plan.offload
        self.pipe = pipe
        if backend == "diffusers":
            self._adopt(pipe)
        return self

    def _load_diffusers(self, source: ModelSource, device: str, dtype: Any, plan: Plan) -> Any:
        import torch
        from diffusers import Ideogram4Pipeline

        common: dict[str, Any] = {"local_files_only": self.offline}
        target = source.model
        if not _is_dir(source.model):
            # a Hub id: the loader fetches (or, offline, finds) the weights itself
            common.update(revision=self.revision, token=self.token, cache_dir=self.cache_dir)
        mode = plan.quantization
        shuttle = Shuttle(None, plan.offload, device, placement=self._placement())
        try:
            if mode == "nf4":
                overrides = self._load_nf4_components(target, source, device, dtype, shuttle, common)
                pipe = Ideogram4Pipeline.from_pretrained(target, dtype=dtype, **overrides, **common)
            else:
                pipe = Ideogram4Pipeline.from_pretrained(target, dtype=dtype, **common)
        except RenderError:
            raise
        except Exception as exc:  # map the loader's many failure types to one line
            raise RenderError(_load_error(source.model, exc)) from None
        shuttle.pipe = pipe
        if mode in ("fp8", "fp8-weights"):
            # text encoder first: under a plan that parks it, it leaves before the DiTs arrive
            quantize_pipeline(pipe, mode, device=device, dtype=dtype, after=shuttle.settle,
                              text_encoder=plan.offload == "none", placement=shuttle.placement)
        shuttle.place()
        self._shuttle = shuttle
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        return pipe

    def _load_nf4_components(self, target: str, source: ModelSource, device: str, dtype: Any, shuttle: Shuttle,
                             common: dict[str, Any]) -> dict[str, Any]:
        """Load the text encoder and both DiTs as NF4, one at a time, each straight to its place.

        Pre-quantized folders carry their quantization config; bf16 weights are
        quantized by bitsandbytes while they load (both loaders' own support).
        """
        import torch
        from diffusers import BitsAndBytesConfig as DiffusersBnb
        from diffusers import Ideogram4Transformer2DModel
        from transformers import BitsAndBytesConfig as TransformersBnb
        from transformers import Qwen3VLModel

        prequantized = source.prequantized == "nf4"
        spec = {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4", "bnb_4bit_compute_dtype": dtype}
        on_gpu = {"": torch.device(device)}
        overrides: dict[str, Any] = {}
        placement = shuttle.placement
        te_kwargs = {} if prequantized else {"quantization_config": TransformersBnb(**spec)}
        overrides["text_encoder"] = Qwen3VLModel.from_pretrained(
            target, subfolder="text_encoder", dtype=dtype, device_map=on_gpu, **te_kwargs, **common
        ).eval()
        shuttle.settle("text_encoder", overrides["text_encoder"])
        for name in ("transformer", "unconditional_transformer"):
            dit_kwargs = {} if prequantized else {"quantization_config": DiffusersBnb(**spec)}
            where = {"": torch.device(placement[name])} if name in placement else on_gpu
            overrides[name] = Ideogram4Transformer2DModel.from_pretrained(
                target, subfolder=name, dtype=dtype, device_map=where, **dit_kwargs, **common
            ).eval()
            shuttle.settle(name, overrides[name])
        return overrides

    def _take(self, pipe: Any) -> None:
        """Adopt a pipeline given to the constructor; apply an explicit quantization or plan to it.

        With both ``quantization`` and ``offload`` left to ``auto`` the pipeline
        is used exactly as given. Otherwise ``auto`` quantization keeps its
        weights as they are, and the plan is chosen against the device's free
        memory plus what the pipeline already holds there.
        """
        import torch

        device = str(getattr(pipe, "_execution_device", None) or pipe.device)
        self.devices = self._resolve_devices()
        if self.device_requested != "auto":
            device = self._resolve_device()
        if device == "cuda":
            device = f"cuda:{torch.cuda.current_device()}"
        self.device = device
        if self.quantization_requested == "auto" and self.offload_requested == "auto":
            split = f", split over {' and '.join(self.devices)}" if self.devices else ""
            self.plan = Plan("bf16", "none", 0.0, None, f"auto: the given pipeline is used as it is{split}")
            if self.devices:  # the weights as they are; the unconditional DiT moves to its device
                self._shuttle = Shuttle(pipe, "none", device, placement=self._placement())
                self._shuttle.place()
        else:
            modules = [getattr(pipe, n, None) for n in COMPONENTS]
            modules = [m for m in modules if m is not None]
            params = sum(_logical_numel(p) for m in modules for p in m.parameters())
            self._scale = min(1.0, params / _FULL_PARAMS)

            def budget() -> int:
                kind = device.split(":", 1)[0]
                return free_bytes(device) + (sum(module_bytes(m, kind) for m in modules) if kind == "cuda" else 0)

            saved = self.quantization_requested
            if saved == "auto":
                self.quantization_requested = "bf16"
            try:
                self.plan = self._choose(device, None, budget)
            finally:
                self.quantization_requested = saved
            dtype = getattr(torch, self.dtype)
            shuttle = Shuttle(pipe, self.plan.offload, device, placement=self._placement())
            with _quiet_imports():
                # the split's DiT goes to its device first: quantized weights stay where they are made
                if self.devices:
                    shuttle.settle("unconditional_transformer")
                quantize_pipeline(pipe, self.plan.quantization, device=device, dtype=dtype, after=shuttle.settle,
                                  text_encoder=self.plan.offload == "none" or self.plan.quantization not in FP8_MODES,
                                  placement=shuttle.placement)
            shuttle.place()
            self._shuttle = shuttle
        self.quantization, self.offload = self.plan.quantization, self.plan.offload
        self._adopt(pipe)

    def _adopt(self, pipe: Any) -> None:
        """Wire progress, caching, the memory plan and the speed layer into a diffusers pipeline."""
        pipe.set_progress_bar_config(disable=True)
        if self.device is None:
            self.device = str(getattr(pipe, "_execution_device", None) or pipe.device)
        if self.quantization is None:
            self.quantization = "bf16"
        if self.offload is None:
            self.offload = "none"
        if self._shuttle is None:
            self._shuttle = Shuttle(pipe, "none", self.device)
        self._tracker = PeakTracker(self.device)
        self._processors = _fast.install_processors(pipe) if self.optimize else []
        for name in ("transformer", "unconditional_transformer"):
            if getattr(pipe, name, None) is not None:
                _fast.slim_text_projection(getattr(pipe, name))
        original = type(pipe).encode_prompt.__get__(pipe)
        shuttle, tracker = self._shuttle, self._tracker

        def encode_prompt(prompt: Any, grid_h: int, grid_w: int, max_sequence_length: int, device: Any) -> Any:
            # The last caption's encoding is kept (its text part only, about 0.05 GB
            # for 500 tokens) across renders, so more seeds of the same caption
            # never bring a parked text encoder back.
            key = (tuple([prompt] if isinstance(prompt, str) else prompt), grid_h, grid_w, max_sequence_length, str(device))
            if self._encode_cache is None or self._encode_cache[0] != key:
                if self._emit is not None:
                    self._emit("encode", **self._fields)
                shuttle.before_encode()
                tracker.phase("encode")
                try:
                    packed = _encode_compact(pipe, original, prompt, grid_h, grid_w, max_sequence_length, device)
                finally:
                    tracker.phase("_park")
                    shuttle.after_encode()
                self._encode_cache = (key, packed)
            tracker.phase("denoise")
            return _unpack_encoding(self._encode_cache[1], grid_h * grid_w)

        object.__setattr__(pipe, "encode_prompt", encode_prompt)
        if self.devices:
            self._split = GuidanceSplit(self.devices[0], self.devices[1])
        self._wrap_conditional(pipe)
        self._wrap_unconditional(pipe)
        shuttle.skip = self._skips
        compile_on = self.compile_requested
        if compile_on == "auto":
            compile_on = _fast.compile_supported(self.device)[0] and self.optimize
        if compile_on:
            self.compile_cache = compile_cache.activate()
            _fast.compile_blocks(pipe, dynamic=self.compile_dynamic)
            self.compiled = True

    def _skips(self, name: str) -> bool:
        """Whether the next forward of component ``name`` is skipped by the guidance cut."""
        cfg = self._cfg
        return name == "unconditional_transformer" and cfg is not None and cfg["calls"] >= cfg["cut"]

    def _wrap_unconditional(self, pipe: Any) -> None:
        """Let the guidance cut skip the unconditional transformer after its last guided step."""
        model = getattr(pipe, "unconditional_transformer", None)
        if model is None:
            return
        # wrap the model's own forward once, even when a second renderer adopts the pipeline
        forward = getattr(model, "_captionkit_forward", None) or model.forward
        object.__setattr__(model, "_captionkit_forward", forward)

        def guided_forward(*args: Any, **kwargs: Any) -> Any:
            cfg = self._cfg
            if cfg is not None:
                skip = cfg["calls"] >= cfg["cut"]
                cfg["calls"] += 1
                if skip:
                    # With the step's guidance weight set to 1, v = 1*cond + 0*uncond:
                    # any finite tensor of the right shape stands in for the skipped pass.
                    import torch

                    hidden = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
                    out = torch.zeros_like(hidden)
                    if kwargs.get("return_dict", True):
                        from diffusers.models.modeling_outputs import Transformer2DModelOutput

                        return Transformer2DModelOutput(sample=out)
                    return (out,)
            if self._split is not None:
                return self._split.unconditional(forward, args, kwargs)
            return forward(*args, **kwargs)

        object.__setattr__(model, "forward", guided_forward)

    def _wrap_conditional(self, pipe: Any) -> None:
        """Under the guidance split, queue each step's unconditional pass before the conditional one."""
        model = getattr(pipe, "transformer", None)
        other = getattr(pipe, "unconditional_transformer", None)
        if model is None or other is None:
            return
        forward = getattr(model, "_captionkit_forward", None) or model.forward
        object.__setattr__(model, "_captionkit_forward", forward)

        def split_forward(*args: Any, **kwargs: Any) -> Any:
            split = self._split
            if split is None:
                return forward(*args, **kwargs)
            uncond = getattr(other, "_captionkit_forward", None) or other.forward
            return split.conditional(forward, uncond, not self._skips("unconditional_transformer"), args, kwargs)

        object.__setattr__(model, "forward", split_forward)

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
        cfg_until: float | None | Literal["default"] = "default",
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
            cfg_until: The guidance cut for this render (a fraction, or None
                for full guidance); the renderer's ``cfg_until`` when left out.
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
        cut = self.cfg_until if cfg_until == "default" else check_cfg_until(cfg_until)
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
        if cut is not None and self.backend_requested == "official":
            raise RenderError("--cfg-until needs the diffusers backend (the official pipeline has no per-step hook)")
        self.load(on_progress)
        return self._render_prepared(
            prepared, params, width, height, seed_list, batch_size, label, item, items, on_progress, cancel, cut
        )

    def _tiling_for(self, width: int, height: int) -> bool:
        req = self.vae_tiling_requested
        if req != "auto":
            return bool(req)
        plan = self.plan
        if plan is None or plan.budget_gib is None or not str(self.device).startswith("cuda"):
            return False
        return needs_tiling(plan.quantization, plan.offload, width, height, plan.budget_gib, self._scale,
                            split=bool(self.devices))

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
        cfg_until: float | None = None,
    ) -> list[RenderResult]:
        emit = _Emitter(on_progress, cancel)
        self._fields = {"item": item, "items": items, "steps": params.steps, "label": label}
        tiled = self.backend != "official" and self._tiling_for(width, height)
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
            cfg_until=cfg_until,
            vae_tiling=tiled,
            devices=tuple(self.devices or ()),
            versions=_versions(),
        )
        if self.backend == "official":
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
        schedule = list(params.diffusers_schedule())
        guided = guided_steps(cfg_until, steps)
        # After the cut a step's weight is 1: v = cond; the skipped pass adds nothing.
        schedule[guided:] = [1.0] * (steps - guided)
        vae = self.pipe.vae
        if tiled:
            vae.enable_tiling()
        else:
            vae.disable_tiling()
        if self.offload != "none":
            vae.enable_slicing()
        tracker = self._tracker

        def on_step(pipe: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            emit("step", step=i + 1, **self._fields)
            if i + 1 == steps:
                tracker.phase("decode")
                emit("decode", step=steps, **self._fields)
            return {}

        results: list[RenderResult] = []
        self._emit = emit
        tracker.peaks.clear()
        tracker.activations.clear()
        try:
            for start in range(0, len(seeds), batch_size):
                chunk = seeds[start : start + batch_size]
                t0 = time.perf_counter()
                generators = [torch.Generator("cpu").manual_seed(s) for s in chunk]
                self._cfg = {"cut": guided, "calls": 0} if guided < steps else None
                if self._split is not None:
                    self._split.reset()
                    if str(self._split.secondary).startswith("cuda"):
                        torch.cuda.reset_peak_memory_stats(self._split.secondary)
                tracker.phase("_prepare")
                with torch.inference_mode(), warnings.catch_warnings():
                    # transformers' deprecation notices about arguments diffusers passes
                    warnings.simplefilter("ignore", FutureWarning)
                    out = self.pipe(
                        prompt=[prepared.text],
                        height=height,
                        width=width,
                        num_inference_steps=steps,
                        guidance_scale=None,
                        guidance_schedule=schedule,
                        mu=params.mu,
                        std=params.std,
                        max_sequence_length=msl,
                        num_images_per_prompt=len(chunk),
                        generator=generators,
                        output_type="pil",
                        callback_on_step_end=on_step,
                    )
                tracker.phase(None)
                seconds = time.perf_counter() - t0
                self.call_times.append(seconds)
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
            self._cfg = None
            if self._split is not None:
                self._split.reset()
            for name in list(tracker.peaks):
                if name.startswith("_"):
                    tracker.peaks.pop(name)
                    tracker.activations.pop(name, None)
        return results

    @property
    def first_call_seconds(self) -> float | None:
        """Wall time of the first pipeline call (compilation included), None before any."""
        return self.call_times[0] if self.call_times else None

    @property
    def later_call_seconds(self) -> float | None:
        """Median wall time of the pipeline calls after the first, None before a second."""
        later = sorted(self.call_times[1:])
        return later[len(later) // 2] if later else None

    def memory(self) -> MemoryReport:
        """Memory now: weights per component (on the device and parked), activation peaks, reserved, RSS."""
        weights: dict[str, int] = {}
        parked: dict[str, int] = {}
        second: dict[str, int] = {}
        placement = self._placement()
        if self.pipe is not None and self.backend == "diffusers":
            kind = str(self.device).split(":", 1)[0]
            for name in COMPONENTS:
                module = getattr(self.pipe, name, None)
                if module is None:
                    continue
                # the guidance split's second device holds its components apart (same device type)
                (second if name in placement else weights)[name] = module_bytes(module, kind)
                if kind != "cpu":
                    away = module_bytes(module, "cpu")
                    if away:
                        parked[name] = away
        report = memory_report(self.device, weights=weights, parked=parked, tracker=self._tracker)
        if self.devices and self.devices[1].startswith("cuda"):
            other = memory_report(self.devices[1], weights=second)
            report = replace(report, second=other)
        return report


def _logical_numel(p: Any) -> int:
    """Parameters a tensor stands for (an NF4 parameter stores two per byte; its quant state knows the shape)."""
    state = getattr(p, "quant_state", None)
    shape = getattr(state, "shape", None)
    return int(math.prod(shape)) if shape is not None else int(p.numel())


def _encode_compact(pipe: Any, original: Any, prompt: Any, grid_h: int, grid_w: int, msl: int, device: Any) -> Any:
    """Text features in the DiTs' dtype and the layout ids, without the image part's zero features.

    diffusers' ``encode_prompt`` returns float32 features for the whole
    text+image sequence, the image part all zeros (3.3 GiB at 2048x2048), and
    the pipeline then casts them to the DiTs' dtype. Encoding for a one-token
    image and building the layout for the real grid gives the same values
    (the text encoder sees only the text) in a fraction of the memory.
    """
    from diffusers.pipelines.ideogram4 import pipeline_ideogram4 as p4

    embeds, _pos, _seg, indicator = original(prompt, 1, 1, msl, device)
    text = embeds[:, :msl].to(pipe.transformer.dtype)
    lengths = (indicator[:, :msl] == p4.LLM_TOKEN_INDICATOR).sum(dim=1).tolist()
    ids = type(pipe)._prepare_ids(lengths, grid_h, grid_w, msl, text.device)
    return (text, *ids)


def _unpack_encoding(packed: tuple[Any, ...], image_tokens: int) -> tuple[Any, ...]:
    """Rebuild ``encode_prompt``'s output from the cached text features (the image part is zeros)."""
    import torch

    text, *ids = packed
    pad = torch.zeros(text.shape[0], image_tokens, text.shape[-1], dtype=text.dtype, device=text.device)
    return (torch.cat([text, pad], dim=1), *ids)


def guided_steps(cfg_until: float | None, steps: int) -> int:
    """How many of ``steps`` keep the unconditional pass under a guidance cut.

    A step ``i`` (0-based) is guided while ``i / steps < cfg_until``.

    >>> guided_steps(None, 20), guided_steps(0.6, 20), guided_steps(0.61, 20), guided_steps(0.0, 20)
    (20, 12, 13, 0)
    """
    if cfg_until is None:
        return steps
    return sum(1 for i in range(steps) if i / steps < cfg_until)


def check_cfg_until(value: float | None) -> float | None:
    """Validate a guidance-cut fraction.

    >>> check_cfg_until(0.6), check_cfg_until(None)
    (0.6, None)
    >>> check_cfg_until(1.5)
    Traceback (most recent call last):
    ...
    captionkit.render.errors.RenderError: --cfg-until must be a fraction of the steps between 0 and 1, got 1.5
    """
    if value is None:
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise RenderError(f"--cfg-until must be a number between 0 and 1, got {value!r}") from None
    if not (math.isfinite(f) and 0.0 <= f <= 1.0) or isinstance(value, bool):
        raise RenderError(f"--cfg-until must be a fraction of the steps between 0 and 1, got {value!r}")
    return f


def _check_devices(devices: Sequence[str] | None, device: str) -> list[str] | None:
    """Validate the guidance split's devices (before anything loads)."""
    if devices is None:
        return None
    if isinstance(devices, str):
        raise RenderError(f"devices: give a list of two devices, not the string {devices!r}")
    names = [str(d).strip() for d in devices]
    if len(names) != 2:
        raise RenderError(f"devices: the guidance split uses exactly two devices, got {len(names)} ({', '.join(names)})")
    for name in names:
        if name == "auto" or not _DEVICE_RE.fullmatch(name):
            raise RenderError(f"devices: unknown device {name!r}; give cuda:N (or cpu for tests)")
    kinds = {n.split(":", 1)[0] for n in names}
    if len(kinds) != 1:
        raise RenderError(f"devices: {names[0]} and {names[1]} are different kinds of device; give two GPUs")
    if kinds == {"cuda"}:
        names = [n if ":" in n else "cuda:0" for n in names]
        if names[0] == names[1]:
            raise RenderError(f"devices: {names[0]} twice; give two different GPUs (or one --device)")
    if device not in ("auto", names[0]):
        raise RenderError(f"device {device} and devices {','.join(names)}: the first of --devices is the render device")
    return names


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
        return f"model {model}: {text}; this needs a GPU, use --quantization fp8-weights or bf16"
    if "create_causal_mask" in text or "cache_position" in text:
        return f"model {model}: transformers version not supported by diffusers' Ideogram 4 pipeline ({text}); use transformers>=5.4"
    return f"model {model}: cannot load ({name}: {text})"


def _runtime_error(label: str, exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "out of memory" in text.lower():
        return f"{label}: out of GPU memory ({text}); try a smaller size, --batch-size 1, --offload text-encoder or model, or --quantization nf4"
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
