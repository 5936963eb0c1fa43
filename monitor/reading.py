"""A post's reading: normalised only when its raw content changed.

Most re-checks see exactly what the last one saw. :func:`diff.normalise` (an
HTML walk, Unicode normalisation, link folding) is the dearest step of recording
such a reading, and its answer is already known: the post's current version. So
the lifecycle keeps, in ``PostRow.known`` under :data:`RAW_KEY`, a short hash of
everything :func:`~monitor.diff.normalise` reads (:func:`raw_hash`), written only
while the post's ``current_hash`` is the normalised hash of that same raw content.
A reading whose raw hash matches is then taken as that version without parsing it
(:class:`~monitor.diff.Unparsed`): no normalisation, no word diff; its counters,
observation row, state and schedule are recorded as for any other reading.

A reading of another content source (:data:`~monitor.diff.SOURCE_FIELD`, a feed
entry's article page) is compared with that source's readings, not the post's
versions, so it is always normalised. Bumping :data:`~monitor.diff.NORMALISE_VERSION`
(when normalisation changes) makes every post's next reading normalised again.

Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from . import __version__, diff
from .observation import PostContent
from .platforms import PLATFORMS
from .rows import PostRow

__all__ = ["RAW_KEY", "raw_hash", "read", "remember", "source_readings"]

#: ``PostRow.known`` key of the raw hash of the content behind ``current_hash``.
RAW_KEY = "raw_hash"


def raw_hash(content: PostContent, platform: str) -> str | None:
    """A hash of every field :func:`~monitor.diff.normalise` reads, with the platform
    and the normaliser's version; None for a reading of another content source."""
    if content.extra.get(diff.SOURCE_FIELD):
        return None
    declared = PLATFORMS.get(platform)
    field = declared.warning_field if declared is not None else None
    warning = content.extra.get(field) if field else None
    # The project's version too: a platform's normalise_text hook may change with it.
    canon = [diff.NORMALISE_VERSION, __version__, platform, content.title, content.text,
             [str(m) for m in content.media], [str(u) for u in content.links],
             None if warning is None else str(warning)]
    blob = json.dumps(canon, ensure_ascii=False, separators=(",", ":"), default=str)
    # 96 bits in 16 characters: it is rewritten with every re-check of the post's row.
    digest = hashlib.blake2b(blob.encode("utf-8", "surrogatepass"), digest_size=12).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def read(post: PostRow, content: PostContent,
         platform: str) -> tuple[diff.Normalised, str | None]:
    """``content`` normalised, or, when its raw hash is the one behind the post's current
    version, that version's hash alone (:class:`~monitor.diff.Unparsed`); and the raw
    hash, for :func:`remember`."""
    raw = raw_hash(content, platform)
    if raw is not None and post.current_hash is not None and post.known.get(RAW_KEY) == raw:
        return diff.Unparsed(title="", text="", known_hash=post.current_hash), raw
    return diff.normalise(content, platform), raw


def remember(post: PostRow, raw: str | None, norm: diff.Normalised) -> None:
    """After the lifecycle saw ``norm``: keep ``raw`` while the post's current version is
    this reading's content, and forget it otherwise (another source, a reading that did
    not become current)."""
    if raw is not None and not norm.source and post.current_hash == norm.content_hash:
        post.known[RAW_KEY] = raw
    else:
        post.known.pop(RAW_KEY, None)


def source_readings(raw: Any) -> dict[str, int]:
    """A content source's stored readings, ``[[hash, version id], ...]``: hash → version
    id, newest first; anything else in there is skipped."""
    pairs = raw if isinstance(raw, list) else []
    return {p[0]: p[1] for p in pairs if isinstance(p, list) and len(p) == 2
            and isinstance(p[0], str) and isinstance(p[1], int)}
