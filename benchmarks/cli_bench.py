"""The command line's speed, as ratios against plain Python processes measured in the same run.

Rows (each subject and its baseline are whole processes, start-up included,
run alternately; the best of the runs is kept, the same for both):

* start-up: ``captionkit verify FILE`` (one small caption) against
  ``python -c "import pydantic"``, and, for scale, a bare typer command with
  four parameters against the same baseline (typer parses every parameter
  through a pydantic ``TypeAdapter``, so this is the floor of any typer CLI;
  ``captionkit verify PATH...`` runs without typer);
* ``captionkit verify`` on a JSONL of N captions (100,000 by default) against a
  Python process that runs ``json.loads`` on each line of the same file;
* ``captionkit fmt --check`` and ``captionkit fix --stdout`` on the same file,
  against the same baseline.

Each row gives the wall-time ratio (what the targets are about) and the
CPU-time ratio (user + system of the child processes: steadier on a shared
machine). Then the same rows for the pure-Python build (the C accelerator
switched off with ``CAPTIONKIT_NO_EXTENSIONS=1`` in the children), with its
wall time as a multiple of the C build's (``pure/C``).

The JSONL holds generated captions in canonical form (the generator of
``verify_bench.py``: several KB each, up to 16 elements, multilingual text).
Child processes may write bytecode caches (an installed package has them); the
start-up pair runs once untimed first, so they exist before any timing.

``--profile`` also runs ``verify --jobs 1`` on the JSONL in this process under
cProfile and prints where the time goes (one process does all the work: the
reading, the checking and the output; with several processes the workers run
the same code on parts of the file).

Run: python benchmarks/cli_bench.py [--lines 100000] [--runs 3] [--startup-runs 20] [--no-pure] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
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


def _once(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child: user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def compare(
    subject: list[str], baseline: list[str], runs: int, env: dict[str, str], *, warm: bool = True,
    baseline_env: dict[str, str] | None = None,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Best (wall, CPU) of ``subject`` and of ``baseline``, run alternately (after one untimed run each)."""
    baseline_env = baseline_env or env
    if warm:
        _once(subject, env)
        _once(baseline, baseline_env)
    s, b = [], []
    for _ in range(runs):
        s.append(_once(subject, env))
        b.append(_once(baseline, baseline_env))
    return (min(w for w, _ in s), min(c for _, c in s)), (min(w for w, _ in b), min(c for _, c in b))


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
    runner.invoke(app, ["verify", "--jobs", "1", str(path)])
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(25)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100_000, help="captions in the JSONL")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each JSONL command")
    parser.add_argument("--startup-runs", type=int, default=20, help="timed runs of the start-up pair")
    parser.add_argument("--no-pure", action="store_true", help="skip the pure-Python build's rows")
    parser.add_argument("--profile", action="store_true", help="profile verify on the JSONL in-process")
    args = parser.parse_args()
    env = _env()
    pure_env = {**env, "CAPTIONKIT_NO_EXTENSIONS": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "espresso.json"
        one.write_bytes((ROOT / "examples" / "espresso.json").read_bytes())
        big = Path(tmp) / "captions.jsonl"
        write_corpus(big, args.lines)
        size = big.stat().st_size
        print(f"python {sys.version.split()[0]}; JSONL: {args.lines:,} captions, {size / 1e6:.0f} MB; "
              f"best of {args.runs} runs (start-up: {args.startup_runs})")
        print(f"{'subject':<40}  {'wall s':>7}  {'base s':>7}  {'wall':>6}  {'CPU':>6}  target  baseline", flush=True)
        results: dict[str, float] = {}

        def row(name: str, sub: tuple[float, float], base_name: str, base: tuple[float, float], target: float,
                build: str = "") -> None:
            ratio, cpu = sub[0] / base[0], sub[1] / base[1]
            results[build + name] = ratio
            mark = "ok" if ratio <= target else "OVER"
            extra = ""
            if build and name in results:
                extra = f"  pure/C {ratio / results[name]:.2f}x"
            print(f"{build + name:<40}  {sub[0]:7.3f}  {base[0]:7.3f}  {ratio:5.2f}x  {cpu:5.2f}x  {target:.0f}x {mark:>4}  "
                  f"{base_name}{extra}", flush=True)

        baseline = [PY, "-c", BASELINE_JSONL, str(big)]
        commands = (
            ("captionkit verify JSONL", ["verify", str(big)], 3.0),
            ("captionkit fmt --check JSONL", ["fmt", "--check", str(big)], 5.0),
            ("captionkit fix --stdout JSONL", ["fix", "--stdout", str(big)], 5.0),
        )
        for build, build_env in (("", env), ("pure: ", pure_env)):
            if build and args.no_pure:
                break
            sub, base = compare([*CLI, "verify", str(one)], [PY, "-c", "import pydantic"], args.startup_runs,
                                build_env, baseline_env=env)
            row("captionkit verify FILE (start-up)", sub, 'python -c "import pydantic"', base, 2.0, build)
            if not build:
                # what any typer 0.2x command costs: its parameters are parsed through pydantic TypeAdapters
                sub, base = compare([PY, "-c", TYPER_FLOOR, "verify", str(one)], [PY, "-c", "import pydantic"],
                                    args.startup_runs, env)
                row("a bare typer command (the floor)", sub, 'python -c "import pydantic"', base, 2.0)
            for name, cmd, target in commands:
                sub, base = compare([*CLI, *cmd], baseline, args.runs, build_env, warm=False, baseline_env=env)
                row(name, sub, "json.loads per line (process)", base, target, build)
        if args.profile:
            profile_verify(big)


if __name__ == "__main__":
    main()
