"""Committed schemas: no drift, valid against the meta-schema, and agreeing with the verifier."""

import json
from pathlib import Path

import jsonschema
from hypothesis import HealthCheck, given, settings

from captionkit.compat import CaptionVerifier
from captionkit.schema import caption_schema, diagnostics_schema, schema_text
from captionkit.strategies import caption_dicts, mutants

ROOT = Path(__file__).resolve().parents[2]
CAPTION = ROOT / "schemas/caption.schema.json"
DIAG = ROOT / "schemas/diagnostics.schema.json"


def test_committed_schemas_match_the_models():
    assert CAPTION.read_text() == schema_text(caption_schema()), (
        "schemas/caption.schema.json is stale: run `captionkit schema -o schemas/caption.schema.json`")
    assert DIAG.read_text() == schema_text(diagnostics_schema()), (
        "schemas/diagnostics.schema.json is stale: run `captionkit schema --diagnostics -o schemas/diagnostics.schema.json`")


def test_schemas_are_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(json.loads(CAPTION.read_text()))
    jsonschema.Draft202012Validator.check_schema(json.loads(DIAG.read_text()))


def test_properties_in_canonical_order():
    s = caption_schema()
    assert list(s["$defs"]["TextElement"]["properties"]) == ["type", "bbox", "text", "desc", "color_palette"]
    assert list(s["$defs"]["PhotoStyle"]["properties"]) == ["aesthetics", "lighting", "photo", "medium", "color_palette"]
    assert list(s["$defs"]["ArtStyle"]["properties"]) == ["aesthetics", "lighting", "medium", "art_style", "color_palette"]


VALIDATOR = jsonschema.Draft202012Validator(caption_schema())
_S = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


@_S
@given(caption_dicts(max_elements=6))
def test_valid_captions_are_schema_valid(data):
    assert VALIDATOR.is_valid(data)


def _structurally_comparable(data):
    # The schema cannot see key order, reads 1.0 as an integer and true as not one; compare the rest.
    text = json.dumps(data)
    return not any(f in text for f in (".0]", ".0,", "true", "false"))


@_S
@given(mutants(max_elements=4))
def test_schema_and_verifier_agree_on_structure(data):
    from captionkit._json import canonical_order

    ordered = canonical_order(data)  # take key order out of the comparison
    if not _structurally_comparable(ordered):
        return
    official = CaptionVerifier().verify(ordered)
    if any("min (" in m for m in official):
        return  # edge order (y_min <= y_max) is beyond JSON Schema
    assert VALIDATOR.is_valid(ordered) == (official == [])
