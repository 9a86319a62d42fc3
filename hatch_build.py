"""Build hook: compile the optional C accelerator ``captionkit._speedups``.

The extension only speeds things up (the compat verifier's locator, the
ensure-ASCII scan, the token estimate, the lints' word facts); captionkit
behaves identically without it. When there is no C compiler (or
``CAPTIONKIT_NO_EXTENSIONS=1`` is set) the build goes on as a pure-Python wheel
and says so in one line. ``-ffp-contract=off``: the token estimate adds floats
in a fixed order and must match Python's arithmetic bit for bit (no fused
multiply-add).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCES = ("captionkit/_speedups.c", "captionkit/_speedups_scan.h", "captionkit/_speedups_tokens.h")


def compile_speedups(root: Path) -> Path | None:
    """Compile the extension next to its source; return its path, or None when it cannot be built."""
    ldshared = sysconfig.get_config_var("LDSHARED")
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    if not ldshared or not suffix or sys.platform == "win32":
        return None
    target = root / "captionkit" / f"_speedups{suffix}"
    partial = target.with_name(target.name + ".part")
    command = [
        *shlex.split(ldshared), "-O2", "-fPIC", "-ffp-contract=off", f"-I{sysconfig.get_paths()['include']}",
        str(root / SOURCES[0]), "-o", str(partial),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"captionkit: C accelerator not built ({exc}); using pure Python", file=sys.stderr)
        return None
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        target.unlink(missing_ok=True)  # never leave an extension built from older sources
        first = (result.stderr.strip().splitlines() or ["compiler failed"])[0]
        print(f"captionkit: C accelerator not built ({first}); using pure Python", file=sys.stderr)
        return None
    os.replace(partial, target)
    return target


class SpeedupsBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel":
            return
        if os.environ.get("CAPTIONKIT_NO_EXTENSIONS"):
            for stale in (Path(self.root) / "captionkit").glob("_speedups*.so"):
                stale.unlink()  # an earlier in-place build would still be imported
            return
        built = compile_speedups(Path(self.root))
        if built is None:
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version != "editable":  # an editable install imports it from the source tree
            build_data["force_include"][str(built)] = f"captionkit/{built.name}"
