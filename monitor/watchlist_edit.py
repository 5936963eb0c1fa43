"""Editing the watchlist file: ``takedown watch add`` and ``watch remove``.

Edits go through :mod:`tomlkit`, so the file's comments and layout survive; the
edited text is checked with the rules of :func:`monitor.watchlist.parse_watchlist`
before it replaces the file atomically (a crash leaves the old file or the new).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT

from .errors import PlatformLoadError, UnknownPlatform, WatchlistError
from .platforms import get_platform
from .watchlist import (
    Target,
    Watchlist,
    all_kinds,
    parse_watchlist,
    read_watchlist,
    target_key,
)


def add_target(
    path: str | Path, group: str, platform: str, kind: str, value: str, *,
    base_url: str | None = None, interval: str | float | None = None, tags: Iterable[str] = (),
) -> Target:
    """Add a target to the file (created if missing) and return it as resolved.

    The edited file is checked with the same rules as :func:`parse_watchlist`
    before anything is written; a duplicate key is an error.
    """
    path = Path(path)
    text, old = read_watchlist(path, missing_ok=True)
    if kind not in (kinds := all_kinds()):
        raise WatchlistError(str(path), None, f"unknown target kind {kind!r}; use one of: "
                             + ", ".join(kinds))
    if not group.strip():
        raise WatchlistError(str(path), None, "the group name is empty; name it, like journalists")
    # An unknown or broken platform is reported below, with its key.
    with contextlib.suppress(UnknownPlatform, PlatformLoadError):
        platform = get_platform(platform).name
    tags = [tags] if isinstance(tags, str) else list(tags)
    entry = {"platform": platform, kind: value, "base_url": base_url, "interval": interval,
             "tags": tags or None}
    doc = tomlkit.parse(text)
    _append_entry(doc, group, {k: v for k, v in entry.items() if v is not None})
    new, key = _commit(path, text, doc, old, +1)
    return next(t for t in new.targets if t.key == key)


def add_targets(path: str | Path, group: str,
                entries: Iterable[tuple[str, str, str]]) -> list[Target]:
    """Add ``(platform, kind, value)`` targets to one group with one read, one check and
    one atomic write (:func:`add_target` once each would re-read and re-check the whole
    file each time); return them as resolved. A key the file already has is left out.
    A problem with any of them leaves the file unchanged."""
    path = Path(path)
    text, old = read_watchlist(path, missing_ok=True)
    if not group.strip():
        raise WatchlistError(str(path), None, "the group name is empty; name it, like journalists")
    keys = {t.key for t in old.targets}
    wanted: set[str] = set()
    doc = tomlkit.parse(text)
    for platform, kind, value in entries:
        with contextlib.suppress(UnknownPlatform, PlatformLoadError):
            platform = get_platform(platform).name
        key = target_key(platform, kind, value, None)
        if key in keys:
            continue
        keys.add(key)
        wanted.add(key)
        _append_entry(doc, group, {"platform": platform, kind: value})
    if not wanted:
        return []
    new_text = tomlkit.dumps(doc)
    if "\r\n" in text:
        new_text = re.sub(r"(?<!\r)\n", "\r\n", new_text)
    new = parse_watchlist(new_text, str(path))
    added = {t.key for t in new.targets} - {t.key for t in old.targets}
    if added != wanted or len(new.targets) != len(old.targets) + len(wanted):
        raise WatchlistError(str(path), None, "cannot make this edit without disturbing other "
                             "entries (are a group's tables split across the file?); the file "
                             "was not changed; edit it by hand")
    _write_atomic(path, new_text)
    return [t for t in new.targets if t.key in added]


def remove_target(path: str | Path, key_or_value: str) -> Target:
    """Remove the target whose key, or else whose value, is ``key_or_value``."""
    path = Path(path)
    text, old = read_watchlist(path)
    wanted = key_or_value.strip()
    matches = [t for t in old.targets if t.key == wanted] or [
        t for t in old.targets if t.value in (wanted, wanted.removeprefix("@"))
    ]
    if not matches:
        names = [t.key for t in old.targets] + [t.value for t in old.targets]
        close = list(dict.fromkeys(difflib.get_close_matches(wanted, names, n=5, cutoff=0.5)))
        hint = ("did you mean: " + ", ".join(close) if close
                else "keys in the file: " + ", ".join(t.key for t in old.targets[:10])
                if old.targets else "the watchlist has no targets")
        raise WatchlistError(str(path), None, f"no target has the key or value {wanted!r}; {hint}")
    if len(matches) > 1:
        raise WatchlistError(str(path), None, f"{wanted!r} matches {len(matches)} targets: "
                             + ", ".join(t.key for t in matches) + "; remove one by its key")
    target = matches[0]
    # Every entry of a valid file became a Target, so its place in the group is its index.
    index = [t for t in old.targets if t.group == target.group].index(target)
    doc = tomlkit.parse(text)
    group = doc["groups"][target.group]  # type: ignore[index]
    del group["targets"][index]  # type: ignore[index]
    if not group["targets"]:  # type: ignore[index]
        del group["targets"]  # type: ignore[union-attr]
    _commit(path, text, doc, old, -1)
    return target


def _append_entry(doc: tomlkit.TOMLDocument, group: str, entry: dict[str, Any]) -> None:
    if (groups := doc.get("groups")) is None:
        while doc.as_string().strip() and not doc.as_string().endswith("\n\n"):
            doc.add(tomlkit.nl())
        groups = doc["groups"] = tomlkit.table(is_super_table=True)
    if group not in groups:
        groups[group] = tomlkit.table(is_super_table=True)
    table = tomlkit.table()
    table.update(entry)
    if (targets := groups[group].get("targets")) is None:
        aot = tomlkit.aot()
        aot.append(table)
        groups[group]["targets"] = aot  # filled before it is placed, so tomlkit spaces it
    elif isinstance(targets, AoT):
        while len(targets) and not targets[-1].as_string().endswith("\n\n"):
            targets[-1].add(tomlkit.nl())  # a blank line between [[…targets]] tables
        targets.append(table)
    else:  # targets = [{…}, …] written inline
        targets.append(entry)


def _commit(
    path: Path, text: str, doc: tomlkit.TOMLDocument, old: Watchlist, delta: int
) -> tuple[Watchlist, str]:
    """Check the edited ``doc`` and write it; return it parsed and the one key that changed."""
    new_text = tomlkit.dumps(doc)
    if "\r\n" in text:  # tomlkit writes new lines as \n; keep a CRLF file CRLF
        new_text = re.sub(r"(?<!\r)\n", "\r\n", new_text)
    new = parse_watchlist(new_text, str(path))
    changed = {t.key for t in new.targets} ^ {t.key for t in old.targets}
    if len(changed) != 1 or len(new.targets) != len(old.targets) + delta:
        raise WatchlistError(str(path), None, "cannot make this edit without disturbing other "
                             "entries (are a group's tables split across the file?); the file "
                             "was not changed; edit it by hand")
    _write_atomic(path, new_text)
    return new, changed.pop()


def _write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a crash leaves the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
