"""Speed of every library entry point as a ratio against the stdlib, measured in one run.

Rows (each against its own baseline, timed the same way in the same process):

* compat ``verify_raw`` per layout — canonical, pretty-printed (indent 2 and 4),
  ASCII-escaped, other key orders — valid and faulty, against ``json.loads``;
* ``captionkit.verify()`` with every default rule (tokens and lints included),
  clean and faulty captions, against ``json.loads``;
* ``loads()`` then ``dumps()``, against ``json.loads`` then ``json.dumps``;
* a builder chain + ``build()`` + ``dumps()`` for a 16-element caption, against
  ``json.dumps`` of the same dict.

Every call gets a str object it has never seen (CPython caches a str's UTF-8
form); baseline and subject run in plain loops that discard results; the best
of many interleaved rounds is kept (this machine's speed drifts).

Run: python benchmarks/core_bench.py [--captions 300] [--repeat 15]
"""

from __future__ import annotations

import argparse
import json
import random
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captions", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=15, help="rounds")
    args = ap.parse_args()
    ours = CaptionVerifier()
    build = "C accelerator" if compat._locate is not None else "pure Python (no C accelerator)"
    print(f"build: {build}; {args.captions} captions per set, best of {args.repeat} rounds")
    print(f"{'entry point':<52}{'ratio':>8}  baseline")
    rows = []
    for name, (good, bad) in corpora(args.captions).items():
        # ASCII-escaped text draws the official ensure-ASCII warning even when the caption is valid
        def structural(t: str) -> list[str]:
            return [w for w in ours.verify_raw(t) if not w.startswith("raw text:")]

        assert not any(map(structural, good)) and all(map(structural, bad)), name
        for label, texts in (("valid", good), ("faulty", bad)):
            base, subject = timed([json.loads, ours.verify_raw], texts, args.repeat)
            rows.append((f"verify_raw, {name}, {label}", subject / base, "json.loads"))
            print(f"{rows[-1][0]:<52}{rows[-1][1]:>7.2f}x  json.loads", flush=True)
    good, bad = corpora(args.captions)["canonical"]
    for label, texts in (("clean", good), ("faulty", bad)):
        base, subject = timed([json.loads, captionkit.verify], texts, args.repeat)
        print(f"{'verify() all default rules, ' + label:<52}{subject / base:>7.2f}x  json.loads", flush=True)

    def std_round(t: str) -> None:
        json.dumps(json.loads(t), ensure_ascii=False, separators=(",", ":"))

    def ck_round(t: str) -> None:
        captionkit.dumps(captionkit.loads(t))

    base, subject = timed([std_round, ck_round], good, args.repeat)
    print(f"{'loads() + dumps()':<52}{subject / base:>7.2f}x  json.loads + json.dumps", flush=True)

    rng = random.Random(5)
    dicts = [builder_dict(rng) for _ in range(max(20, args.captions // 5))]
    assert all(build_from(d) == captionkit.dumps(d) for d in dicts)
    # the builder takes Python values, not text: time it per dict (index as the "text")
    keys = [str(i) for i in range(len(dicts))]

    def std_build(k: str) -> None:
        json.dumps(dicts[int(k)], ensure_ascii=False, separators=(",", ":"))

    def ck_build(k: str) -> None:
        build_from(dicts[int(k)])

    base, subject = timed([std_build, ck_build], keys, args.repeat)
    print(f"{'builder chain + build() + dumps(), 16 elements':<52}{subject / base:>7.2f}x  json.dumps of the dict")


if __name__ == "__main__":
    main()
