"""The diagnostics API: codes, paths, severities, and agreement with compat."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from captionkit import is_valid, iter_diagnostics, verify
from captionkit.compat import CaptionVerifier
from captionkit.diagnostics import CaptionError
from captionkit.rules import RULES, rule
from captionkit.strategies import caption_texts, json_values, mutants

GOOD_DESC = ("A tall narrow copper ramen stall with a red paper lantern hanging from its awning, steam rising "
             "from two steel pots on the counter, wooden stools lined up in front and a hand-painted menu board "
             "mounted on the left side.")


def cd(*elements, background="A narrow wet alley between concrete walls at night."):
    return {"compositional_deconstruction": {"background": background, "elements": list(elements)}}


def obj(**kw):
    return {"type": "obj", **kw, "desc": kw.pop("desc", GOOD_DESC)} if "desc" not in kw else {"type": "obj", **kw}


# One golden input per code: input -> the code must be reported (and with the expected pointer).
GOLDEN = {
    "CK001": ('{"high_level_description":"caf\\u00e9","compositional_deconstruction":{"background":"b","elements":[]}}', ""),
    "CK002": ('{"a":1,}', ""),
    "CK003": ("\ufeff{}", ""),
    "CK004": ('{"high_level_description":"café"}'.encode("latin-1"), ""),
    "CK005": ('```json\n{"compositional_deconstruction":{"background":"b","elements":[]}}\n```', ""),
    "CK101": ("[]", ""),
    "CK102": ({"aspect_ratio": "1:1", **cd()}, ""),
    "CK103": ({"high_level_description": 7, **cd()}, "/high_level_description"),
    "CK104": ({}, ""),
    "CK110": ({"style_description": [], **cd()}, "/style_description"),
    "CK111": ({"style_description": {"zz": 1, "photo": "p"}, **cd()}, "/style_description"),
    "CK112": ({"style_description": {"photo": "p", "art_style": "a"}, **cd()}, "/style_description"),
    "CK113": ({"style_description": {"aesthetics": "a"}, **cd()}, "/style_description"),
    "CK120": ({"compositional_deconstruction": []}, "/compositional_deconstruction"),
    "CK121": ({"compositional_deconstruction": {"elements": []}}, "/compositional_deconstruction"),
    "CK122": ({"compositional_deconstruction": {"background": 1, "elements": []}}, "/compositional_deconstruction/background"),
    "CK123": ({"compositional_deconstruction": {"background": "b"}}, "/compositional_deconstruction"),
    "CK124": ({"compositional_deconstruction": {"background": "b", "elements": {}}}, "/compositional_deconstruction/elements"),
    "CK130": (cd("x"), "/compositional_deconstruction/elements/0"),
    "CK131": (cd({"type": "obj", "desc": "d", "font": "x"}), "/compositional_deconstruction/elements/0"),
    "CK132": (cd({"desc": "d"}), "/compositional_deconstruction/elements/0"),
    "CK133": (cd({"type": "logo", "desc": "d"}), "/compositional_deconstruction/elements/0/type"),
    "CK201": ({"style_description": {"lighting": "l", "aesthetics": "a", "photo": "p", "medium": "m"}, **cd()}, "/style_description"),
    "CK202": ({"style_description": {"aesthetics": "a", "lighting": "l", "photo": "p", "medium": "m", "q": 1}, **cd()}, "/style_description"),
    "CK203": ({"compositional_deconstruction": {"elements": [], "background": "b"}}, "/compositional_deconstruction"),
    "CK204": ({"compositional_deconstruction": {"background": "b", "elements": [], "x": 1}}, "/compositional_deconstruction"),
    "CK205": (cd({"desc": "d", "type": "obj"}), "/compositional_deconstruction/elements/0"),
    "CK206": (cd({"type": "obj", "text": "t", "desc": "d"}), "/compositional_deconstruction/elements/0"),
    "CK207": ({**cd(), "high_level_description": "h"}, ""),
    "CK301": (cd({"type": "obj", "bbox": [1, 2, 3], "desc": "d"}), "/compositional_deconstruction/elements/0/bbox"),
    "CK302": (cd({"type": "obj", "bbox": [1, 2, 3, 4.5], "desc": "d"}), "/compositional_deconstruction/elements/0/bbox"),
    "CK303": (cd({"type": "obj", "bbox": [1, 2, 3, 1004], "desc": "d"}), "/compositional_deconstruction/elements/0/bbox"),
    "CK304": (cd({"type": "obj", "bbox": [5, 2, 3, 4], "desc": "d"}), "/compositional_deconstruction/elements/0/bbox"),
    "CK305": (cd({"type": "obj", "bbox": [1, 5, 3, 4], "desc": "d"}), "/compositional_deconstruction/elements/0/bbox"),
    "CK310": (cd({"type": "obj", "desc": "d", "color_palette": "#FFFFFF"}), "/compositional_deconstruction/elements/0/color_palette"),
    "CK311": (cd({"type": "obj", "desc": "d", "color_palette": ["#000000"] * 6}), "/compositional_deconstruction/elements/0/color_palette"),
    "CK312": (cd({"type": "obj", "desc": "d", "color_palette": ["#fff"]}), "/compositional_deconstruction/elements/0/color_palette/0"),
    "CK401": (cd({"type": "obj", "desc": 5}), "/compositional_deconstruction/elements/0/desc"),
    "CK402": (cd(background=" "), "/compositional_deconstruction/background"),
    "CK403": (cd({"type": "obj", "bbox": [True, 0, True, 1], "desc": "d"}), "/compositional_deconstruction/elements/0/bbox"),
    "CK404": (cd({"type": "obj", "bbox": [5, 0, 5, 1], "desc": "d"}), "/compositional_deconstruction/elements/0/bbox"),
    "CK405": (cd({"type": "obj", "desc": "d", "color_palette": ["#000000", "#000000"]}), "/compositional_deconstruction/elements/0/color_palette/1"),
    "CK406": (cd(), "/compositional_deconstruction/elements"),
    "CK407": ('{"compositional_deconstruction":{"background":"a","background":"b","elements":[]}}', "/compositional_deconstruction/background"),
    "CK408": ('{"compositional_deconstruction": {"background": "b", "elements": []}}', ""),
    "CK501": (cd(background="word " * 12000), ""),
    "CK502": (cd(background="lantern " * 1650), ""),
    "CK601": ({"high_level_description": "word " * 60, **cd()}, "/high_level_description"),
    "CK602": (cd({"type": "obj", "desc": "A cat."}), "/compositional_deconstruction/elements/0/desc"),
    "CK603": (cd({"type": "obj", "desc": "A dog such as a terrier."}), "/compositional_deconstruction/elements/0/desc"),
    "CK604": (cd({"type": "obj", "desc": "A stunning vase."}), "/compositional_deconstruction/elements/0/desc"),
    "CK605": ({"style_description": {"aesthetics": "a", "lighting": "warm light", "medium": "painting", "art_style": "s"}, **cd()}, "/style_description/lighting"),
    "CK606": (cd({"type": "obj", "desc": "A cup with bokeh behind it."}), "/compositional_deconstruction/elements/0/desc"),
    "CK607": (cd({"type": "text", "text": "OPEN", "desc": "The word OPEN in red neon."}), "/compositional_deconstruction/elements/0/desc"),
    "CK608": (cd({"type": "obj", "desc": "d"}, {"type": "obj", "desc": "d"}), "/compositional_deconstruction/elements/1"),
    "CK609": (cd({"type": "text", "bbox": [0, 0, 500, 500], "text": "A", "desc": "d"},
                 {"type": "text", "bbox": [100, 100, 600, 600], "text": "B", "desc": "d"}), "/compositional_deconstruction/elements/1/bbox"),
    "CK610": (cd({"type": "obj", "bbox": [100, 100, 500, 500], "desc": "A round wall clock."}), "/compositional_deconstruction/elements/0/bbox"),
    "CK611": (cd({"type": "obj", "desc": "The sky, pale blue with clouds."}), "/compositional_deconstruction/elements/0/desc"),
    "CK612": ({"style_description": {"aesthetics": "a", "lighting": "l", "photo": "35mm", "medium": "illustration"}, **cd()}, "/style_description/medium"),
}


def test_every_rule_has_a_golden_case():
    assert set(GOLDEN) == set(RULES)


@pytest.mark.parametrize("code", sorted(GOLDEN))
def test_golden(code):
    source, ptr = GOLDEN[code]
    frame = (1920, 1088) if code == "CK610" else None
    report = verify(source, frame=frame)
    hits = [d for d in report if d.code == code]
    assert hits, f"{code} not reported; got {report.codes()}"
    assert hits[0].pointer == ptr
    assert hits[0].severity is RULES[code].severity
    assert hits[0].name == RULES[code].name
    # every official code carries the official text, and only those
    assert (hits[0].official is not None) == RULES[code].official


def test_rule_docs_and_lookup():
    for r in RULES.values():
        doc = r.doc()
        assert doc.startswith(f"{r.code} {r.name}") and "What:" in doc and "Fix:" in doc
    assert rule("style-key-order") is RULES["CK201"] and rule("ck201") is RULES["CK201"]


def test_select_ignore_and_report_helpers():
    source = cd({"desc": "d", "type": "obj", "bbox": [5, 2, 3, 4]})
    report = verify(source)
    assert report.filter(select=["CK2"]).codes() == ["CK205"]
    assert "CK304" not in verify(source, ignore=["CK3"]).codes()
    with pytest.raises(CaptionError):
        report.raise_for_errors()
    assert verify(cd(obj())).raise_for_errors() is not None


def test_is_valid_stops_at_first_error():
    assert is_valid(cd(obj())) and not is_valid("[]")
    gen = iter_diagnostics("[]")
    assert next(gen).code == "CK101"


def test_official_text_round_trip():
    text = '{"aspect_ratio":"16:9","high_level_description":7}'
    assert verify(text).official == CaptionVerifier().verify_raw(text)


_S = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


@_S
@given(mutants(max_elements=5))
def test_compat_and_diagnostics_agree_on_accept_reject(data):
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    official = CaptionVerifier().verify_raw(text)
    report = verify(text, tokens=False)
    assert report.ok == (official == [])
    assert report.official == official


@_S
@given(json_values())
def test_diagnostics_never_raise_on_any_json(value):
    text = json.dumps(value)
    report = verify(text)
    assert report.official == CaptionVerifier().verify_raw(text)


@_S
@given(caption_texts(max_elements=3).flatmap(lambda t: st.integers(0, len(t)).map(lambda i: t[:i] + "\ud800" + t[i:])))
def test_diagnostics_and_fixes_never_raise_on_lone_surrogates(text):
    from captionkit import fix

    report = verify(text)
    assert report.official == CaptionVerifier().verify_raw(text)
    fix(text, unsafe=True)
