"""Links in an HTML fragment without building its tree.

:func:`spiders.responses.html_links` asks libxml2 for the ``<a href>`` of a post's
HTML, and libxml2 builds every element to answer: ~1 µs each, so a post of tiny
tags (``<b>x</b>`` a hundred times around one link) costs more than the rest of
its feed entry. :func:`html_links` here gives the same list, in the same order,
from a few linear regex scans in C when the fragment is plain markup, and asks
libxml2 otherwise:

1. The whole fragment must be text and simple tags, and nothing else: start tags
   ``<name attr="v" attr='v' attr=v attr>`` (``/>`` too) and end tags, with
   HTML's own whitespace between the parts. No comment, doctype, CDATA or
   processing instruction, no stray ``<``, no element whose content HTML does not
   read as markup (``script``, ``style``, ``textarea``, ``title``…), no ``svg``,
   ``math`` or ``meta``, no control character. Then every ``<a`` opens an
   anchor, and each anchor's first ``href`` (names are case-insensitive) is the
   one libxml2 reports.
2. An ``href`` is decoded only when its character references are the plain
   ASCII ones (``&amp;``, ``&#47;``…); any other reference, or anything in
   step 1, and the fragment goes to libxml2, whose answer is the reference.

The equality is tested on every fixture, on the fuzz corpus and on generated
tag soup (``tests/crawling/test_links.py``).
"""

from __future__ import annotations

import re

from .responses import MAX_HREFS, MAX_LINK_HTML, MAX_LINKS, join_url
from .responses import html_links as tree_links

_WS = r"[ \t\n\r]"  # HTML's whitespace; form feed is a control character here
# Controls (lxml refuses them), lone surrogates and non-characters: libxml2's turn.
_ODD = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff"
_NAME = r"[a-zA-Z][a-zA-Z0-9]*+"
_ATTR_NAME = r"[a-zA-Z_:][-a-zA-Z0-9_:.]*+"
_VALUES = (rf'"([^"<{_ODD}]*+)"', rf"'([^'<{_ODD}]*+)'", rf"""([^ \t\n\r\f"'<>=`{_ODD}]++)""")
#: One attribute: its name, then its value double-, single- or unquoted (groups 1-4).
_ATTR_PARTS = rf"{_WS}++({_ATTR_NAME})(?:{_WS}*+={_WS}*+(?:{'|'.join(_VALUES)}))?"
_ATTR = _ATTR_PARTS.replace("(", "(?:").replace("(?:?", "(?")  # the same, capturing nothing
# Text, then tags each followed by text: no alternation, so it costs ~0.05 µs a tag.
_PLAIN = re.compile(rf"[^<{_ODD}]*+(?:</?{_NAME}(?:{_ATTR})*+{_WS}*+/?>[^<{_ODD}]*+)*+")
# Elements whose content is not markup (raw text, RCDATA, foreign content), and
# meta, which may name an encoding: their start tags (in lower case) send the
# fragment to libxml2.
_AVOID = re.compile(r"<(?:script|style|textarea|title|xmp|iframe|noembed|noframes|noscript|"
                    r"plaintext|template|svg|math|meta)(?![a-z0-9])")
#: The attributes of each anchor's start tag, once the fragment is known to be plain.
_ANCHOR = re.compile(rf"<[aA]((?:{_ATTR})*+){_WS}*+/?>")
_ATTRS = re.compile(_ATTR_PARTS)
_REF = re.compile(r"&(?:(amp|lt|gt|quot|apos);|#([0-9]{1,7});|#[xX]([0-9a-fA-F]{1,6});)")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_ANCHOR_START = re.compile(r"<a(?![\w:.-])", re.I)  # as responses._ANCHOR_TAG


def html_links(html: str, base: str | None = None) -> list[str]:
    """What :func:`spiders.responses.html_links` returns, the same bounds included."""
    if not html or _ANCHOR_START.search(html, 0, MAX_LINK_HTML) is None:
        return []
    if len(html) > MAX_LINK_HTML:
        html = html[:max(html.rfind("<", 0, MAX_LINK_HTML), 1)]
    if not is_plain(html):
        return tree_links(html, base)
    seen: set[str] = set()
    out: dict[str, None] = {}
    hrefs: dict[str, str | None] = {}  # by an anchor's attributes: repeats cost no parse
    for attrs in _ANCHOR.findall(html):
        if (raw := hrefs.get(attrs, "?")) == "?":
            raw = hrefs[attrs] = _href(attrs)
        if raw is None:
            return tree_links(html, base)
        href = raw.strip()
        if not href or href in seen or href.startswith(("javascript:", "#")):
            continue
        seen.add(href)
        if base:
            href = join_url(base, href) or href
        out.setdefault(href, None)
        if len(out) >= MAX_LINKS or len(seen) >= MAX_HREFS:
            break
    return list(out)


def is_plain(html: str) -> bool:
    """True when the fragment is plain markup (see the module docstring)."""
    return _PLAIN.fullmatch(html) is not None and _AVOID.search(html.lower()) is None


def _href(attrs: str) -> str | None:
    """The first ``href`` among an anchor's attributes ("" when none), or None when
    its character references are libxml2's to read."""
    for attr in _ATTRS.finditer(attrs):
        if attr.group(1).lower() == "href":
            value = attr.group(2) or attr.group(3) or attr.group(4) or ""
            decoded = _decode(value) if "&" in value else value
            if decoded is None:
                return None
            return decoded.replace("\r\n", "\n").replace("\r", "\n")
    return ""


def _decode(value: str) -> str | None:
    """``value`` with its character references decoded, or None for one we leave
    to libxml2 (HTML's rules for the others depend on what follows them)."""
    parts = []
    pos = 0
    for ref in _REF.finditer(value):
        parts.append(value[pos:ref.start()])
        name, dec, hexa = ref.groups()
        code = ord(_NAMED[name]) if name else int(dec or hexa, 16 if hexa else 10)
        if not 0x20 <= code <= 0x7E:
            return None
        parts.append(chr(code))
        pos = ref.end()
    rest = value[pos:]
    if "&" in rest or any("&" in p for p in parts[::2]):
        return None
    return "".join(parts) + rest
