"""Where the weights come from: a Hub repo id or a local folder, and the local cache.

Maps the Hub's errors (gated repo, missing token, offline cache miss) to one
line each, and tells the diffusers folder layout from the official fused one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from captionkit.render.errors import RenderError

__all__ = [
    "DEFAULT_MODEL", "CachedModel", "ModelSource", "list_cached_models", "local_tokenizer", "offline_mode",
    "resolve_source",
]

DEFAULT_MODEL = "ideogram-ai/ideogram-v4"
"""The repo id used by diffusers' own ``Ideogram4Pipeline`` example."""

Layout = Literal["diffusers", "official"]


@dataclass(frozen=True)
class ModelSource:
    """A resolved weight source.

    Attributes:
        model: The repo id or the local folder as given.
        path: Local folder holding the weights (a cache snapshot or the folder
            itself), or None when they still have to be downloaded.
        layout: ``diffusers`` (``model_index.json``) or ``official`` (fused DiT keys).
        revision: The Hub commit when known.
        prequantized: ``nf4``/``fp8`` when the stored weights are already quantized.
        weights_bytes: Total size of the weight files when known locally.
    """

    model: str
    path: Path | None
    layout: Layout
    revision: str | None = None
    prequantized: str | None = None
    weights_bytes: int | None = None


def offline_mode(offline: bool | None = None) -> bool:
    """Whether Hub access is off: the argument when given, else ``HF_HUB_OFFLINE``.

    >>> offline_mode(True)
    True
    """
    if offline is not None:
        return offline
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _is_local(model: str) -> bool:
    return model.startswith((".", "/", "~")) or os.path.isdir(os.path.expanduser(model))


def local_tokenizer(model: str | os.PathLike[str] | None) -> Path | None:
    """The ``tokenizer/tokenizer.json`` of a local model folder, or None (a Hub id, or no tokenizer there).

    Used to count a caption's tokens exactly before the pipeline loads.

    >>> local_tokenizer("ideogram-ai/ideogram-v4") is None
    True
    """
    if model is None:
        return None
    folder = Path(os.path.expanduser(os.fspath(model)))
    for candidate in (folder / "tokenizer" / "tokenizer.json", folder / "tokenizer.json"):
        if candidate.is_file():
            return candidate
    return None


def _folder_info(path: Path) -> tuple[Layout, str | None, int]:
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin"))
    if (path / "model_index.json").is_file():
        layout: Layout = "diffusers"
    elif (path / "transformer").is_dir():
        layout = "official"
    else:
        raise RenderError(
            f"{path}: not an Ideogram 4 model folder (no model_index.json and no transformer/ folder)"
        )
    prequant = None
    cfg = path / "transformer" / "config.json"
    if cfg.is_file():
        try:
            data = json.loads(cfg.read_text(encoding="utf-8"))
        except ValueError:
            data = {}
        q = data.get("quantization_config") or {}
        if q.get("load_in_4bit") or q.get("bnb_4bit_quant_type") == "nf4" or q.get("quant_method") == "bitsandbytes":
            prequant = "nf4"
        elif data.get("ideogram_fp8_weight_only"):
            prequant = "fp8"
    if prequant is None and "nf4" in path.name.lower():
        prequant = "nf4"
    return layout, prequant, size


def resolve_source(
    model: str | os.PathLike[str] = DEFAULT_MODEL,
    *,
    revision: str | None = None,
    token: str | None = None,
    offline: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> ModelSource:
    """Resolve ``model`` before loading, with one-line errors for every Hub failure.

    Args:
        model: A Hub repo id (``org/name``) or a local folder.
        revision: Branch, tag or commit on the Hub.
        token: Hub token; ``HF_TOKEN`` applies when None.
        offline: Forbid network access (``HF_HUB_OFFLINE`` when None).
        cache_dir: Hugging Face cache folder override.

    Raises:
        RenderError: missing folder, gated repo, missing token, unknown repo, or
            weights not cached while offline.
    """
    name = os.fspath(model)
    if _is_local(name):
        path = Path(os.path.expanduser(name))
        if not path.is_dir():
            raise RenderError(f"model folder {name}: no such directory")
        layout, prequant, size = _folder_info(path)
        return ModelSource(name, path, layout, None, prequant, size)
    if name.count("/") != 1:
        raise RenderError(f"model {name!r}: expected a Hub repo id like org/name or a local folder")

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    local_only = offline_mode(offline)
    try:
        # Only the small files: the layout and quantization come from configs,
        # the weights are fetched by the pipeline loader itself.
        folder = snapshot_download(
            name,
            revision=revision,
            token=token,
            cache_dir=cache_dir,
            local_files_only=local_only,
            allow_patterns=["model_index.json", "*/config.json", "*.index.json"],
        )
    except GatedRepoError:
        raise RenderError(
            f"model {name} is gated: accept its licence on the model's Hub page, then set HF_TOKEN "
            "(or run `hf auth login`) with an account that accepted it"
        ) from None
    except RepositoryNotFoundError:
        hint = "" if (token or os.environ.get("HF_TOKEN")) else "; if it is gated or private, set HF_TOKEN"
        raise RenderError(f"model {name}: repository not found or not accessible{hint}") from None
    except RevisionNotFoundError:
        raise RenderError(f"model {name}: revision {revision!r} not found") from None
    except LocalEntryNotFoundError:
        if local_only:
            raise RenderError(
                f"model {name} is not in the local Hugging Face cache and offline mode is on "
                "(HF_HUB_OFFLINE=1 or --offline); download it once with network access"
            ) from None
        raise RenderError(f"model {name}: cannot reach the Hub and nothing is cached") from None
    except OSError as exc:
        raise RenderError(f"model {name}: cannot fetch ({exc})") from None
    path = Path(folder)
    try:
        layout, prequant, _size = _folder_info(path)
    except RenderError:
        raise RenderError(f"model {name}: not an Ideogram 4 repository (no model_index.json, no transformer/)") from None
    if prequant is None and "nf4" in name.lower():
        prequant = "nf4"
    cached = _cached_weight_bytes(name, cache_dir)
    return ModelSource(name, path, layout, path.name if len(path.name) == 40 else revision, prequant, cached)


def _cached_weight_bytes(repo_id: str, cache_dir: Any) -> int | None:
    for entry in list_cached_models(cache_dir=cache_dir, only_ideogram=False):
        if entry.repo_id == repo_id:
            return entry.size_on_disk or None
    return None


@dataclass(frozen=True)
class CachedModel:
    """One Ideogram 4 repository found in the local Hugging Face cache.

    Attributes:
        repo_id: The repository id.
        size_on_disk: Bytes used on disk.
        revisions: Cached commit hashes.
        layout: ``diffusers``, ``official`` or ``partial`` (only some files).
        complete: Whether every component's weights are present in one revision.
        path: Folder of the repository in the cache.
    """

    repo_id: str
    size_on_disk: int
    revisions: tuple[str, ...]
    layout: str
    complete: bool
    path: Path

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {**self.__dict__, "revisions": list(self.revisions), "path": str(self.path)}


_COMPONENTS = ("transformer", "unconditional_transformer", "text_encoder", "vae")


def list_cached_models(cache_dir: str | os.PathLike[str] | None = None, *, only_ideogram: bool = True) -> list[CachedModel]:
    """List Ideogram 4 repositories in the local Hugging Face cache, biggest first.

    A repository counts when its id mentions "ideogram" or a cached
    ``model_index.json`` names ``Ideogram4Pipeline``.

    Args:
        cache_dir: The hub cache folder (``HF_HUB_CACHE`` / ``HF_HOME`` when None).
        only_ideogram: Keep only Ideogram 4 repositories.
    """
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache_dir)
    except CacheNotFound:
        return []
    found = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        layout, complete, ideogram = "partial", False, "ideogram" in repo.repo_id.lower()
        for rev in repo.revisions:
            names = {f.file_name for f in rev.files}
            paths = {str(f.file_path.relative_to(rev.snapshot_path)) for f in rev.files}
            index = rev.snapshot_path / "model_index.json"
            if "model_index.json" in names:
                try:
                    text = index.read_text(encoding="utf-8")
                except OSError:
                    text = ""
                if "Ideogram4Pipeline" in text:
                    ideogram = True
                layout = "diffusers"
            elif any(p.startswith("transformer/") for p in paths) and layout == "partial":
                layout = "official"
            have = {p.split("/", 1)[0] for p in paths if p.endswith((".safetensors", ".safetensors.index.json"))}
            if all(c in have for c in _COMPONENTS):
                complete = True
        if only_ideogram and not ideogram:
            continue
        found.append(
            CachedModel(
                repo.repo_id,
                repo.size_on_disk,
                tuple(sorted(r.commit_hash for r in repo.revisions)),
                layout,
                complete,
                Path(repo.repo_path),
            )
        )
    return sorted(found, key=lambda m: (-m.size_on_disk, m.repo_id))
