"""Rules are the single source of codes and of fix applicability.

A :class:`~captionkit.fixes.Change` is built from its rule's entry in ``RULES``:
an unknown code fails at once, and the change's applicability (safe or unsafe)
is the rule's, wherever the change is made (``fix()``, magic's repair loop,
describe). ``captionkit rule`` shows whether a fix is available and its
applicability, and no code is cited anywhere that ``RULES`` does not hold.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from captionkit.cli import app
from captionkit.diagnostics import Fix
from captionkit.fixes import Change, fix
from captionkit.magic._repair import process_reply
from captionkit.rules import RULES, Rule, rule
from captionkit.strategies import caption_dicts, mutants

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
CODE = re.compile(r"\bCK\d{3}\b")


# -- a Change is built from a RULES entry ---------------------------------------------------


@given(st.one_of(st.text(max_size=8), st.from_regex(r"\ACK\d{3}\Z"), st.from_regex(r"\Ack\d{3}\Z"),
                 st.integers(), st.none()).filter(lambda code: code not in RULES))
def test_a_change_with_an_unknown_code_fails_at_once(code):
    with pytest.raises(ValueError, match="unknown rule code"):
        Change(code, "did something")


@pytest.mark.parametrize("code", sorted(RULES))
def test_a_change_takes_its_applicability_from_the_rule(code):
    entry = RULES[code]
    if not entry.fixes:
        # a rule with no fix cannot be the reason for a change
        with pytest.raises(ValueError, match="has no fix"):
            Change(code, "m")
        return
    if len(entry.fixes) == 1:
        only = entry.fixes[0]
        assert Change(code, "m").applicability == only.applicability
        assert Change(code, "m", applicability=only.applicability).fix is only
        other = "unsafe" if only.safe else "safe"
        with pytest.raises(ValueError, match=f"no {other} fix"):
            Change(code, "m", applicability=other)
    else:
        with pytest.raises(ValueError, match="name the applicability"):
            Change(code, "m")
        for f in entry.fixes:
            change = Change(code, "m", applicability=f.applicability)
            assert change.fix is f and change.safe is f.safe
    with pytest.raises(ValueError, match="must be 'safe' or 'unsafe'"):
        Change(code, "m", applicability="maybe")


def test_the_old_positional_safe_flag_cannot_slip_through():
    # Change(code, message, safe, path) was the old order: a bool where the path goes fails loudly
    with pytest.raises(TypeError, match="path must be a tuple"):
        Change("CK201", "m", True, ("style_description",))  # type: ignore[arg-type]


def test_a_rule_holds_at_most_one_fix_per_applicability():
    with pytest.raises(ValueError, match="at most one fix per applicability"):
        Rule("CK999", "x", RULES["CK201"].severity, "w", "y", "e", (Fix("a"), Fix("b")))


def test_the_diagnostic_offers_the_safe_fix_when_there_is_one():
    for r in RULES.values():
        if r.fixes:
            assert r.fix in r.fixes and (r.fix.safe or not any(f.safe for f in r.fixes))
        else:
            assert r.fix is None


# -- every change the fixes produce carries its rule's applicability -------------------------

_ALIASED = {"summary": "high_level_description", "camera": "photo", "description": "desc", "scene": "background"}


@st.composite
def messy_sources(draw):
    """Text and data that exercise every fix: the strategies' mutants plus the wrappers,
    aliases, named edges, pairs and text dialects that only the fixes read."""
    data = draw(st.one_of(mutants(max_mutations=4), caption_dicts(max_elements=3)))
    cd = data.get("compositional_deconstruction")
    elements = cd.get("elements") if isinstance(cd, dict) else None
    extra = draw(st.lists(st.sampled_from([
        "wrap", "alias_root", "alias_cd", "alias_style", "dict_bbox", "pair", "palette_string",
        "not_a_colour", "unit_floats", "foreign_cd", "foreign_style",
    ]), max_size=3))
    for e in extra:
        if e == "dict_bbox" and elements and isinstance(elements[0], dict):
            elements[0]["bbox"] = {"top": 10, "left": 20, "bottom": 300, "right": 400}
        elif e == "pair" and isinstance(elements, list):
            elements.append([[100, 100, 400, 400], "A lamp on a table."])
        elif e == "palette_string" and elements and isinstance(elements[0], dict):
            elements[0]["color_palette"] = "#112233, #445566"
        elif e == "not_a_colour" and elements and isinstance(elements[0], dict):
            elements[0]["color_palette"] = ["#112233", 42, "notacolour"]
        elif e == "unit_floats" and elements and isinstance(elements[0], dict):
            elements[0]["bbox"] = [0.1, 0.25, 0.5, 0.75]
        elif e == "foreign_cd" and isinstance(cd, dict):
            cd["layout"] = "grid"
        elif e == "alias_cd" and isinstance(cd, dict) and "background" in cd:
            cd["scene"] = cd.pop("background")
        elif e == "foreign_style" and isinstance(data.get("style_description"), dict):
            data["style_description"]["lens"] = "35mm"
        elif e == "alias_style" and isinstance(data.get("style_description"), dict):
            sd = data["style_description"]
            if "photo" in sd:
                sd["camera"] = sd.pop("photo")
        elif e == "alias_root" and "high_level_description" in data:
            data["summary"] = data.pop("high_level_description")
        elif e == "wrap":
            data = {"prompt": data, "seed": 7}
    form = draw(st.sampled_from(["data", "text", "fenced", "ascii", "bom", "trailing_comma", "pretty"]))
    if form == "data":
        return data
    text = json.dumps(data, ensure_ascii=form == "ascii", indent=2 if form == "pretty" else None)
    if form == "fenced":
        text = f"Here it is:\n```json\n{text}\n```"
    elif form == "bom":
        text = "\ufeff" + text
    elif form == "trailing_comma" and text.endswith("}"):
        text = text[:-1] + ",}"
    return text


def _check_changes(changes, unsafe_allowed):
    for c in changes:
        event(f"{c.code} {c.applicability}")
        entry = RULES[c.code]
        assert c.fix in entry.fixes, c
        assert c.applicability == c.fix.applicability
        if len(entry.fixes) == 1:
            assert c.applicability == entry.fixes[0].applicability, c
        assert str(c).split(" ", 3)[2] == f"[{c.applicability}]"
        if not unsafe_allowed:
            assert c.safe, f"an unsafe change ran without unsafe=True: {c}"


@given(messy_sources(), st.booleans(), st.sampled_from([None, "auto", "xyxy", "unit"]))
def test_every_change_fix_makes_carries_its_rules_applicability(source, unsafe, box_format):
    try:
        result = fix(source, unsafe=unsafe, box_format=box_format, frame=(1024, 1024))
    except ValueError:  # a box that cannot be in the declared convention: refused by name
        return
    # a declared box convention is the caller's choice, so its conversions are unsafe changes
    _check_changes(result.changes, unsafe_allowed=unsafe or box_format is not None)


@given(messy_sources(), st.booleans(), st.booleans())
def test_every_change_of_magics_repair_loop_carries_its_rules_applicability(source, unsafe, think):
    if think and isinstance(source, str):
        source = "<think>plan the caption</think>\n" + source
    outcome = process_reply(source, unsafe=unsafe)
    # the aspect_ratio echo, which magic's own prompt asks for, is moved whatever `unsafe` says,
    # and it is recorded as CK102 is in RULES: unsafe. Every other unsafe change needs the flag.
    for c in outcome.changes:
        if c.code == "CK102" and c.path == ("aspect_ratio",):
            assert c.applicability == RULES["CK102"].fix_for().applicability == "unsafe"
    _check_changes([c for c in outcome.changes if c.path != ("aspect_ratio",) or c.code != "CK102"],
                   unsafe_allowed=unsafe)


def test_moving_aspect_ratio_is_one_decision_in_fix_and_in_magic():
    text = '{"aspect_ratio":"16:9","compositional_deconstruction":{"background":"b","elements":[]}}'
    by_fix = [c for c in fix(text, unsafe=True).changes if c.code == "CK102"]
    by_magic = [c for c in process_reply(text).changes if c.code == "CK102"]
    assert [c.applicability for c in by_fix] == [c.applicability for c in by_magic] == ["unsafe"]
    assert by_fix[0].fix is by_magic[0].fix is RULES["CK102"].fix
    # and fix() does not move it without the flag: the unsafe fix needs opting in
    safe = fix(text)
    assert "CK102" in safe.report.codes() and safe.data["aspect_ratio"] == "16:9"
    assert "CK102" not in [c.code for c in safe.changes]


def test_a_refused_fix_says_why_in_magics_problems():
    # a value UTF-8 cannot store: fix() refuses; the loop used to report only a generic line
    outcome = process_reply({"compositional_deconstruction": {"background": "a\ud800", "elements": []}})
    assert not outcome.ok
    assert outcome.problems[0] == ("the fix was refused: /compositional_deconstruction/background holds a "
                                   "lone surrogate, which UTF-8 cannot store")


# -- captionkit rule shows fix availability and applicability -------------------------------


def _fix_paragraph(doc: str) -> str:
    return doc.split("\nFix: ", 1)[1]


@pytest.mark.parametrize("code", sorted(RULES))
def test_rule_command_prints_fix_availability_and_applicability(code):
    entry = RULES[code]
    r = runner.invoke(app, ["rule", code])
    assert r.exit_code == 0, r.output
    fix_text = _fix_paragraph(r.stdout)
    if not entry.fixes:
        assert fix_text.startswith("not available")
    else:
        kinds = [f.applicability for f in entry.fixes]
        assert fix_text.startswith(f"available ({', '.join(kinds)})")
        for f in entry.fixes:
            assert f"  {f.applicability}: {f.description}" in fix_text
        assert ("applied only with --unsafe-fixes" in fix_text) is ("unsafe" in kinds)
    data = json.loads(runner.invoke(app, ["rule", code, "--format", "json"]).stdout)
    assert data == entry.to_dict()
    assert data["fix_available"] is bool(entry.fixes)
    assert [f["applicability"] for f in data["fixes"]] == [f.applicability for f in entry.fixes]


def test_rule_command_as_a_real_process():
    # one rule with a safe fix, one with an unsafe fix, one with both, one with none; by code and name
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "captionkit", "rule", *args], capture_output=True,
                              text=True, cwd=ROOT, timeout=120)

    safe, unsafe, both, none = cli("CK201"), cli("bbox-out-of-range"), cli("ck312"), cli("CK101")
    assert all(p.returncode == 0 for p in (safe, unsafe, both, none))
    assert "Fix: available (safe)\n  safe: reorder keys\n" in safe.stdout
    assert "Fix: available (unsafe)\n  unsafe: clamp to 0-1000 (applied only with --unsafe-fixes" in unsafe.stdout
    assert "Fix: available (safe, unsafe)\n  safe: uppercase and expand #RGB\n  unsafe: " in both.stdout
    assert "Fix: not available" in none.stdout
    as_json = cli("CK303", "--format", "json")
    assert json.loads(as_json.stdout)["fixes"] == [{"applicability": "unsafe", "description": "clamp to 0-1000"}]
    listing = cli("--all", "--format", "json")
    assert [r["code"] for r in json.loads(listing.stdout)] == list(RULES)
    table = cli("--all").stdout.splitlines()
    assert len(table) == len(RULES)
    assert all(line.endswith(f"fix: {RULES[line.split()[0]].fix_availability}") for line in table)
    bad = cli("CK999")
    assert bad.returncode == 2 and "unknown rule 'CK999'" in bad.stderr and "Traceback" not in bad.stderr


def test_rule_lookup_by_name_matches_lookup_by_code():
    for r in RULES.values():
        assert rule(r.name) is rule(r.code.lower()) is r


# -- no code is cited that RULES does not hold --------------------------------------------


def _cited_codes():
    files = [p for p in (ROOT / "captionkit").rglob("*") if p.is_file() and p.suffix in (".py", ".txt", ".md", ".c", ".h")]
    files += [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "schemas").glob("*.json")]
    for path in files:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in CODE.finditer(line):
                yield m.group(), f"{path.relative_to(ROOT)}:{n}"


def test_every_code_cited_in_the_package_and_its_docs_is_a_rule():
    cited = list(_cited_codes())
    assert len({code for code, _ in cited}) > 40  # the scan reads the package: most rules are cited
    unknown = [f"{where}: {code}" for code, where in cited if code not in RULES]
    assert not unknown, "codes that are not in captionkit.rules.RULES:\n" + "\n".join(unknown)


def test_the_scan_would_see_an_unknown_code():
    assert CODE.findall('changes.append(Change("CK300", "removed boxes"))') == ["CK300"] and "CK300" not in RULES


# -- every fix a rule lists is one fix() really makes -----------------------------------------

_E = '{"type":"obj","desc":"A lamp."%s}'
_CD = '{"compositional_deconstruction":{"background":"A wall.","elements":[%s]}}'
_STYLE = ('{"style_description":{%s},"compositional_deconstruction":{"background":"A wall.","elements":[]}}')
FIX_CASES = {
    ("CK001", "safe"): (_CD % "").replace("A wall.", "caf\\u00e9"),
    ("CK002", "safe"): (_CD % "")[:-1] + ",}",
    ("CK003", "safe"): "\ufeff" + _CD % "",
    ("CK005", "safe"): "```json\n" + _CD % "" + "\n```",
    ("CK102", "unsafe"): '{"aspect_ratio":"16:9",' + (_CD % "")[1:],
    ("CK104", "unsafe"): '{"prompt":' + _CD % "" + "}",
    ("CK111", "unsafe"): _STYLE % '"aesthetics":"a","lighting":"l","camera":"35mm","medium":"photograph"',
    ("CK130", "unsafe"): _CD % '[[100,100,400,400],"A lamp."]',
    ("CK131", "unsafe"): _CD % '{"type":"obj","description":"A lamp."}',
    ("CK133", "unsafe"): _CD % '{"type":"character","desc":"A lamp."}',
    ("CK201", "safe"): _STYLE % '"medium":"photograph","aesthetics":"a","lighting":"l","photo":"35mm"',
    ("CK203", "safe"): '{"compositional_deconstruction":{"elements":[],"background":"A wall."}}',
    ("CK204", "unsafe"): '{"compositional_deconstruction":{"background":"A wall.","elements":[],"layout":"grid"}}',
    ("CK205", "safe"): _CD % '{"desc":"A lamp.","type":"obj"}',
    ("CK206", "unsafe"): _CD % _E % ',"text":"OPEN"',
    ("CK207", "safe"): '{"compositional_deconstruction":{"background":"A wall.","elements":[]},"high_level_description":"h"}',
    ("CK301", "unsafe"): _CD % _E % ',"bbox":{"top":1,"left":2,"bottom":300,"right":400}',
    ("CK302", "safe"): _CD % '{"type":"obj","bbox":[1.0,2,300,400],"desc":"A lamp."}',
    ("CK302", "unsafe"): _CD % '{"type":"obj","bbox":[0.1,0.2,0.5,0.6],"desc":"A lamp."}',
    ("CK303", "unsafe"): _CD % '{"type":"obj","bbox":[-5,2,300,400],"desc":"A lamp."}',
    ("CK304", "unsafe"): _CD % '{"type":"obj","bbox":[300,2,100,400],"desc":"A lamp."}',
    ("CK305", "unsafe"): _CD % '{"type":"obj","bbox":[1,400,300,200],"desc":"A lamp."}',
    ("CK310", "unsafe"): _CD % _E % ',"color_palette":"#112233, #445566"',
    ("CK311", "unsafe"): _CD % _E % (',"color_palette":[' + ",".join(f'"#{i:06X}"' for i in range(7)) + "]"),
    ("CK312", "safe"): _CD % _E % ',"color_palette":["#abc"]',
    ("CK312", "unsafe"): _CD % _E % ',"color_palette":["navy"]',
    ("CK403", "safe"): _CD % '{"type":"obj","bbox":[true,0,300,400],"desc":"A lamp."}',
    ("CK405", "safe"): _CD % _E % ',"color_palette":["#112233","#112233"]',
    ("CK407", "unsafe"): '{"compositional_deconstruction":{"background":"a","background":"A wall.","elements":[]}}',
    ("CK408", "safe"): '{"compositional_deconstruction": {"background": "A wall.", "elements": []}}',
}


def test_the_cases_cover_every_fix_the_rules_list():
    listed = {(r.code, f.applicability) for r in RULES.values() for f in r.fixes}
    assert set(FIX_CASES) == listed


@pytest.mark.parametrize(("code", "applicability"), sorted(FIX_CASES))
def test_each_listed_fix_is_made_with_its_rules_applicability(code, applicability):
    result = fix(FIX_CASES[code, applicability], unsafe=applicability == "unsafe")
    made = [(c.code, c.applicability) for c in result.changes]
    assert (code, applicability) in made, made
    assert result.ok, result.report.codes()


def test_a_guessed_unit_convention_that_a_box_does_not_fit_is_left_not_raised():
    # fix() promised to raise only for a bad box_format/frame argument; its own guess
    # (every value in 0-1) on reversed edges used to escape as a BoxConventionError
    source = _CD % '{"type":"obj","bbox":[0.0,0.5,0.0,0.0],"desc":"A lamp."}'
    result = fix(source, unsafe=True, frame=(1536, 1024))
    assert "CK302" in result.report.codes()
    assert not any(c.code == "CK302" for c in result.changes)
