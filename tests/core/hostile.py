"""Hostile caption texts and the official verifier run as a script runs it, for the compat tests.

The texts hide values ``json.loads`` may not read (deep nesting, long integers)
or reads in its own way (duplicate keys, every JSON kind) in every place of a
caption: extra keys, shadowed or winning duplicates, list items, scalars.
"""

import _thread
import json
import os
import sys

from differential import REF, SETTINGS, no_unhashable_type
from hypothesis import settings
from hypothesis import strategies as st

from captionkit.compat import MAX_DEPTH
from captionkit.strategies import json_values, mutants

# Each hostile example is up to a few kilobytes of nesting, checked on every route against
# the official run: fewer per run than the other differential tests by default; set
# CAPTIONKIT_HOSTILE_EXAMPLES for a longer run.
HOSTILE_SETTINGS = settings(SETTINGS, max_examples=int(os.environ.get("CAPTIONKIT_HOSTILE_EXAMPLES", "120")))


def nested(levels, kinds="[", inner=""):
    """``levels`` nested arrays and objects (cycling through ``kinds``) around ``inner``."""
    opens, closes = [], []
    for level in range(levels):
        if kinds[level % len(kinds)] == "[":
            opens.append("[")
            closes.append("]")
        else:
            opens.append('{"k":')
            closes.append("}")
    return "".join(opens) + inner + "".join(reversed(closes))


def at_stack_depth(room, fn, *args):
    """``fn(*args)`` called with only about ``room`` frames left below the recursion limit."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back

    def down(n):
        return down(n - 1) if n else fn(*args)

    return down(max(0, sys.getrecursionlimit() - depth - room))


def official_in_a_function(text):
    """The reference, called as the official verifier is from a function at a script's top level.

    A fresh thread's first frame stands in for the script's module frame, so the
    stack is the same as ``def main(): verifier.verify_raw(text)`` then ``main()``,
    under the default recursion limit of 1000: where the limit is higher (hypothesis
    raises it while it runs a test), frames are spent first to leave the same room.
    Returns ``("ok", warnings)`` or ``("raised", exception)``.
    """
    result = []
    done = _thread.allocate_lock()
    done.acquire()

    def script():
        def main():
            return REF.verify_raw(text)

        try:
            result.append(("ok", main()))
        except Exception as exc:
            result.append(("raised", exc))
        finally:
            done.release()

    def spend(frames):  # ``frames`` frames, then the script
        return spend(frames - 1) if frames > 1 else script()

    extra = sys.getrecursionlimit() - 1000
    if extra > 0:
        _thread.start_new_thread(spend, (extra,))
    else:
        _thread.start_new_thread(script, ())
    done.acquire()
    return result[0]


def deep_payload(draw, depth):
    target = draw(st.one_of(st.integers(MAX_DEPTH - 8, MAX_DEPTH + 8), st.integers(1, 1100), st.just(MAX_DEPTH + 1)))
    kinds = draw(st.sampled_from(["[", "{", "[{", "{[[", "[[[{"]))
    inner = draw(st.sampled_from(["", "1", "null", '"]]}{["', "NaN", "-Infinity", "1 2", "[1,]", '{"a" 1}', '"\\x"', '"\x01"',
                                  "[]", "{}", '"\\u00e9"', "9" * 4301, "1e400", "1.5", "tru"]))
    text = nested(max(1, target - depth), kinds, inner)
    if draw(st.integers(0, 9)) == 0:  # left open
        text = text.rstrip("]}")
    return text


def digits_payload(draw, depth):
    limit = sys.get_int_max_str_digits()
    n = draw(st.one_of(st.sampled_from([limit - 1, limit, limit + 1, 640, 641, 2 * limit]), st.integers(1, 6000)))
    digits = "1" + "0" * (n - 1)
    form = draw(st.sampled_from(["{}", "-{}", "{}.5", "{}e3", '"{}"', "[{}]", "[0,{}]", '{{"k":{}}}']))
    return form.format(digits)


def any_payload(draw, depth):
    return json.dumps(draw(json_values(max_leaves=6)), ensure_ascii=draw(st.booleans()))


def type_payload(draw, depth):
    return draw(st.sampled_from(['"obj"', '"text"', '"x"', "1", "null", '["obj"]', '{"a":1}', "true"]))


@st.composite
def hostile_texts(draw, payload):
    """Caption-like texts with ``payload`` values injected as extra keys, shadowed or winning duplicates,
    extra list items or in place of scalars."""
    data = draw(mutants(max_elements=4).filter(no_unhashable_type))
    injected = [0]

    def inject(depth):
        injected[0] += 1
        return payload(draw, depth)

    def dump(value, depth):
        if isinstance(value, dict):
            parts = []
            for key, item in value.items():
                name = json.dumps(key, ensure_ascii=False)
                if draw(st.integers(0, 7)) == 0:  # a shadowed duplicate before the real entry
                    parts.append(f"{name}:{inject(depth + 1)}")
                parts.append(f"{name}:{dump(item, depth + 1)}")
                if draw(st.integers(0, 15)) == 0:  # a later duplicate wins
                    parts.append(f"{name}:{inject(depth + 1)}")
            if draw(st.integers(0, 7)) == 0:
                parts.insert(draw(st.integers(0, len(parts))), f'"x":{inject(depth + 1)}')
            return "{" + ",".join(parts) + "}"
        if isinstance(value, list):
            items = [dump(item, depth + 1) for item in value]
            if draw(st.integers(0, 7)) == 0:
                items.insert(draw(st.integers(0, len(items))), inject(depth + 1))
            return "[" + ",".join(items) + "]"
        if draw(st.integers(0, 15)) == 0:
            return inject(depth)
        return json.dumps(value, ensure_ascii=False)

    text = dump(data, 0)
    if not injected[0]:
        text = text[:1] + f'"x":{inject(1)},' + text[1:] if text.startswith("{") else f"[{text},{inject(1)}]"
    return text
