import sys
from pathlib import Path

# Make tests/core/official_ref.py, tests/render/render_captions.py and friends importable as plain modules.
sys.path.insert(0, str(Path(__file__).parent / "core"))
sys.path.insert(0, str(Path(__file__).parent / "render"))

# One hypothesis profile for the suite (tests pass only what they must change, with the reason).
# CAPTIONKIT_HYPOTHESIS_PROFILE=deep runs the same properties with many more examples.
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # pragma: no cover - the testing extra is part of the dev install
    pass
else:
    settings.register_profile("captionkit", max_examples=150, deadline=None)
    settings.register_profile(
        "deep", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
    import os as _os

    settings.load_profile(_os.environ.get("CAPTIONKIT_HYPOTHESIS_PROFILE", "captionkit"))
