"""HTML to text: the one walk over markup that every part of the monitor uses.

The diff step reads a post's text with its line and paragraph breaks
(:func:`html_text`); spiders read an error page's title or body words
(:func:`html_texts`, or :func:`html_text` with ``layout=False``). What they
leave out (scripts, styles, ``<noscript>``...) and which part of the page they
read are parameters, not copies of the walker.

The walker is the standard library's :class:`html.parser.HTMLParser`: it never
raises on broken markup, needs no C library, and its output is what the
content hashes of every stored version were computed from, so changing it
would mark every tracked post as edited.

Most posts are plain markup (``<p>``, ``<a href>``, ``<br>``, ``<span class>``),
for which that walk is ~50 µs of Python a post. For them the diff's reading
(:func:`html_text` with its defaults) is computed by a few linear regex scans in C
instead (:func:`_plain_layout`): the fragment must be text and simple tags only,
the grammar :mod:`spiders.links` accepts, and anything else (a comment, a
``<script>``, a stray ``<``, a control character...) goes to the walker. Both give
the same text, tested on every fixture and on generated tag soup
(``tests/test_text_plain.py``).
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from typing import Literal

#: Elements whose text a reader never sees.
HIDDEN = frozenset({"script", "style", "noscript", "template"})
#: Which text of a page: all of it, the ``<title>``, or the body (not the head).
Part = Literal["all", "title", "body"]

_BLOCK_TAGS = frozenset("p div li ul ol blockquote pre tr table hr h1 h2 h3 h4 h5 h6 section "
                        "article header footer figure figcaption dl dt dd".split())
_SPACES = re.compile(r"\s+")
# Unclosed "<" after the last ">" beyond which the parser's cost grows as their square.
_MAX_OPEN_TAGS = 32


class _Walker(HTMLParser):
    """Text nodes in document order, each with where it stands (``title``,
    ``head`` or ``body``), and the breaks block elements and ``<br>`` make."""

    def __init__(self, skip: frozenset[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.skip_tags = skip
        self.parts: list[tuple[str, str]] = []  # (where, text); where "" for a break
        self.skip = 0
        self.title = 0
        self.head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.skip += tag in self.skip_tags
        self.title += tag == "title"
        if tag in ("head", "body"):
            self.head = tag == "head"
        self.parts.append(("", "\n" if tag == "br" else "\n\n" if tag in _BLOCK_TAGS else ""))

    def handle_endtag(self, tag: str) -> None:
        self.skip = max(0, self.skip - (tag in self.skip_tags))
        self.title = max(0, self.title - (tag == "title"))
        self.head = self.head and tag != "head"
        self.parts.append(("", "\n\n" if tag in _BLOCK_TAGS else ""))

    def handle_data(self, data: str) -> None:
        if not self.skip:
            where = "title" if self.title else "head" if self.head else "body"
            self.parts.append((where, data))


def _defuse(raw: str) -> str:
    """``raw`` with the ``<`` that no ``>`` follows written as ``&lt;``, when there
    are many of them.

    Python's HTMLParser (3.11.7 here) rescans to the end of the text for each
    such ``<`` when it is closed: 30 KB of ``<a `` took 12 s. The
    text after the last ``>`` can hold no whole tag and the parser hands it on
    as text, so escaping its ``<`` reads the same words in linear time. Below the
    threshold nothing changes, so no stored content hash does.
    """
    tail = raw.rfind(">") + 1
    if raw.count("<", tail) <= _MAX_OPEN_TAGS:
        return raw
    first = raw.index("<", tail)
    return raw[:first] + raw[first:].replace("<", "&lt;")


def _walk(raw: str, skip: frozenset[str]) -> list[tuple[str, str]]:
    walker = _Walker(skip)
    walker.feed(_defuse(raw))
    walker.close()
    return walker.parts


def _wanted(where: str, part: Part) -> bool:
    return where == part or (part == "all" and where != "")


def html_texts(raw: str, *, skip: frozenset[str] = HIDDEN,
               part: Part | tuple[Part, ...] = "all") -> list[str]:
    """The non-blank text nodes of ``raw`` in document order, whitespace squashed
    within each; ``part`` picks the ``title``, the ``body`` (not the head) or both."""
    parts = (part,) if isinstance(part, str) else part
    out = []
    for where, data in _walk(raw, skip):
        if where and any(_wanted(where, p) for p in parts) and (text := _SPACES.sub(" ", data)
                                                                 .strip()):
            out.append(text)
    return out


# The plain-markup grammar (as spiders.links reads it): text without "<", and tags
# ``<name attr="v" attr='v' attr=v attr>`` (``/>`` too) and end tags, ASCII
# whitespace between the parts; no control characters.
_WS = r"[ \t\n\r]"
_ODD = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff"
_NAME = r"[a-zA-Z][a-zA-Z0-9]*+"
_ATTR = (rf"{_WS}++[a-zA-Z_:][-a-zA-Z0-9_:.]*+(?:{_WS}*+={_WS}*+(?:\"[^\"<{_ODD}]*+\"|"
         rf"'[^'<{_ODD}]*+'|[^ \t\n\r\f\"'<>=`{_ODD}]++))?")
_PLAIN = re.compile(rf"[^<{_ODD}]*+(?:</?{_NAME}(?:{_ATTR})*+{_WS}*+/?>[^<{_ODD}]*+)*+")
_TAG = re.compile(rf"<(/?)({_NAME})(?:{_ATTR})*+{_WS}*+(/?)>")
# Elements the walker reads otherwise (raw text, RCDATA, hidden, foreign content).
_NOT_PLAIN = re.compile(r"<(?:script|style|textarea|title|xmp|iframe|noembed|noframes|"
                        r"noscript|plaintext|template|svg|math|head|body)(?![a-z0-9])")


def _plain_layout(raw: str) -> str | None:
    """:func:`html_text`'s default reading of ``raw`` when it is plain markup, without
    the walker; None when it is not plain (the walker's turn)."""
    if _PLAIN.fullmatch(raw) is None or _NOT_PLAIN.search(raw.lower()) is not None:
        return None
    out: list[str] = []
    pos = 0
    for tag in _TAG.finditer(raw):
        if tag.start() > pos:
            out.append(unescape(raw[pos:tag.start()]))
        name = tag.group(2).lower()
        block = name in _BLOCK_TAGS
        if tag.group(1):  # an end tag
            out.append("\n\n" if block else "")
        else:  # a start tag; "/>" is a start and an end tag
            out.append("\n" if name == "br" else "\n\n" if block else "")
            if tag.group(3) and block:
                out.append("\n\n")
        pos = tag.end()
    out.append(unescape(raw[pos:]))
    return "".join(out)


def html_text(raw: str, *, skip: frozenset[str] = HIDDEN, part: Part = "all",
              layout: bool = True) -> str:
    """The text of ``raw``, entities decoded, elements in ``skip`` left out.

    With ``layout`` (the diff's reading) text nodes are kept as served and
    ``<br>`` becomes a line break, a block element a paragraph break; without it
    the non-blank nodes of ``part`` are joined by single spaces.
    """
    if not layout:
        return " ".join(html_texts(raw, skip=skip, part=part))
    if part == "all" and skip == HIDDEN and (plain := _plain_layout(raw)) is not None:
        return plain
    return "".join(data for where, data in _walk(raw, skip) if not where or _wanted(where, part))
