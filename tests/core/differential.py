"""Shared pieces of the differential tests against the reference transcription."""

from hypothesis import HealthCheck, settings
from official_ref import ReferenceVerifier

REF = ReferenceVerifier()
FIXED = "frozenset({'text', 'obj'})"  # compat's fixed rendering of the element-type set
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def ref(text):
    """The reference's warnings for ``text``, with the type set rendered as compat renders it."""
    return [m.replace("frozenset({'obj', 'text'})", FIXED) for m in REF.verify_raw(text)]


def no_unhashable_type(value):
    """False for values holding an element ``type`` the official verifier crashes on."""
    if isinstance(value, dict):
        if isinstance(value.get("type"), (list, dict)):
            return False
        return all(no_unhashable_type(v) for v in value.values())
    if isinstance(value, list):
        return all(no_unhashable_type(v) for v in value)
    return True
