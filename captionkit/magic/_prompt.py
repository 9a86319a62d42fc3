"""System-prompt files: the sectioned format, our packaged prompt, and message building."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

#: The packaged prompt used when none is given.
DEFAULT_PROMPT = "captionkit-v1"

_DEFAULT_USER = "TARGET IMAGE ASPECT RATIO: {{aspect_ratio}} (width:height)."
_DEFAULT_REPAIR = (
    "Your previous reply could not be used. A strict checker reported:\n{{diagnostics}}\n\n"
    "Reply with the complete corrected JSON object only, on one line."
)
_DEFAULT_TRUNCATED = (
    "Your previous reply was cut off before the JSON object was complete. "
    "Reply again with the complete JSON object only, on one line, and keep it shorter."
)


def _is_marker(line: str) -> bool:
    s = line.strip()
    return len(s) > 2 and s.startswith("[") and s.endswith("]") and " " not in s


def parse_sections(text: str) -> dict[str, str]:
    """Split a prompt file into sections keyed by lower-cased marker name.

    Text before the first marker is discarded; each body is stripped.

    >>> parse_sections("notes\\n[SYSTEM]\\nBe brief.\\n[USER]\\nIdea: {{original_prompt}}\\n")
    {'system': 'Be brief.', 'user': 'Idea: {{original_prompt}}'}
    """
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if _is_marker(line):
            current = sections.setdefault(line.strip()[1:-1].strip().lower(), [])
            current.clear()
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines).strip() for name, lines in sections.items()}


@dataclass(frozen=True, slots=True)
class PromptFile:
    """A parsed system-prompt file.

    Attributes:
        name: The file's name without extension (``"captionkit-v1"``), or the path given.
        sections: Section bodies by lower-cased name (``system``, ``user``, ``meta``, ...).
        sha256: Hex digest of the file's UTF-8 bytes, recorded in every result.
    """

    name: str
    sections: dict[str, str] = field(repr=False)
    sha256: str

    @classmethod
    def from_text(cls, text: str, name: str = "<string>") -> PromptFile:
        """Parse a prompt file's text.

        Raises:
            ValueError: When the file has no ``[SYSTEM]`` section.

        >>> PromptFile.from_text("[SYSTEM]\\nBe brief.", name="tiny").system
        'Be brief.'
        """
        sections = parse_sections(text)
        if not sections.get("system"):
            raise ValueError(f"{name}: prompt file has no [SYSTEM] section")
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return cls(name=name, sections=sections, sha256=digest)

    @property
    def system(self) -> str:
        """The system message, verbatim."""
        return self.sections["system"]

    @property
    def meta(self) -> dict[str, str]:
        """``key: value`` lines of the ``[META]`` section (never sent)."""
        out: dict[str, str] = {}
        for line in self.sections.get("meta", "").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip():
                out[key.strip().lower()] = value.strip()
        return out

    @property
    def version(self) -> str | None:
        """The ``[META]`` version, if any."""
        return self.meta.get("version")

    @property
    def id(self) -> str:
        """A short identity for results: ``name@version`` plus the first 12 hash digits."""
        version = f"@{self.version}" if self.version else ""
        return f"{self.name}{version}#{self.sha256[:12]}"

    def user_message(
        self, idea: str, aspect_ratio: str, *, strip_bboxes: bool = True, style: bool = True
    ) -> str:
        """Fill the ``[USER]`` template by plain replacement, as the official client does.

        Option blocks (``[STYLE_ON]``/``[STYLE_OFF]``, ``[BOXES_STRIP]``/``[BOXES_KEEP]``) are
        inserted at ``{{options}}`` (or after the template) when the file has them; files
        without them, such as the official one, are used unchanged.

        >>> p = PromptFile.from_text("[SYSTEM]\\nS\\n[USER]\\nRatio {{aspect_ratio}}. Idea: {{original_prompt}}")
        >>> p.user_message("a red kite", "3:2")
        'Ratio 3:2. Idea: a red kite'
        >>> PromptFile.from_text("[SYSTEM]\\nS").user_message("a red kite", "1:1")
        'TARGET IMAGE ASPECT RATIO: 1:1 (width:height).\\n\\na red kite'
        """
        template = self.sections.get("user") or _DEFAULT_USER
        wanted = ("style_on" if style else "style_off", "boxes_strip" if strip_bboxes else "boxes_keep")
        options = "\n".join(self.sections[k] for k in wanted if self.sections.get(k))
        text = template.replace("{{aspect_ratio}}", aspect_ratio)
        if "{{options}}" in text:
            text = _collapse_blank_runs(text.replace("{{options}}", options))
        elif options:
            text = f"{text}\n{options}"
        if "{{original_prompt}}" in text:
            return text.replace("{{original_prompt}}", idea)
        return f"{text}\n\n{idea}"

    def messages(
        self, idea: str, aspect_ratio: str, *, strip_bboxes: bool = True, style: bool = True
    ) -> list[dict[str, Any]]:
        """The chat messages for a first request: system, then the filled user template."""
        return [
            {"role": "system", "content": self.system},
            {
                "role": "user",
                "content": self.user_message(
                    idea, aspect_ratio, strip_bboxes=strip_bboxes, style=style
                ),
            },
        ]

    def repair_message(self, problems: list[str]) -> str:
        """The follow-up user turn listing the checker's messages verbatim, one per line.

        >>> PromptFile.from_text("[SYSTEM]\\nS\\n[REPAIR]\\nFix:\\n{{diagnostics}}").repair_message(["a", "b"])
        'Fix:\\n- a\\n- b'
        """
        template = self.sections.get("repair") or _DEFAULT_REPAIR
        listing = "\n".join(f"- {p}" for p in problems)
        return template.replace("{{diagnostics}}", listing)

    def truncated_message(self) -> str:
        """The follow-up user turn after a reply was cut off by the output limit."""
        return self.sections.get("truncated") or _DEFAULT_TRUNCATED


def _collapse_blank_runs(text: str) -> str:
    # an empty {{options}} leaves an empty line; never more than one blank line in a row
    out: list[str] = []
    for line in text.split("\n"):
        if not line.strip() and out and not out[-1].strip():
            continue
        out.append(line)
    return "\n".join(out).strip()


@functools.lru_cache(maxsize=16)
def _load_packaged(name: str) -> PromptFile:
    resource = resources.files("captionkit.magic").joinpath("prompts").joinpath(f"{name}.txt")
    try:
        text = resource.read_text(encoding="utf-8")
    except FileNotFoundError:
        available = ", ".join(packaged_prompts())
        raise ValueError(f"unknown prompt {name!r} (packaged prompts: {available})") from None
    return PromptFile.from_text(text, name=name)


@functools.lru_cache(maxsize=16)
def _load_path(path: str, mtime_ns: int) -> PromptFile:
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: prompt file is not valid UTF-8 (byte {exc.start})") from None
    return PromptFile.from_text(text, name=p.stem)


def packaged_prompts() -> list[str]:
    """Names of the prompt files shipped with captionkit.

    >>> "captionkit-v1" in packaged_prompts()
    True
    """
    folder = resources.files("captionkit.magic").joinpath("prompts")
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".txt"))


def load_prompt(source: str | Path | PromptFile | None = None) -> PromptFile:
    """Load a prompt: a packaged name, a file path (such as the official ``v1.txt``), or as is.

    Results are cached per file (re-read when the file changes).

    Raises:
        ValueError: When the name is unknown, the file is unreadable or has no ``[SYSTEM]``.

    >>> load_prompt().name
    'captionkit-v1'
    """
    if isinstance(source, PromptFile):
        return source
    if source is None:
        return _load_packaged(DEFAULT_PROMPT)
    text = str(source)
    path = Path(text)
    if isinstance(source, Path) or path.suffix or "/" in text or "\\" in text:
        try:
            stat = path.stat()
        except OSError:
            raise ValueError(f"{text}: prompt file not found") from None
        if path.is_dir():
            raise ValueError(f"{text}: is a directory, not a prompt file")
        return _load_path(str(path), stat.st_mtime_ns)
    return _load_packaged(text)
