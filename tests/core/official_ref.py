"""A plain, slow transcription of the official verifier's behaviour from the spec.

It is the oracle for differential tests of captionkit's fast compat verifier:
written straight from the check order in the caption-format spec (Part B),
with no shared code, no fast paths and no orjson. Like the official class it
crashes on an unhashable element ``type`` (the compat mode documents that
divergence), so tests that use it avoid those inputs or expect the crash.
"""

import json
import re
from pathlib import Path

NON_ASCII_UNICODE_ESCAPE_RE = re.compile(
    r"\\u(?:00[89a-fA-F][0-9a-fA-F]|0[1-9a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{3})"
)


class ReferenceVerifier:
    top_level_known_keys = frozenset({"high_level_description", "style_description", "compositional_deconstruction"})
    style_description_key_order_photo = ("aesthetics", "lighting", "photo", "medium", "color_palette")
    style_description_key_order_non_photo = ("aesthetics", "lighting", "medium", "art_style", "color_palette")
    compositional_deconstruction_key_order = ("background", "elements")
    element_key_order_obj = ("type", "bbox", "desc", "color_palette")
    element_key_order_text = ("type", "bbox", "text", "desc", "color_palette")
    style_description_known_keys = frozenset({"aesthetics", "lighting", "photo", "art_style", "medium", "color_palette"})
    element_known_keys = frozenset({"type", "bbox", "text", "desc", "color_palette"})
    element_types = frozenset({"obj", "text"})

    def verify_file(self, path):
        return self.verify_raw(Path(path).read_text(encoding="utf-8"))

    def verify_raw(self, raw_text):
        warnings = self.check_ensure_ascii_false(raw_text)
        try:
            caption = json.loads(raw_text)
        except json.JSONDecodeError as e:
            warnings.append(f"invalid JSON: {e}")
            return warnings
        return warnings + self.verify(caption)

    @classmethod
    def check_ensure_ascii_false(cls, raw_text, max_examples=3):
        matches = NON_ASCII_UNICODE_ESCAPE_RE.findall(raw_text)
        if not matches:
            return []
        if any(ord(ch) > 0x7F for ch in raw_text):
            return []
        unique = sorted(set(matches))
        examples = ", ".join(unique[:max_examples])
        more = ", ..." if len(unique) > max_examples else ""
        return [
            f"raw text: found {len(matches)} non-ASCII unicode escape(s) (e.g. {examples}{more}) and no literal "
            "non-ASCII characters. This usually means the file was saved with ensure_ascii=True; please re-save "
            "with json.dump(..., ensure_ascii=False) so non-ASCII characters are stored as literal UTF-8. Note: "
            "this is a warning, not an error, because the escapes could have been written intentionally "
            "\u2014 we cannot tell from the file alone."
        ]

    @staticmethod
    def _order(obj, expected, path):
        out = []
        present = tuple(k for k in obj if k in expected)
        if present != expected:
            out.append(f"{path}: key order is {present!r}, expected {expected!r}")
        extra = [k for k in obj if k not in expected]
        if extra:
            out.append(f"{path}: keys {extra!r} are not allowed in this context")
        return out

    @staticmethod
    def _unknown(obj, known, path):
        unknown = [k for k in obj if k not in known]
        return [f"{path}: unknown keys {unknown!r} (not in schema)"] if unknown else []

    def _palette(self, pal, path, mx):
        if not isinstance(pal, list):
            return [f"{path}: expected a list"]
        if len(pal) > mx:
            return [f"{path}: too many colors ({len(pal)}), expected at most {mx}"]
        out = []
        for j, c in enumerate(pal):
            ok = isinstance(c, str) and len(c) == 7 and c[0] == "#" and all(ch in "0123456789ABCDEF" for ch in c[1:])
            if not ok:
                out.append(f"{path}[{j}]: '{c}' is not a valid #RRGGBB hex color")
        return out

    def verify(self, caption):
        w = []
        if not isinstance(caption, dict):
            return [f"root: expected a JSON object (dict), got {type(caption).__name__}"]
        w += self._unknown(caption, self.top_level_known_keys, "root")
        if "high_level_description" in caption and not isinstance(caption["high_level_description"], str):
            w.append(f"high_level_description: expected a string, got {type(caption['high_level_description']).__name__}")
        if "style_description" in caption:
            w += self._style(caption["style_description"])
        if "compositional_deconstruction" in caption:
            w += self._cd(caption["compositional_deconstruction"])
        else:
            w.append("root: 'compositional_deconstruction' must exist")
        return w

    def _style(self, sd):
        if not isinstance(sd, dict):
            return ["style_description: expected a dict"]
        w = self._unknown(sd, self.style_description_known_keys, "style_description")
        if "photo" in sd and "art_style" in sd:
            return w + ["style_description: contains both 'photo' and 'art_style'; expected exactly one"]
        if "photo" not in sd and "art_style" not in sd:
            return w + ["style_description: expected one of 'photo' (for photo captions) or 'art_style' (for non-photo captions)"]
        base = self.style_description_key_order_photo if "photo" in sd else self.style_description_key_order_non_photo
        expected = tuple(k for k in base if k != "color_palette" or "color_palette" in sd)
        w += self._order(sd, expected, "style_description")
        if "color_palette" in sd:
            w += self._palette(sd["color_palette"], "style_description.color_palette", 16)
        return w

    def _cd(self, cd):
        if not isinstance(cd, dict):
            return ["compositional_deconstruction: expected a dict"]
        if "background" not in cd:
            return ["compositional_deconstruction: 'background' must exist"]
        if not isinstance(cd["background"], str):
            return [f"compositional_deconstruction.background: expected a string, got {type(cd['background']).__name__}"]
        if "elements" not in cd:
            return ["compositional_deconstruction: 'elements' must exist"]
        w = self._order(cd, self.compositional_deconstruction_key_order, "compositional_deconstruction")
        if not isinstance(cd["elements"], list):
            return w + ["compositional_deconstruction.elements: expected a list"]
        for i, el in enumerate(cd["elements"]):
            w += self._element(el, i)
        return w

    def _element(self, el, i):
        p = f"elements[{i}]"
        if not isinstance(el, dict):
            return [f"{p}: expected a dict"]
        w = self._unknown(el, self.element_known_keys, p)
        if "type" not in el:
            return w + [f"{p}: 'type' must exist"]
        if el["type"] not in self.element_types:  # crashes on lists/dicts, like the official
            return w + [f"{p}: 'type' must be one of {self.element_types!r}"]
        base = self.element_key_order_obj if el["type"] == "obj" else self.element_key_order_text
        expected = tuple(k for k in base if (k != "bbox" or "bbox" in el) and (k != "color_palette" or "color_palette" in el))
        w += self._order(el, expected, p)
        if "bbox" in el:
            b = el["bbox"]
            bp = f"{p}.bbox"
            if not isinstance(b, list) or len(b) != 4:
                w.append(f"{bp}: expected [ymin, xmin, ymax, xmax]")
            elif not all(isinstance(v, int) for v in b):
                w.append(f"{bp}: all values must be int")
            else:
                if any(v < 0 or v > 1000 for v in b):
                    # the official f-string renders the list with str(), not repr()
                    w.append(f"{bp}: values must be in [0, 1000], got {b}")
                if b[0] > b[2]:
                    w.append(f"{bp}: ymin ({b[0]}) > ymax ({b[2]})")
                if b[1] > b[3]:
                    w.append(f"{bp}: xmin ({b[1]}) > xmax ({b[3]})")
        if "color_palette" in el:
            w += self._palette(el["color_palette"], f"{p}.color_palette", 5)
        return w
