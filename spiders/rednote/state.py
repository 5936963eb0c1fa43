r"""RedNote's ``window.__INITIAL_STATE__``: found and read by linear scans only.

A page is hostile input, and a backtracking regex over it (``\s*(.*?)\s*</script>``
took 14 s on 3,000 spaces) would freeze the reactor. Every pattern here either is
anchored at one position or consumes each character at most once, and the
``undefined`` → ``null`` rewrite does its per-character work in C.
"""

from __future__ import annotations

import json
import re
from itertools import repeat
from typing import Any

from monitor.errors import ParseError

# A literal prefix (found by a C scan), then possessive whitespace: linear.
_STATE_START = re.compile(r"window\.__INITIAL_STATE__\s*+=\s*+")
_SCRIPT_END = re.compile(r"</script", re.I)
_DECODER = json.JSONDecoder()
#: Characters to mask a state's escapes with (one that the page does not hold).
_MARKS = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f" + "".join(
    chr(c) for c in range(0xE000, 0xE020))
#: Splitting at every quote costs ~1/20 of a jump between two ``undefined``s.
_QUOTES_PER_UNDEFINED = 16


def js_literal_to_json(literal: str) -> Any:
    """The first JS value of ``literal``, read as JSON: bare ``undefined`` becomes
    null (strings are left untouched), and what follows the value is ignored."""
    if "undefined" in literal:
        literal = undefined_to_null(literal)
    try:
        value, _ = _DECODER.raw_decode(literal.lstrip())
    except json.JSONDecodeError as exc:
        raise ParseError(f"__INITIAL_STATE__ is not a parseable literal: {exc}") from None
    except RecursionError:
        raise ParseError("__INITIAL_STATE__ is not a parseable literal: "
                         "nested too deeply") from None
    return value


def undefined_to_null(literal: str) -> str:
    """``literal`` with every ``undefined`` outside its string literals made ``null``.

    Linear, with the per-character work in C (``str`` methods): tokenising the
    strings one by one with a regex cost a Python object per string, 170 ms on
    a megabyte of ``""``. Escaped backslashes, then escaped quotes, are masked
    first; every quote left then opens or closes a string, so the text between
    two quotes is alternately outside and inside one (an unterminated string
    runs to the end, as a JS parser reads it).
    """
    mark = next((c for c in _MARKS if c not in literal), None)
    if mark is None:  # a page holding every mark: the same, masked with spaces
        return _rewrite_runs(literal, literal.replace("\\\\", "  ").replace('\\"', "  "))
    masked = literal.replace("\\\\", mark + "1").replace('\\"', mark + "2")
    quotes = masked.count('"')
    if quotes > _QUOTES_PER_UNDEFINED * masked.count("undefined"):
        masked = _rewrite_runs(masked, masked)
    else:
        parts = masked.split('"')  # even parts lie outside strings
        parts[::2] = map(str.replace, parts[::2], repeat("undefined"), repeat("null"))
        masked = '"'.join(parts)
    return masked.replace(mark + "2", '\\"').replace(mark + "1", "\\\\")


def _rewrite_runs(literal: str, plain: str) -> str:
    """:func:`undefined_to_null` by jumps from one ``undefined`` to the next: the
    Python work is per run between two quotes that holds one, not per string.
    ``plain`` is ``literal`` with its escapes masked, position for position."""
    out: list[str] = []
    copied = 0  # literal[:copied] is in ``out``
    pos = 0  # the quotes before ``pos`` are counted in ``inside``
    inside = False
    while (found := plain.find("undefined", pos)) >= 0:
        inside ^= bool(plain.count('"', pos, found) & 1)
        pos = plain.find('"', found)  # the run ends at the next quote
        if pos < 0:
            pos = len(plain)
        if not inside:
            out.append(literal[copied:found])
            out.append(literal[found:pos].replace("undefined", "null"))
            copied = pos
    out.append(literal[copied:])
    return "".join(out)


def state_literal(html: str) -> str | None:
    """The text after the first ``window.__INITIAL_STATE__ =``, up to its script's end."""
    start = _STATE_START.search(html)
    if start is None:
        return None
    end = _SCRIPT_END.search(html, start.end())
    return html[start.end():end.start() if end else len(html)]


def initial_state(html: str) -> dict[str, Any] | None:
    """The page's ``__INITIAL_STATE__``; None when there is none."""
    literal = state_literal(html)
    if literal is None:
        return None
    state = js_literal_to_json(literal)
    if not isinstance(state, dict):
        raise ParseError("__INITIAL_STATE__ is not an object")
    return state
