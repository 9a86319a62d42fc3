"""PNG metadata: the full render recipe stored in text chunks, and read back.

Two chunks are written: ``caption`` holds the canonical caption exactly as it
reached the model, and ``captionkit`` holds the rest of the recipe as JSON
(seed, sampler parameters, size, backend, model id and revision, dtype,
library versions). Rendering from :func:`read_recipe` reproduces the image.

>>> import io
>>> from PIL import Image
>>> from captionkit.render.presets import PRESETS
>>> r = Recipe(caption='{"compositional_deconstruction":{"background":"x","elements":[]}}',
...            seed=7, preset=PRESETS["V4_TURBO_12"], width=256, height=256)
>>> buf = io.BytesIO(png_bytes(Image.new("RGB", (8, 8)), r))
>>> read_recipe(buf) == r
True
"""

from __future__ import annotations

import importlib
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from captionkit._io import write_atomic
from captionkit.render.errors import RenderError
from captionkit.render.presets import Preset

__all__ = ["CAPTION_KEY", "RECIPE_KEY", "Recipe", "RenderResult", "png_bytes", "read_recipe", "write_atomic", "write_png"]

CAPTION_KEY = "caption"
RECIPE_KEY = "captionkit"
_FORMAT = 1


@dataclass(frozen=True)
class Recipe:
    """Everything needed to render one image again.

    Attributes:
        caption: The canonical caption string given to the model.
        seed: Seed of the CPU generator that drew the initial noise.
        preset: Sampler parameters (steps, schedule in run order, mu, std).
        width: Image width in pixels.
        height: Image height in pixels.
        backend: ``"diffusers"`` or ``"official"``.
        model: Hub repo id or local folder name of the weights.
        revision: Hub commit of the weights, when known.
        dtype: Compute dtype (``"bfloat16"``...).
        quantization: The resolved mode: ``"bf16"``, ``"fp8"``, ``"fp8-weights"``, ``"nf4"``
            (``"none"`` in recipes written before ``bf16`` was its name).
        cfg_until: The guidance cut (fraction of the steps that ran the
            unconditional transformer), None for full guidance.
        vae_tiling: Whether the VAE decoded in tiles (this changes pixels slightly).
        devices: The guidance split's two devices, empty on one device (how
            it ran, not what: the split renders the same image).
        versions: Library versions (captionkit, diffusers, torch, ...).
    """

    caption: str
    seed: int
    preset: Preset
    width: int
    height: int
    backend: str = "diffusers"
    model: str | None = None
    revision: str | None = None
    dtype: str | None = None
    quantization: str | None = None
    cfg_until: float | None = None
    vae_tiling: bool = False
    devices: tuple[str, ...] = field(default=(), compare=False)
    versions: Mapping[str, str] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The JSON record stored in the ``captionkit`` chunk (the caption is stored apart)."""
        return {
            "format": _FORMAT,
            "seed": self.seed,
            "preset": self.preset.to_dict(),
            "size": [self.width, self.height],
            "backend": self.backend,
            "model": self.model,
            "revision": self.revision,
            "dtype": self.dtype,
            "quantization": self.quantization,
            "cfg_until": self.cfg_until,
            "vae_tiling": self.vae_tiling,
            **({"devices": list(self.devices)} if self.devices else {}),
            "versions": dict(self.versions),
        }

    def with_seed(self, seed: int) -> Recipe:
        """A copy with another seed."""
        return replace(self, seed=seed)


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


def png_bytes(image: Any, recipe: Recipe) -> bytes:
    """Encode a PIL image as PNG with the recipe in text chunks."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    # iTXt keeps the caption's UTF-8 exactly; tEXt is Latin-1 only.
    info.add_itxt(CAPTION_KEY, recipe.caption)
    info.add_itxt(RECIPE_KEY, json.dumps(recipe.to_dict(), ensure_ascii=False, separators=(",", ":")))
    info.add_text("Software", f"captionkit {recipe.versions.get('captionkit', '')}".strip())
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def write_png(image: Any, path: str | os.PathLike[str], recipe: Recipe) -> Path:
    """Save ``image`` as a PNG with metadata, atomically. Returns the path."""
    write_atomic(path, png_bytes(image, recipe))
    return Path(path)


def _fraction(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"cfg_until must be a fraction between 0 and 1, got {value!r}")
    return float(value)


def _devices(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"devices must be a list of device names, got {value!r}")
    return tuple(value)


def read_recipe(source: str | os.PathLike[str] | IO[bytes]) -> Recipe:
    """Read the render recipe from a PNG written by captionkit.

    Args:
        source: A path or a binary file object.

    Raises:
        RenderError: not a readable image, or no captionkit metadata in it.
    """
    from PIL import Image, UnidentifiedImageError

    name = getattr(source, "name", None) or str(source)
    try:
        with Image.open(source) as img:
            chunks = dict(getattr(img, "text", {}) or {})
    except FileNotFoundError:
        raise RenderError(f"{name}: no such file") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise RenderError(f"{name}: not a readable image ({exc})") from None
    if CAPTION_KEY not in chunks or RECIPE_KEY not in chunks:
        raise RenderError(f"{name}: no captionkit render metadata (missing '{CAPTION_KEY}' or '{RECIPE_KEY}' chunk)")
    try:
        data = json.loads(chunks[RECIPE_KEY])
        width, height = data["size"]
        return Recipe(
            caption=chunks[CAPTION_KEY],
            seed=int(data["seed"]),
            preset=Preset.from_dict(data["preset"]),
            width=int(width),
            height=int(height),
            backend=str(data.get("backend") or "diffusers"),
            model=data.get("model"),
            revision=data.get("revision"),
            dtype=data.get("dtype"),
            quantization=data.get("quantization"),
            cfg_until=_fraction(data.get("cfg_until")),
            vae_tiling=bool(data.get("vae_tiling", False)),
            devices=_devices(data.get("devices")),
            versions=dict(data.get("versions") or {}),
        )
    except RenderError as exc:
        raise RenderError(f"{name}: {exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise RenderError(f"{name}: malformed '{RECIPE_KEY}' metadata ({exc!r})") from None
