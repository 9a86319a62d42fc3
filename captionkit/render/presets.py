"""Sampler presets: steps, guidance schedule, ``mu`` and ``std`` as one value.

The two pipelines read a guidance schedule in opposite orders. diffusers reads
it in *run order* (index 0 is the first, noisiest step); the official
``ideogram4`` package reads it in *loop-index order* (index 0 is the last,
low-guidance "polish" step). A :class:`Preset` stores run order only and
converts explicitly, so a schedule can never reach a backend reversed.

>>> p = PRESETS["V4_TURBO_12"]
>>> p.diffusers_schedule()[-2:], p.official_schedule()[:2]
((7.0, 3.0), (3.0, 7.0))
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from captionkit.render.errors import RenderError

__all__ = ["DEFAULT_PRESET", "PRESETS", "Preset", "resolve_preset"]

ScheduleOrder = Literal["run", "official"]


@dataclass(frozen=True)
class Preset:
    """A complete sampler recipe.

    Attributes:
        name: Preset name (``"custom"`` for hand-made parameters).
        steps: Number of denoising steps.
        schedule: Guidance weight per step in **run order** (first step first).
        mu: Base mean of the logit-normal sigma schedule.
        std: Spread of the logit-normal sigma schedule.

    Examples:
        >>> Preset.custom(steps=4, guidance=5.0).schedule
        (5.0, 5.0, 5.0, 5.0)
        >>> Preset.custom(steps=3, schedule=[3.0, 7.0, 7.0], order="official").schedule
        (7.0, 7.0, 3.0)
    """

    name: str
    steps: int
    schedule: tuple[float, ...] = field(repr=False)
    mu: float = 0.0
    std: float = 1.75

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps < 1:
            raise RenderError(f"preset {self.name}: steps must be a positive integer, got {self.steps!r}")
        if len(self.schedule) != self.steps:
            raise RenderError(
                f"preset {self.name}: guidance schedule has length {len(self.schedule)}, expected steps={self.steps}"
            )
        for i, g in enumerate(self.schedule):
            if not math.isfinite(g):
                raise RenderError(f"preset {self.name}: guidance schedule[{i}] is not a finite number ({g!r})")
        if not math.isfinite(self.mu):
            raise RenderError(f"preset {self.name}: mu must be finite, got {self.mu!r}")
        if not (math.isfinite(self.std) and self.std > 0):
            raise RenderError(f"preset {self.name}: std must be a positive number, got {self.std!r}")

    @classmethod
    def custom(
        cls,
        *,
        steps: int,
        guidance: float | None = None,
        schedule: Sequence[float] | None = None,
        order: ScheduleOrder = "run",
        mu: float = 0.0,
        std: float = 1.75,
        name: str = "custom",
    ) -> Preset:
        """Build custom parameters; exactly one of ``guidance`` and ``schedule``.

        Args:
            steps: Number of denoising steps.
            guidance: A constant guidance weight for every step.
            schedule: A per-step guidance schedule.
            order: The order ``schedule`` is written in: ``"run"`` (diffusers) or
                ``"official"`` (loop-index order of the ``ideogram4`` package).
            mu: Base mean of the sigma schedule.
            std: Spread of the sigma schedule.
            name: Name recorded in metadata.

        Raises:
            RenderError: both or neither of ``guidance`` and ``schedule``, a wrong
                length, or a bad order name.

        Examples:
            >>> Preset.custom(steps=2, guidance=4.0, schedule=[1, 2])
            Traceback (most recent call last):
            ...
            captionkit.render.errors.RenderError: give either a constant guidance or a guidance schedule, not both
        """
        if (guidance is None) == (schedule is None):
            if guidance is None:
                raise RenderError("give a constant guidance or a guidance schedule")
            raise RenderError("give either a constant guidance or a guidance schedule, not both")
        if order not in ("run", "official"):
            raise RenderError(f"schedule order must be 'run' or 'official', got {order!r}")
        if schedule is None:
            values = (float(guidance),) * steps  # type: ignore[arg-type]
        else:
            values = tuple(float(g) for g in schedule)
            if order == "official":
                values = values[::-1]
        return cls(name=name, steps=steps, schedule=values, mu=float(mu), std=float(std))

    @classmethod
    def from_official(cls, name: str, params: Any) -> Preset:
        """Convert an official ``ideogram4`` ``SamplerParameters`` value.

        Args:
            name: The preset's name.
            params: An object with ``num_steps``, ``guidance_schedule`` (loop-index
                order), ``mu`` and ``std``.

        Examples:
            >>> from types import SimpleNamespace
            >>> official = SimpleNamespace(num_steps=2, guidance_schedule=(3.0, 7.0), mu=0.5, std=1.0)
            >>> Preset.from_official("x", official).schedule
            (7.0, 3.0)
        """
        return cls.custom(
            steps=int(params.num_steps),
            schedule=list(params.guidance_schedule),
            order="official",
            mu=float(params.mu),
            std=float(getattr(params, "std", 1.0)),
            name=name,
        )

    def diffusers_schedule(self) -> tuple[float, ...]:
        """The schedule in diffusers' run order (index 0 is the first step)."""
        return self.schedule

    def official_schedule(self) -> tuple[float, ...]:
        """The schedule in the official package's loop-index order (index 0 is the last step)."""
        return self.schedule[::-1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (schedule in run order), as stored in PNG metadata.

        >>> PRESETS["V4_TURBO_12"].to_dict()["schedule_order"]
        'run'
        """
        return {
            "name": self.name,
            "steps": self.steps,
            "schedule": list(self.schedule),
            "schedule_order": "run",
            "mu": self.mu,
            "std": self.std,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preset:
        """Inverse of :meth:`to_dict`.

        >>> p = PRESETS["V4_DEFAULT_20"]
        >>> Preset.from_dict(p.to_dict()) == p
        True
        """
        try:
            order = data.get("schedule_order", "run")
            return cls.custom(
                steps=int(data["steps"]),
                schedule=[float(g) for g in data["schedule"]],
                order=order,
                mu=float(data["mu"]),
                std=float(data["std"]),
                name=str(data.get("name", "custom")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, RenderError):
                raise
            raise RenderError(f"sampler parameters are incomplete or malformed ({exc})") from None


def _official_preset(name: str, steps: int, polish: int, mu: float, std: float) -> Preset:
    # Written the way the official package writes them (loop-index order), then
    # converted once, so the table above can be checked against the source.
    official = (3.0,) * polish + (7.0,) * (steps - polish)
    return Preset.custom(steps=steps, schedule=official, order="official", mu=mu, std=std, name=name)


PRESETS: dict[str, Preset] = {
    "V4_QUALITY_48": _official_preset("V4_QUALITY_48", 48, 3, 0.0, 1.5),
    "V4_DEFAULT_20": _official_preset("V4_DEFAULT_20", 20, 2, 0.0, 1.75),
    "V4_TURBO_12": _official_preset("V4_TURBO_12", 12, 1, 0.5, 1.75),
}
"""The three official presets, keyed by their official names."""

DEFAULT_PRESET = "V4_DEFAULT_20"

_ALIASES = {"quality": "V4_QUALITY_48", "default": "V4_DEFAULT_20", "turbo": "V4_TURBO_12"}


def resolve_preset(name_or_preset: str | Preset) -> Preset:
    """Look a preset up by its official name or a short alias (quality, default, turbo).

    Args:
        name_or_preset: A name, an alias (case-insensitive), or a :class:`Preset`.

    Raises:
        RenderError: the name is unknown.

    Examples:
        >>> resolve_preset("turbo").name
        'V4_TURBO_12'
        >>> resolve_preset("fast")
        Traceback (most recent call last):
        ...
        captionkit.render.errors.RenderError: unknown preset 'fast'; choose one of V4_QUALITY_48, V4_DEFAULT_20, V4_TURBO_12 (or quality, default, turbo)
    """
    if isinstance(name_or_preset, Preset):
        return name_or_preset
    key = str(name_or_preset)
    if key in PRESETS:
        return PRESETS[key]
    alias = _ALIASES.get(key.lower())
    if alias is None:
        upper = key.upper()
        if upper in PRESETS:
            return PRESETS[upper]
        raise RenderError(
            f"unknown preset {key!r}; choose one of {', '.join(PRESETS)} (or {', '.join(_ALIASES)})"
        )
    return PRESETS[alias]
