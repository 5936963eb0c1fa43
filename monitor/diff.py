"""The diff step: normalise a post, hash it, and compare two versions.

Pure functions, no I/O. :func:`normalise` turns a :class:`PostContent` into a
:class:`Normalised` whose :attr:`~Normalised.content_hash` ignores markup,
whitespace and counters; :func:`compare` explains a change as an
:class:`EditDiff` (similarity, classes from :data:`EDIT_CLASSES`, word diff);
:func:`is_flap` says whether "new" content is really one of the last versions.

Words are tokenised and aligned by :mod:`monitor.words`.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .observation import PostContent
from .platform import SOURCE_FIELD as SOURCE_FIELD  # re-exported: diff's own key
from .platforms import PLATFORMS, Platform
from .text import html_text
from .words import nonspace, tokenise, word_ops
from .words import similarity as similarity_of

#: Edit classes, most telling first. :func:`compare` returns at least one.
EDIT_CLASSES: dict[str, str] = {
    "text_removed": "a substantial part of the text was removed, or replaced by a redaction "
    "marker ([removed], ███, *** ...), with little added",
    "major_rewrite": "large change: similarity below MAJOR_MAX_SIMILARITY",
    "text_changed": "moderate change: neither a minor fix nor a rewrite",
    "minor_fix": "small change (typo, punctuation): similarity at least MINOR_MIN_SIMILARITY "
    "and at most MINOR_MAX_CHARS characters changed",
    "text_added": "a substantial amount of text was added, little removed",
    "title_changed": "the title differs",
    "warning_added": "a content warning appeared (the author's or a moderator's CW)",
    "warning_removed": "the content warning was taken off",
    "warning_changed": "the content warning's wording changed",
    "media_removed": "one or more media items are gone",
    "media_added": "one or more media items are new",
    "link_removed": "one or more links are gone",
    "link_added": "one or more links are new",
    "unchanged": "no difference after normalisation (callers normally never ask)",
}

# Similarity is rapidfuzz's Indel ratio (0..100) over title + text. In a sentence
# of eight words a typo scores ~97 and one swapped word 84-93, while unrelated
# sentences still score 30-50 on shared letters alone. Hence ≥ 90 is a fix (a
# word swap in a short post is not: it can turn the meaning), < 60 a rewrite,
# and the band between a plain text change.
MINOR_MIN_SIMILARITY = 90.0
MAJOR_MAX_SIMILARITY = 60.0
# In a long post a dropped sentence still scores ≥ 90; a fix touches a few words.
MINOR_MAX_CHARS = 40
# "Substantial" removal or addition: a fifth of the old text, or, in a long text
# where a fifth would hide a deleted paragraph, 50 characters (spaces not
# counted): a short sentence of English, two or three of Chinese.
SUBSTANTIAL_SHARE = 0.2
SUBSTANTIAL_CHARS = 50
# "Little added" (resp. removed): at most a quarter of what was removed (added),
# so a redaction that leaves a short note behind still counts as a removal.
LITTLE_RATIO = 0.25

#: What a moderator or the platform leaves where content was cut.
REDACTION = re.compile(
    r"[\[【(（]\s*(?:removed|redacted|deleted|censored|withheld|"
    r"已删除|已被删除|已屏蔽|已隐藏|删除)\s*[\]】)）]|█{2,}|□{2,}|×{2,}|\*{3,}",
    re.IGNORECASE,
)
# Text is parsed as HTML only if it holds a common tag, so "x<y and y>z" survives.
_MARKUP = re.compile(
    r"<!--|</?(?:p|br|a|span|div|b|i|u|s|em|strong|del|ins|code|pre|blockquote|ul|ol|li|"
    r"h[1-6]|img|hr|sub|sup|small|table|tr|td|figure|section|article|script|style)\b[^<>]*>",
    re.IGNORECASE,
)
#: The version of :func:`normalise`'s rules: bump it when they change, so that every
#: post's next reading is normalised again (see :mod:`monitor.reading`).
NORMALISE_VERSION = 1
# Zero-width space, word joiner, BOM, soft hyphen: invisible, from copy-paste or
# markup. ZWJ and ZWNJ stay: emoji sequences and Persian need them.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u2060\ufeff\u00ad"))


def _plain(raw: str | None) -> str:
    """Markup stripped, entities unescaped, NFC, invisible characters gone."""
    raw = raw or ""
    if _MARKUP.search(raw):
        raw = html_text(raw)
    else:
        raw = html.unescape(raw)
    return unicodedata.normalize("NFC", raw).translate(_INVISIBLE)


def _fold(text: str) -> str:
    return " ".join(text.split())


def _fold_lines(text: str) -> str:
    """Whitespace folded within lines; at most one blank line between paragraphs."""
    out: list[str] = []
    for line in text.splitlines():
        if (folded := _fold(line)) or (out and out[-1]):
            out.append(folded)
    return "\n".join(out).strip("\n")


def _link(url: str) -> str:
    """Stripped, with scheme and host lower-cased (paths are case-sensitive)."""
    try:
        parts = urlsplit(url := url.strip())
    except ValueError:  # e.g. a broken IPv6 host: keep as served
        return url
    low = parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower())
    return urlunsplit(low) if parts.scheme and parts.netloc else url


@dataclass(frozen=True, slots=True)
class Normalised:
    """A post's content as compared and hashed: plain text, no counters."""

    title: str
    text: str
    media: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    warning: str = ""
    #: Where the content was read when not from the post itself (see SOURCE_FIELD).
    source: str = ""
    #: :attr:`content_hash` once read (a reading's is read three or four times as it is
    #: recorded: its raw hash, its run, its version); no part of equality nor of repr.
    _hash: str = field(default="", init=False, repr=False, compare=False)

    @property
    def content_hash(self) -> str:
        """SHA-256 hex of the canonical form: whitespace folded to single spaces,
        media and links sorted (platforms do not keep attachment order stable);
        another source's content never hashes like the post's own. Computed once."""
        if not self._hash:
            canon = [1, _fold(self.title), _fold(self.text), sorted(self.media),
                     sorted(self.links), _fold(self.warning)]
            if self.source:  # appended, so every hash stored before sources existed holds
                canon.append(self.source)
            blob = json.dumps(canon, ensure_ascii=False, separators=(",", ":"))
            object.__setattr__(self, "_hash", hashlib.sha256(blob.encode()).hexdigest())
        return self._hash

    def to_json(self) -> dict[str, Any]:
        out = {"title": self.title, "text": self.text, "media": list(self.media),
               "links": list(self.links), "warning": self.warning}
        return {**out, "source": self.source} if self.source else out

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Normalised:
        """Inverse of :meth:`to_json`; values are trusted as already normalised."""
        return cls(title=d.get("title") or "", text=d.get("text") or "",
                   media=tuple(d.get("media") or ()), links=tuple(d.get("links") or ()),
                   warning=d.get("warning") or "", source=d.get("source") or "")


@dataclass(frozen=True, slots=True)
class Unparsed(Normalised):
    """A reading whose raw content is that of the post's current version
    (:mod:`monitor.reading`): it carries that version's hash and nothing else. Only
    its :attr:`content_hash` may be read; it is never stored nor compared."""

    known_hash: str = ""

    @property
    def content_hash(self) -> str:
        return self.known_hash


def normalise(post: PostContent, platform: str | Platform | None = None) -> Normalised:
    """The comparable content of ``post``, with its platform's hooks applied (its
    markup folded away, e.g. RedNote's ``#tag[话题]#`` to ``#tag``; its content
    warning field); media and links keep their order, stripped and without duplicates."""
    if isinstance(platform, str):
        platform = PLATFORMS.get(platform)
    text = _plain(post.text)
    warning = ""
    if platform is not None:
        text = platform.normalise_text(text)
        if platform.warning_field:
            warning = _fold(_plain(str(post.extra.get(platform.warning_field) or "")))
    return Normalised(
        title=_fold(_plain(post.title)),
        text=_fold_lines(text),
        media=tuple(dict.fromkeys(m for m in (str(m).strip() for m in post.media) if m)),
        links=tuple(dict.fromkeys(u for u in (_link(str(u)) for u in post.links) if u)),
        warning=warning,
        source=str(post.extra.get(SOURCE_FIELD) or ""),
    )


_SCALED = re.compile(r"(\d+(?:\.\d+)?)\s*([万亿千wWkKmM])")
_GROUPED = re.compile(r"\d{1,3}(?:[, \u00a0\u202f]\d{3})+")
_SCALE = {"万": 10_000, "w": 10_000, "W": 10_000, "亿": 100_000_000, "千": 1_000,
          "k": 1_000, "K": 1_000, "m": 1_000_000, "M": 1_000_000}


def parse_count(value: object) -> int | str:
    """``"1.2万"`` → 12000, ``"3,456"`` → 3456, ``12`` → 12. Anything ambiguous
    (``"10万+"`` is a floor, ``"3.456"`` may be German) stays the raw string."""
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return int(value) if value.is_integer() else str(value)
    if not isinstance(value, str):
        return "" if value is None else str(value)
    s = value.strip()
    if s.isdecimal():
        return int(s)
    if _GROUPED.fullmatch(s):
        return int(re.sub(r"\D", "", s))
    if (m := _SCALED.fullmatch(s)) and (n := Decimal(m[1]) * _SCALE[m[2]]) % 1 == 0:
        return int(n)
    return value


def counters(post: PostContent) -> dict[str, int | str]:
    """The volatile counters (likes, shares...), parsed; never part of the hash."""
    return {key: parse_count(value) for key, value in post.counters.items()}


# --- comparison ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EditDiff:
    """How two versions differ.

    ``word_diff`` covers title and text as ``(op, words)``, op being ``equal``,
    ``delete`` or ``insert``; a replacement is a delete followed by an insert.
    ``words`` keeps the whitespace before it (a change at the very start: the
    whitespace after it), so ``equal`` + ``insert`` parts give the new
    ``title\\n\\ntext`` back exactly, and ``equal`` + ``delete`` the old one
    up to whitespace (equal stretches carry the new side's spacing).
    """

    similarity: float
    classes: tuple[str, ...]
    word_diff: list[tuple[str, str]]
    removed_media: tuple[str, ...] = ()
    removed_links: tuple[str, ...] = ()
    added_media: tuple[str, ...] = ()
    added_links: tuple[str, ...] = ()
    warning: tuple[str, str] = ("", "")  # (old, new) content warning

    def to_json(self) -> dict[str, Any]:
        return {"similarity": self.similarity, "classes": list(self.classes),
                "word_diff": [[op, words] for op, words in self.word_diff],
                **{k: list(getattr(self, k)) for k in ("removed_media", "removed_links",
                                                       "added_media", "added_links", "warning")}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> EditDiff:
        """Inverse of :meth:`to_json`."""
        old_w, new_w = d.get("warning") or ("", "")
        return cls(similarity=float(d["similarity"]), classes=tuple(d["classes"]),
                   word_diff=[(op, words) for op, words in d["word_diff"]],
                   removed_media=tuple(d.get("removed_media") or ()),
                   removed_links=tuple(d.get("removed_links") or ()),
                   added_media=tuple(d.get("added_media") or ()),
                   added_links=tuple(d.get("added_links") or ()), warning=(old_w, new_w))

    def render(self, context: int | None = 60) -> str:
        """``the [-old-]{+new+} words``, then lines for the warning, media and links.

        Unchanged stretches keep ``context`` characters next to each change and
        changes 4 × ``context`` at each end (None: everything).
        """
        out: list[str] = []
        ops = [op for op, _ in self.word_diff]
        for n, (op, words) in enumerate(self.word_diff):
            if op == "equal":
                out.append(_elide(words, n > 0, n < len(ops) - 1, context))
                continue
            body = _elide(words.strip(), True, True, context and 4 * context)
            lead = words[: len(words) - len(words.lstrip())]
            trail = words[len(words.rstrip()) :]
            if op == "delete":  # git's style: a replacement reads [-old-]{+new+}
                replaced = ops[n + 1 : n + 2] == ["insert"]
                out.append(f"{lead}[-{body}-]{'' if replaced else trail}")
            else:
                out.append(f"{'' if ops[n - 1 : n] == ['delete'] else lead}{{+{body}+}}{trail}")
        lines = ["".join(out)] if out else []
        if self.warning[0] != self.warning[1]:
            was, now = self.warning
            lines.append("content warning: " + (f"[-{was}-]" if was else "")
                         + (f"{{+{now}+}}" if now else ""))
        for label, items in (("media removed", self.removed_media),
                             ("media added", self.added_media),
                             ("links removed", self.removed_links),
                             ("links added", self.added_links)):
            if items:
                lines.append(f"{label}: {' '.join(items)}")
        return "\n".join(lines) or "(no change)"


def _elide(s: str, change_before: bool, change_after: bool, n: int | None) -> str:
    """Keep ``n`` characters at each end that touches a change, cut at a space if any."""
    if n is None or len(s) <= 2 * n + 5:
        return s
    head = s[:n].rsplit(" ", 1)[0] if " " in s[1:n] else s[:n]
    tail = s[-n:].split(" ", 1)[-1] if " " in s[-n:-1] else s[-n:]
    keep_head = change_before or not change_after
    return " ".join([*([head] if keep_head else []), "…", *([tail] if change_after else [])])


def _gone(a: Sequence[str], b: Sequence[str]) -> tuple[str, ...]:
    kept = set(b)
    return tuple(x for x in a if x not in kept)


def same_source(old: Normalised, new: Normalised) -> bool:
    """Whether two readings are of the same thing: a post's own content is never
    compared with another source's (a feed entry's summary with its article page)."""
    return old.source == new.source


def compare(old: Normalised, new: Normalised) -> EditDiff:
    """Explain the change from ``old`` to ``new`` (both of one source, see :func:`same_source`)."""
    a_doc = "\n\n".join(part for part in (old.title, old.text) if part)
    b_doc = "\n\n".join(part for part in (new.title, new.text) if part)
    a, b = tokenise(a_doc), tokenise(b_doc)
    a_title, b_title = len(tokenise(old.title)), len(tokenise(new.title))

    word_diff: list[tuple[str, str]] = []
    deleted = inserted = changed = 0  # characters: of the text; of title and text
    no_lead = -1  # a change at the very start takes the whitespace after it along
    for tag, i1, i2, j1, j2 in word_ops([a_doc[s:e] for _, s, e in a],
                                         [b_doc[s:e] for _, s, e in b]):
        doc, toks, k1, k2 = (a_doc, a, i1, i2) if tag == "delete" else (b_doc, b, j1, j2)
        end = toks[k2][1] if k1 == 0 and tag != "equal" and k2 < len(toks) else toks[k2 - 1][2]
        word_diff.append((tag, doc[toks[k1][1 if j1 == no_lead else 0] : end]))
        changed += sum(e - s for _, s, e in toks[k1:k2]) if tag != "equal" else 0
        if tag == "delete":
            deleted += sum(e - s for _, s, e in a[max(i1, a_title) : i2])
        elif tag == "insert":
            inserted += sum(e - s for _, s, e in b[max(j1, b_title) : j2])
            no_lead = j2 if j1 == 0 else no_lead
    similarity = similarity_of(_fold(a_doc), _fold(b_doc), word_diff)

    old_marks = [nonspace(m) for m in REDACTION.findall(old.text)]
    new_marks = [nonspace(m) for m in REDACTION.findall(new.text)]
    added = max(0, inserted - max(0, sum(new_marks) - sum(old_marks)))  # markers aside
    old_chars = sum(e - s for _, s, e in a[a_title:])
    big = max(1.0, min(SUBSTANTIAL_SHARE * old_chars, SUBSTANTIAL_CHARS))
    found: set[str] = set()
    if deleted and added <= LITTLE_RATIO * deleted and (
        len(new_marks) > len(old_marks) or deleted >= big
    ):
        found.add("text_removed")
    elif inserted >= big and deleted <= LITTLE_RATIO * inserted:
        found.add("text_added")
    elif old.title != new.title or _fold(old.text) != _fold(new.text):
        small = similarity >= MINOR_MIN_SIMILARITY and changed <= MINOR_MAX_CHARS
        found.add("minor_fix" if small
                  else "major_rewrite" if similarity < MAJOR_MAX_SIMILARITY
                  else "text_changed")
    if old.title != new.title:
        found.add("title_changed")
    if old.warning != new.warning:
        found.add("warning_changed" if old.warning and new.warning
                  else "warning_added" if new.warning else "warning_removed")
    moved = {"media_removed": _gone(old.media, new.media),
             "media_added": _gone(new.media, old.media),
             "link_removed": _gone(old.links, new.links),
             "link_added": _gone(new.links, old.links)}
    found.update(name for name, items in moved.items() if items)
    if not found:
        found.add("unchanged" if old.content_hash == new.content_hash else "minor_fix")
    return EditDiff(
        similarity=similarity,
        classes=tuple(name for name in EDIT_CLASSES if name in found),
        word_diff=word_diff,
        removed_media=moved["media_removed"],
        removed_links=moved["link_removed"],
        added_media=moved["media_added"],
        added_links=moved["link_added"],
        warning=(old.warning, new.warning),
    )


def is_flap(new_hash: str, recent_hashes: Sequence[str]) -> bool:
    """True if ``new_hash`` is one of ``recent_hashes`` (the post's last versions, as many
    as the FLAP_VERSIONS setting says, like urlwatch's ``compared_versions``): content
    flipping back to an earlier version is not a new edit."""
    return bool(new_hash) and new_hash in recent_hashes
