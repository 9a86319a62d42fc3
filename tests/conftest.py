import sys
from pathlib import Path

# Make tests/core/official_ref.py, tests/render/render_captions.py and friends importable as plain modules.
sys.path.insert(0, str(Path(__file__).parent / "core"))
sys.path.insert(0, str(Path(__file__).parent / "render"))
