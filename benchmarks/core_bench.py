"""Speed of every library entry point as a ratio against the stdlib, measured in one run.

Rows (each against its own baseline, timed the same way in the same process):

* compat ``verify_raw`` per layout (canonical, pretty-printed with indent 2 and 4,
  ASCII-escaped, other key orders), valid and faulty, against ``json.loads``;
* ``captionkit.verify()`` with every default rule (tokens and lints included),
  clean and faulty captions, against ``json.loads``;
* ``loads()`` then ``dumps()``, against ``json.loads`` then ``json.dumps``;
* a builder chain + ``build()`` + ``dumps()`` for a 16-element caption, against
  ``json.dumps`` of the same dict.

Every call gets a str object it has never seen (CPython caches a str's UTF-8
form); baseline and subject run in plain loops that discard results; the best
of many interleaved rounds is kept (a shared machine's speed drifts).

The same rows are then measured for the pure-Python build (the C accelerator
switched off with ``CAPTIONKIT_NO_EXTENSIONS=1``, in a child process, since
the switch is read at import), and the table gives both, with the pure build's
time as a multiple of the C build's (``pure/C``: its ratio over the C ratio).

Run: python benchmarks/core_bench.py [--captions 300] [--repeat 15] [--only-this-build] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from verify_bench import caption, corrupt, timed  # noqa: E402

import captionkit  # noqa: E402
from captionkit import _walk, compat  # noqa: E402
from captionkit.builder import CaptionBuilder  # noqa: E402
from captionkit.compat import CaptionVerifier  # noqa: E402


def _reorder(data: dict) -> dict:
    """Same content, root keys reversed (the official verifier does not check the root order)."""
    return dict(reversed(list(data.items())))


LAYOUTS = {
    "canonical": lambda d: captionkit.dumps(d),
    "pretty indent 2": lambda d: json.dumps(d, ensure_ascii=False, indent=2),
    "pretty indent 4": lambda d: json.dumps(d, ensure_ascii=False, indent=4),
    "ASCII-escaped": lambda d: json.dumps(d, separators=(",", ":")),
    "other key order": lambda d: json.dumps(_reorder(d), ensure_ascii=False, separators=(",", ":")),
}


def corpora(n: int, seed: int = 11) -> dict[str, tuple[list[str], list[str]]]:
    rng = random.Random(seed)
    valid = [caption(rng) for _ in range(n)]
    faulty = []
    while len(faulty) < n:  # a corruption can leave a caption valid (lowercasing "#000000"): draw again
        bad = corrupt(rng, caption(rng))
        if _walk.walk(bad):
            faulty.append(bad)
    out = {}
    for name, render in LAYOUTS.items():
        # a faulty caption in canonical layout is written as-is (key order kept), like verify_bench
        if name == "canonical":
            bad = [json.dumps(d, ensure_ascii=False, separators=(",", ":")) for d in faulty]
        else:
            bad = [render(d) for d in faulty]
        out[name] = ([render(d) for d in valid], bad)
    return out


def builder_dict(rng: random.Random) -> dict:
    data = caption(rng)
    els = data["compositional_deconstruction"]["elements"]
    while len(els) < 16:
        els.append(dict(els[len(els) % len(els)]))
    del els[16:]
    return captionkit.loads(captionkit.dumps(data)).to_dict()


def build_from(data: dict) -> str:
    sd = data["style_description"]
    cd = data["compositional_deconstruction"]
    b = (CaptionBuilder()
         .describe(data["high_level_description"])
         .style(aesthetics=sd["aesthetics"], lighting=sd["lighting"], medium=sd["medium"],
                photo=sd["photo"], palette=sd["color_palette"])
         .background(cd["background"]))
    for e in cd["elements"]:
        kw = {"box": e["bbox"]}
        if "color_palette" in e:
            kw["palette"] = e["color_palette"]
        if e["type"] == "text":
            b = b.text(e["text"], e["desc"], **kw)
        else:
            b = b.obj(e["desc"], **kw)
    return b.build().dumps()


def measure(captions: int, repeat: int) -> list[dict]:
    """Every row: {"name", "ratio", "baseline", "target"}."""
    ours = CaptionVerifier()
    rows = []
    sets = corpora(captions)
    for t in sets["canonical"][0][:20]:  # warm the caches every route keeps (regexes, piece weights)
        captionkit.verify(t)
        ours.verify_raw(t)
    for name, (good, bad) in sets.items():
        # ASCII-escaped text draws the official ensure-ASCII warning even when the caption is valid
        def structural(t: str) -> list[str]:
            return [w for w in ours.verify_raw(t) if not w.startswith("raw text:")]

        assert not any(map(structural, good)) and all(map(structural, bad)), name
        for label, texts in (("valid", good), ("faulty", bad)):
            base, subject = timed([json.loads, ours.verify_raw], texts, repeat)
            rows.append({"name": f"compat verify_raw, {name}, {label}", "ratio": subject / base,
                         "baseline": "json.loads", "target": 1.0})
    good, bad = sets["canonical"]
    assert all(captionkit.verify(t).ok for t in good) and not any(captionkit.verify(t).ok for t in bad)
    for label, texts, target in (("clean", good, 2.0), ("faulty", bad, 4.0)):
        base, subject = timed([json.loads, captionkit.verify], texts, repeat)
        rows.append({"name": f"verify(), every default rule, {label}", "ratio": subject / base,
                     "baseline": "json.loads", "target": target})

    def std_round(t: str) -> None:
        json.dumps(json.loads(t), ensure_ascii=False, separators=(",", ":"))

    def ck_round(t: str) -> None:
        captionkit.dumps(captionkit.loads(t))

    assert all(captionkit.dumps(captionkit.loads(t)) == t for t in good)
    base, subject = timed([std_round, ck_round], good, repeat)
    rows.append({"name": "loads() + dumps()", "ratio": subject / base, "baseline": "json.loads + json.dumps",
                 "target": 2.0})

    rng = random.Random(5)
    dicts = [builder_dict(rng) for _ in range(max(20, captions // 5))]
    assert all(build_from(d) == captionkit.dumps(d) for d in dicts)
    # the builder takes Python values, not text: time it per dict (its index as the "text")
    keys = [str(i) for i in range(len(dicts))]

    def std_build(k: str) -> None:
        json.dumps(dicts[int(k)], ensure_ascii=False, separators=(",", ":"))

    def ck_build(k: str) -> None:
        build_from(dicts[int(k)])

    base, subject = timed([std_build, ck_build], keys, repeat)
    rows.append({"name": "builder chain + build() + dumps(), 16 elements", "ratio": subject / base,
                 "baseline": "json.dumps of the dict", "target": 5.0})
    return rows


def _pure_rows(args: argparse.Namespace) -> list[dict]:
    env = {**os.environ, "CAPTIONKIT_NO_EXTENSIONS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, __file__, "--only-this-build", "--json", "--captions", str(args.captions),
           "--repeat", str(args.repeat)]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(run.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captions", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=15, help="rounds")
    ap.add_argument("--only-this-build", action="store_true", help="measure this process's build alone")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = ap.parse_args()
    built = compat._locate is not None  # (the C locator loaded: the accelerator is built and switched on)
    build = "C accelerator" if built else "pure Python (no C accelerator)"
    if args.only_this_build:
        rows = measure(args.captions, args.repeat)
        if args.json:
            print(json.dumps(rows))
            return
        print(f"build: {build}; {args.captions} captions per set, best of {args.repeat} rounds")
        for row in rows:
            mark = "ok" if row["ratio"] <= row["target"] else "OVER"
            print(f"{row['name']:<52}{row['ratio']:>7.2f}x  {row['target']:.0f}x {mark:>4}  {row['baseline']}")
        return
    if not built:
        sys.exit("the C accelerator is not loaded here: build it, or use --only-this-build")
    print(f"{args.captions} captions per set, best of {args.repeat} rounds; python {sys.version.split()[0]}")
    print(f"{'entry point':<52}{'C build':>8}  target  {'pure':>7}  {'pure/C':>6}  baseline", flush=True)
    rows = measure(args.captions, args.repeat)
    pure = {row["name"]: row for row in _pure_rows(args)}
    for row in rows:
        mark = "ok" if row["ratio"] <= row["target"] else "OVER"
        p = pure[row["name"]]["ratio"]
        within = p / row["ratio"]
        print(f"{row['name']:<52}{row['ratio']:>7.2f}x  {row['target']:.0f}x {mark:>4}  {p:>6.2f}x  "
              f"{within:>5.2f}x  {row['baseline']}", flush=True)
    print("pure/C: the pure-Python build's time over the C build's (the aim is at most 2x)")


if __name__ == "__main__":
    main()
