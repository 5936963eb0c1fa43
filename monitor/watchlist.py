"""The watchlist: a TOML file of grouped targets that the scheduler checks.

::

    [settings]                          # optional; lower-case names from monitor.settings
    confirm_spacing = "10s"
    [vantages.de]                       # optional: a vantage point (a proxy with a country)
    proxy = "socks5://127.0.0.1:1080"   # http://, https://, socks5:// or socks5h://
    country = "DE"                      # ISO 3166-1 alpha-2 of the proxy's exit
    label = "residential line, Berlin"  # optional
    [groups.journalists]                # description, interval and tags are optional;
    interval = "10m"                    # a group's interval and tags apply to its targets
    [[groups.journalists.targets]]
    platform = "mastodon"               # a name or alias from monitor.platforms
    account = "alice@example.social"    # exactly one kind the platform declares
                                        # (account, feed, post, or its own names)
    base_url = "https://example.social" # optional: instance, mirror or test server
    interval = "5m"                     # optional: seconds, or 90s / 5m / 2h / 1d
    tags = ["urgent"]
    allow_hosts = ["media.example.social"]  # optional, also on a group: other hosts
                                        # its spider may fetch (``*.example.org`` too)
    vantages = ["de", "us"]             # optional, also on a group: fetched through these;
                                        # the first is the home, a suspect post is probed
                                        # from each (monitor.geo); none: this machine

Reading uses :mod:`tomllib`; the models of :mod:`monitor.watchlist_model`
(pydantic, ``extra="forbid"``) check the whole file, and every problem is
reported in one :class:`~monitor.errors.WatchlistError`, each under its dotted
key (``groups.journalists.targets[0].account``; indexes count from 0), in file
order. A target's value is checked by its platform's kind. Editing goes
through :mod:`tomlkit` so comments and layout survive; the edited text is checked
with the same rules before it replaces the file atomically
(:mod:`monitor.watchlist_edit`).
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .errors import WatchlistError
from .platforms import PLATFORMS, is_single_post
from .settings import Settings
from .validation import Problems, dotted, raise_problems
from .vantage import NAME, Vantage
from .watchlist_model import TargetEntry, WatchlistFile, file_model, problems_of_file, target_kinds


def all_kinds() -> tuple[str, ...]:
    """Every target kind a watchlist may use: those the installed platforms declare."""
    return target_kinds()


@dataclass(frozen=True, slots=True)
class Target:
    """One thing to watch, as resolved from the file.

    ``value`` is the account, feed URL or post URL. ``base_url`` is the server
    requests go to: the one the file gives, else the one the value implies (the
    URL's scheme and host, the account's instance, the platform's default).
    ``interval`` falls back to the group's; ``tags`` are the group's then the target's.
    """

    group: str
    platform: str
    kind: str
    value: str
    base_url: str | None
    interval: float | None
    tags: tuple[str, ...]
    #: Hosts besides the target's own that its spider may fetch from (the
    #: group's, then the target's): names, or ``*.example.org`` for subdomains.
    allow_hosts: tuple[str, ...] = ()
    #: The options of its kind that it sets (``Kind.options``, as their checks kept
    #: them), e.g. RSS's ``article_selector``: handed to its spider with each work item.
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)
    #: The vantage points it is fetched from (the target's, else its group's), the
    #: first its home; empty: this machine's own network (:mod:`monitor.vantage`).
    vantages: tuple[Vantage, ...] = ()

    @property
    def key(self) -> str:
        """Stable identity, unique in a watchlist: ``platform:kind:value[@base_url]``.

        ``@base_url`` is appended when base_url is not the one the value implies,
        so a mirror or a test server is a different target from the real one.
        Two kinds of value are put in canonical form, so that one thing has one key:

        - a Mastodon account is ``user@host`` (``alice`` with base_url
          ``https://example.social`` is ``mastodon:account:alice@example.social``);
        - a RedNote post is its note id, not its URL, whose ``xsec_token`` expires
          and gets replaced; it carries ``@base_url`` unless RedNote itself serves it.
        """
        return target_key(self.platform, self.kind, self.value, self.base_url)

    @property
    def single_post(self) -> bool:
        """Whether the target is one post (its platform's kind has a ``post_ref``),
        whatever the kind is called, rather than a listing."""
        return is_single_post(self.platform, self.kind)


@dataclass
class Watchlist:
    path: Path | None
    targets: list[Target] = field(default_factory=list)
    #: Group name -> {"description": str | None, "interval": float | None, "tags": tuple}.
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The raw ``[settings]`` table (already checked against monitor.settings.Settings).
    settings_values: dict[str, Any] = field(default_factory=dict)
    #: The raw ``[alerts]`` table; ``alerts.config`` validates it.
    alerts: dict[str, Any] = field(default_factory=dict)
    #: The ``[vantages.<name>]`` tables, by name.
    vantages: dict[str, Vantage] = field(default_factory=dict)

    def settings(self, environ: Mapping[str, str] | None = None) -> Settings:
        source = str(self.path) if self.path else "<watchlist>"
        return Settings.load(self.settings_values, environ, source=source)


def load_watchlist(path: str | Path) -> Watchlist:
    return read_watchlist(Path(path))[1]


def parse_watchlist(text: str, source: str = "<watchlist>") -> Watchlist:
    """The watchlist in ``text``; WatchlistError lists every problem, each under its key."""
    watchlist, problems = check_watchlist(text, source)
    raise_problems(source, problems)
    assert watchlist is not None
    return watchlist


def check_watchlist(text: str, source: str = "<watchlist>") -> tuple[Watchlist | None, Problems]:
    """The watchlist in ``text`` and its problems (no watchlist when there are any).

    For callers that add problems of their own (:func:`alerts.config.load_file`
    checks ``[alerts]`` too) before reporting them all at once.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WatchlistError(source, None, f"not valid TOML: {exc}; fix the syntax there") from None
    model = file_model(all_kinds())
    try:
        valid = model.model_validate(data)
    except ValidationError as exc:
        problems = problems_of_file(exc, data)
        problems += _duplicates(_entries_of_raw(data, model))
        return None, problems
    problems = _vantage_problems(valid)
    problems += _duplicates((loc, entry) for loc, _, entry in _entries(valid))
    if problems:
        return None, problems
    watchlist = Watchlist(None, settings_values=dict(data.get("settings", {})),
                          alerts=valid.alerts, vantages={
                              name: Vantage(name, v.country, v.proxy, v.label)
                              for name, v in valid.vantages.items()})
    for name, group in valid.groups.items():
        watchlist.groups[name] = {"description": group.description,
                                  "interval": group.interval, "tags": group.tags,
                                  "review": group.review}
    for _, group_name, entry in _entries(valid):
        group = valid.groups[group_name]
        watchlist.targets.append(Target(
            group_name, entry.platform, entry.kind, entry.value,
            entry.base_url or entry.implied_base_url,
            group.interval if entry.interval is None else entry.interval,
            tuple(dict.fromkeys((*group.tags, *entry.tags))),
            tuple(dict.fromkeys((*group.allow_hosts, *entry.allow_hosts))),
            entry.options,
            tuple(watchlist.vantages[n] for n in _vantage_names(group.vantages, entry))))
    return watchlist, []


def _vantage_names(group: tuple[str, ...] | None, entry: TargetEntry) -> tuple[str, ...]:
    """A target's vantage point names: its own list, else its group's, else none."""
    return entry.vantages if entry.vantages is not None else group or ()


def _vantage_problems(valid: WatchlistFile) -> Problems:
    """Vantage point names that are unusable, or that a group or target lists but no
    ``[vantages.<name>]`` table defines (with a did-you-mean)."""
    problems: Problems = []
    defined = list(valid.vantages)
    for name in defined:
        if not NAME.fullmatch(name):
            problems.append((dotted(("vantages", name)), f"{name!r} is not a usable vantage "
                             "point name: letters, digits, '_', '.', '-', starting with a "
                             "letter or digit, at most 40"))

    def check(loc: tuple[str | int, ...], names: tuple[str, ...] | None) -> None:
        for name in names or ():
            if name in valid.vantages:
                continue
            close = difflib.get_close_matches(name, defined, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            known = (f"defined: {', '.join(defined)}" if defined else
                     f"define it as [vantages.{name}] with proxy and country")
            problems.append((dotted((*loc, "vantages")),
                             f"unknown vantage point {name!r}; {hint}{known}"))

    for group_name, group in valid.groups.items():
        check(("groups", group_name), group.vantages)
        for index, entry in enumerate(group.targets):
            check(("groups", group_name, "targets", index), entry.vantages)
    return problems


#: Where a target is in the file: ``("groups", name, "targets", index)``, made a dotted
#: key (:func:`~monitor.validation.dotted`) only for a problem.
Loc = tuple[str, str, str, int]


def _entries(valid: WatchlistFile) -> Iterator[tuple[Loc, str, TargetEntry]]:
    """(where, group name, entry) of every target of a valid file, in file order."""
    for name, group in valid.groups.items():
        for index, entry in enumerate(group.targets):
            yield ("groups", name, "targets", index), name, entry


def _entries_of_raw(data: Any, model: type[WatchlistFile]
                    ) -> Iterator[tuple[Loc, TargetEntry]]:
    """The valid targets of a file that has problems, each checked on its own."""
    entry_model = model.TARGET
    groups = data.get("groups") if isinstance(data, dict) else None
    for name, group in (groups.items() if isinstance(groups, dict) else ()):
        targets = group.get("targets") if isinstance(group, dict) else None
        for index, raw in enumerate(targets if isinstance(targets, list) else ()):
            try:
                entry = entry_model.model_validate(raw)
            except ValidationError:
                continue
            yield ("groups", name, "targets", index), entry


def _duplicates(entries: Iterable[tuple[Loc, TargetEntry]]) -> Problems:
    """A target listed twice (two spellings of one key) is a problem at its second place."""
    first_seen: dict[str, Loc] = {}
    problems: Problems = []
    for loc, entry in entries:
        key = target_key(entry.platform, entry.kind, entry.value,
                         entry.base_url or entry.implied_base_url)
        first = first_seen.get(key)
        if first is None:
            first_seen[key] = loc
        else:
            problems.append((dotted(loc), f"duplicate target {key}: already listed at "
                             f"{dotted(first)}; remove one of them"))
    return problems


def target_key(platform: str, kind: str, value: str, base_url: str | None) -> str:
    """``platform:kind:identity[@base_url]``: see :attr:`Target.key`."""
    ident, implied = _identity(platform, kind, value, base_url)
    suffix = f"@{base_url}" if base_url and base_url != implied else ""
    return f"{platform}:{kind}:{ident}{suffix}"


def _identity(platform: str, kind: str, value: str, base_url: str | None) -> tuple[str, str | None]:
    """The identifying part of a key, and the base_url that identity implies."""
    known = PLATFORMS.get(platform)
    if known is None or kind not in known.kinds:
        return value, None
    ident, implied = known.kinds[kind].identity(value, base_url)
    return ident, implied or known.default_base_url


# -- files --------------------------------------------------------------------------


def read_watchlist(path: Path, *, missing_ok: bool = False) -> tuple[str, Watchlist]:
    """The file's text and the watchlist it holds (empty if missing and ``missing_ok``)."""
    text = read_text(path, missing_ok=missing_ok)
    watchlist = parse_watchlist(text, str(path))
    watchlist.path = path
    return text, watchlist


def read_text(path: Path, *, missing_ok: bool = False) -> str:
    """The watchlist file's text; WatchlistError says what to do when it cannot be read."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:  # newline="": keep CRLF as is
            return fh.read()
    except FileNotFoundError:
        if not missing_ok:
            raise WatchlistError(str(path), None, "no such watchlist file; create it with "
                                 "`takedown watch add …` or write it by hand") from None
        return ""
    except UnicodeDecodeError:
        raise WatchlistError(str(path), None, "not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise WatchlistError(str(path), None, f"cannot read it ({exc.strerror}); check the "
                             "path names a file you may read") from None
