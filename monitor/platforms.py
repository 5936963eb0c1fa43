"""The installed platforms: a registry read from the ``takedown.platforms`` entry points.

Every platform, built-in or third-party, is a :class:`monitor.platform.Platform`
declared by a package under the entry point group ``takedown.platforms``, the
entry point's name being the platform's name::

    [project.entry-points."takedown.platforms"]
    rss = "spiders.rss.platform:PLATFORM"

The built-ins register exactly as a third party would. A plug-in that fails to
load is logged and listed as broken; it never takes the others down, and using
it raises :class:`~monitor.errors.PlatformLoadError` naming the entry point.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from .errors import PlatformLoadError, UnknownPlatform
from .platform import Kind, Platform

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "takedown.platforms"

#: The keys of a watchlist target besides its kind field: no kind may take these names.
TARGET_KEYS = ("platform", "base_url", "interval", "tags", "allow_hosts")


@dataclass(slots=True)
class Registry:
    platforms: dict[str, Platform] = field(default_factory=dict)
    #: Accepted spellings that map onto a canonical platform name.
    aliases: dict[str, str] = field(default_factory=dict)
    #: Entry point name → why it could not be loaded.
    broken: dict[str, PlatformLoadError] = field(default_factory=dict)


def load_registry(eps: Iterable[EntryPoint] | None = None) -> Registry:
    """Load every platform of the entry point group (or of ``eps``)."""
    found = list(entry_points(group=ENTRY_POINT_GROUP) if eps is None else eps)
    reg = Registry()
    for ep in sorted(found, key=lambda e: e.name):
        where = f"{ep.name} = {ep.value}"
        try:
            platform = ep.load()
            _check_declaration(ep.name, platform, reg)
        except Exception as exc:  # a plug-in's import may raise anything
            error = PlatformLoadError(where, f"{type(exc).__name__}: {exc}")
            logger.error("%s", error)
            reg.broken[ep.name] = error
            continue
        reg.platforms[platform.name] = platform
    for platform in reg.platforms.values():
        for alias in platform.aliases:
            key = alias.strip().lower()
            if key in reg.platforms or reg.aliases.get(key, platform.name) != platform.name:
                logger.warning("Ignoring alias %r of platform %r: it already names %r", alias,
                               platform.name, reg.aliases.get(key, key))
                continue
            reg.aliases[key] = platform.name
    return reg


def _check_declaration(name: str, platform: object, reg: Registry) -> None:
    if not isinstance(platform, Platform):
        raise TypeError(f"it is a {type(platform).__name__}, not a monitor.platform.Platform")
    if platform.name != name:
        raise ValueError(f"it declares platform {platform.name!r}; name the entry point "
                         "after the platform")
    if name in reg.platforms:
        raise ValueError(f"another entry point already declares platform {name!r}")
    if not platform.kinds or not all(isinstance(k, Kind) and k.name == n
                                     for n, k in platform.kinds.items()):
        raise ValueError("its kinds must map each kind's name to its monitor.platform.Kind")
    if clash := sorted(set(platform.kinds) & set(TARGET_KEYS)):
        raise ValueError(f"its kind {clash[0]!r} has the name of a target key; rename it (a "
                         "kind may not be called " + ", ".join(TARGET_KEYS) + ")")


_registry: Registry | None = None


def registry() -> Registry:
    """The process's registry, loaded on first use."""
    global _registry
    if _registry is None:
        _registry = load_registry()
    return _registry


def reload_platforms(eps: Iterable[EntryPoint] | None = None) -> Registry:
    """Read the entry points again (after installing a plug-in; tests)."""
    global _registry
    _registry = load_registry(eps)
    return _registry


class _PlatformsView(Mapping[str, Platform]):
    """``PLATFORMS``: canonical name → Platform, read from the registry when used."""

    def __getitem__(self, name: str) -> Platform:
        return registry().platforms[name]

    def __iter__(self) -> Iterator[str]:
        return iter(registry().platforms)

    def __len__(self) -> int:
        return len(registry().platforms)


PLATFORMS: Mapping[str, Platform] = _PlatformsView()


def get_platform(name: str) -> Platform:
    """The platform called ``name`` (or one of its aliases).

    Raises UnknownPlatform naming the known platforms and, for a typo such as
    ``mastodn``, the closest one; PlatformLoadError if its plug-in is broken.
    """
    reg = registry()
    key = name.strip().lower()
    key = reg.aliases.get(key, key)
    try:
        return reg.platforms[key]
    except KeyError:
        if key in reg.broken:
            raise reg.broken[key] from None
        raise UnknownPlatform(name, sorted(reg.platforms), closest_platform(key)) from None


def closest_platform(name: str) -> str | None:
    """The canonical platform a misspelt ``name`` most likely means, if any is close."""
    reg = registry()
    spellings = {**{p: p for p in reg.platforms}, **reg.aliases}
    close = difflib.get_close_matches(name.strip().lower(), list(spellings), n=1, cutoff=0.6)
    return spellings[close[0]] if close else None


def single_post_kind(platform: Platform) -> Kind | None:
    """The platform's single-post kind: the first kind that has a ``post_ref``, if any.

    Its name is the platform's to choose (``post``, ``page``, ``thread``…).
    """
    return next((kind for kind in platform.kinds.values() if kind.post_ref is not None), None)


def _declared_kind(platform: str, kind: str) -> Kind | None:
    """``kind`` as ``platform`` (a name or alias) declares it; None if either is unknown."""
    reg = registry()
    found = reg.platforms.get(reg.aliases.get(platform, platform))
    return found.kinds.get(kind) if found is not None else None


def is_single_post(platform: str, kind: str) -> bool:
    """Whether ``kind`` of ``platform`` is one post (not a listing); False if unknown."""
    declared = _declared_kind(platform, kind)
    return declared is not None and declared.post_ref is not None


def value_is_url(platform: str, kind: str) -> bool | None:
    """Whether values of ``kind`` of ``platform`` are URLs (a feed, a post, a page), as the
    platform declares it (:attr:`monitor.platform.Kind.value_is_url`); None if unknown."""
    declared = _declared_kind(platform, kind)
    return bool(declared.value_is_url) if declared is not None else None


def post_ref(platform: str, url: str, base_url: str | None) -> tuple[str, str]:
    """The post key and probe URL of a single-post target's URL.

    Raises ValueError with a message for the user when the URL is not a post URL
    or the platform has no single-post kind.
    """
    found = get_platform(platform)
    kind = single_post_kind(found)
    if kind is None or kind.post_ref is None:
        raise ValueError(f"{found.name} has no single-post targets (none of its kinds, "
                         + ", ".join(sorted(found.kinds)) + ", has a post_ref)")
    return kind.post_ref(url, base_url)


__all__ = ["ENTRY_POINT_GROUP", "PLATFORMS", "TARGET_KEYS", "Platform", "Registry",
           "closest_platform", "get_platform", "is_single_post", "load_registry", "post_ref",
           "registry", "reload_platforms", "single_post_kind", "value_is_url"]
