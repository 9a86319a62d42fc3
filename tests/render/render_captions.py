"""Captions shared by the render tests (plain data, importable without torch)."""

KITE = {
    "high_level_description": "A red kite over a green hill.",
    "compositional_deconstruction": {
        "background": "A green hill under a blue sky.",
        "elements": [{"type": "obj", "bbox": [100, 300, 400, 700], "desc": "A red diamond kite."}],
    },
}

BOAT = {
    "high_level_description": "A yellow boat.",
    "compositional_deconstruction": {"background": "A calm lake.", "elements": []},
}
