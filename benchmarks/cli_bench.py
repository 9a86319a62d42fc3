"""The command line's speed, as ratios against plain Python processes measured in the same run.

Rows (each subject and its baseline are whole processes, start-up included,
run alternately; the median of the runs is kept):

* start-up: ``captionkit verify FILE`` (one small caption) against
  ``python -c "import pydantic"``, and, for scale, a bare typer command with
  four parameters against the same baseline (typer parses every parameter
  through a pydantic ``TypeAdapter``, so this is the floor of any typer CLI);
* ``captionkit verify`` on a JSONL of N captions (100,000 by default) against a
  Python process that runs ``json.loads`` on each line of the same file;
* ``captionkit fmt --check`` and ``captionkit fix --stdout`` on the same file,
  against the same baseline.

The JSONL holds generated captions in canonical form (the generator of
``verify_bench.py``: several KB each, up to 16 elements, multilingual text).
Child processes may write bytecode caches (an installed package has them); the
start-up pair runs once untimed first, so they exist before any timing.

``--profile`` also runs ``verify`` on the JSONL in this process under cProfile
and prints where the time goes.

Run: python benchmarks/cli_bench.py [--lines 100000] [--runs 3] [--startup-runs 20] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from verify_bench import caption  # noqa: E402

from captionkit._json import dumps  # noqa: E402

PY = sys.executable
# the console script people run, from this interpreter's environment (python -m captionkit if there is none)
_SCRIPT = Path(PY).parent / "captionkit"
CLI = [str(_SCRIPT)] if _SCRIPT.is_file() else [PY, "-m", "captionkit"]
BASELINE_JSONL = (
    "import json, sys\n"
    "with open(sys.argv[1], encoding='utf-8') as f:\n"
    "    for line in f:\n"
    "        json.loads(line)\n"
)


TYPER_FLOOR = (
    "import typer\n"
    "app = typer.Typer(add_completion=False)\n"
    "app.callback()(lambda: None)\n"
    "@app.command()\n"
    "def verify(paths: list[str], output_format: str = 'text', size: str = '', lints: bool = True) -> None:\n"
    "    pass\n"
    "app()\n"
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def _once(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    return time.perf_counter() - start


def compare(
    subject: list[str], baseline: list[str], runs: int, env: dict[str, str], *, warm: bool = True
) -> tuple[float, float]:
    """Median wall times of ``subject`` and ``baseline``, run alternately (after one untimed run each)."""
    if warm:
        _once(subject, env)
        _once(baseline, env)
    s, b = [], []
    for _ in range(runs):
        s.append(_once(subject, env))
        b.append(_once(baseline, env))
    return statistics.median(s), statistics.median(b)


def write_corpus(path: Path, lines: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for _ in range(lines):
            f.write(dumps(caption(rng)) + "\n")


def profile_verify(path: Path) -> None:
    import cProfile
    import io
    import pstats

    from typer.testing import CliRunner

    from captionkit.cli import app

    runner = CliRunner()
    prof = cProfile.Profile()
    prof.enable()
    runner.invoke(app, ["verify", str(path)])
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(25)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000, help="captions in the JSONL")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each JSONL command")
    parser.add_argument("--startup-runs", type=int, default=20, help="timed runs of the start-up pair")
    parser.add_argument("--profile", action="store_true", help="profile verify on the JSONL in-process")
    args = parser.parse_args()
    env = _env()
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "espresso.json"
        one.write_bytes((ROOT / "examples" / "espresso.json").read_bytes())
        big = Path(tmp) / "captions.jsonl"
        write_corpus(big, args.lines)
        size = big.stat().st_size
        print(f"python {sys.version.split()[0]}; JSONL: {args.lines:,} captions, {size / 1e6:.0f} MB")

        print(f"{'subject':<34}  {'subject s':>9}  {'baseline s':>10}  {'ratio':>6}  target  baseline", flush=True)

        def row(name: str, sub: float, base_name: str, base: float, target: float) -> None:
            ratio = sub / base
            mark = "ok" if ratio <= target else "OVER"
            print(f"{name:<34}  {sub:9.3f}  {base:10.3f}  {ratio:5.2f}x  {target:.0f}x {mark:>4}  {base_name}", flush=True)

        sub, base = compare([*CLI, "verify", str(one)], [PY, "-c", "import pydantic"], args.startup_runs, env)
        row("captionkit verify FILE (start-up)", sub, 'python -c "import pydantic"', base, 2.0)
        # what any typer 0.2x command costs: its parameters are parsed through pydantic TypeAdapters
        sub, base = compare([PY, "-c", TYPER_FLOOR, "verify", str(one)], [PY, "-c", "import pydantic"],
                            args.startup_runs, env)
        row("a bare typer command (the floor)", sub, 'python -c "import pydantic"', base, 2.0)
        baseline = [PY, "-c", BASELINE_JSONL, str(big)]
        for name, cmd, target in (
            ("captionkit verify JSONL", ["verify", str(big)], 3.0),
            ("captionkit fmt --check JSONL", ["fmt", "--check", str(big)], 5.0),
            ("captionkit fix --stdout JSONL", ["fix", "--stdout", str(big)], 5.0),
        ):
            sub, base = compare([*CLI, *cmd], baseline, args.runs, env, warm=False)
            row(name, sub, "json.loads per line (process)", base, target)
        if args.profile:
            profile_verify(big)


if __name__ == "__main__":
    main()
