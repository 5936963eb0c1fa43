"""The watchlist file's models: pydantic, ``extra="forbid"``, every problem at once.

``WatchlistFile`` ─ ``settings``: the ``[settings]`` table (lower-case names of
:class:`monitor.settings.Settings`), ``groups``: name → ``Group``, ``alerts``: a
table that :mod:`alerts.config` checks. ``Group`` ─ description, interval, tags,
allow_hosts and ``targets``: a list of ``TargetEntry``. A target entry's kind
fields (``account``, ``feed``, ``post``, ``page``…) are the union of the kinds
the installed platforms declare, so the models are built per set of kinds
(:func:`file_model`); nothing here names a kind. A target's value is checked by
its platform's :attr:`monitor.platform.Kind.check`.

Pydantic's errors become the watchlist's messages in :func:`problems`: each
under its dotted key, unknown keys with a did-you-mean.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import math
import re
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    ValidationError,
    ValidatorFunctionWrapHandler,
    create_model,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails

from .errors import PlatformLoadError, UnknownPlatform
from .platform import check_base_url
from .platforms import PLATFORMS, TARGET_KEYS, Platform, get_platform
from .settings import Settings, parse_duration
from .validation import (
    Problem,
    Problems,
    dotted,
    fields_checked,
    in_file_order,
    line_error,
    message,
    raise_line_errors,
    unknown_key,
)
from .vantage import check_country, check_proxy

#: Keys a target may have besides its platform and its one kind field.
TARGET_FIELDS = (*TARGET_KEYS[1:], "vantages")
GROUP_KEYS = ("description", "interval", "tags", "allow_hosts", "vantages", "targets")
TOP_KEYS = ("settings", "vantages", "groups", "alerts")
VANTAGE_KEYS = ("proxy", "country", "label")
_HOSTS_EXAMPLE = 'like allow_hosts = ["cdn.example.org", "*.example.org"]'


def target_kinds() -> tuple[str, ...]:
    """Every target kind the installed platforms declare, sorted."""
    return tuple(sorted({k for p in PLATFORMS.values() for k in p.kinds}))


def target_options() -> tuple[str, ...]:
    """Every per-kind target option the installed platforms declare
    (:attr:`monitor.platform.Kind.options`), sorted."""
    return tuple(sorted({o for p in PLATFORMS.values() for k in p.kinds.values()
                         for o in k.options}))


# -- field checks (each raises ValueError saying what to write) ----------------------------


def _interval(raw: Any) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ValueError('write it as a duration like "5m" or a number of seconds')
    seconds = parse_duration(raw)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{raw!r} is not a usable interval; give a positive duration like "
                         "5m, or leave it out for the default")
    return seconds


def _tags(raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(t, str) and t.strip() for t in raw):
        raise ValueError('must be a list of non-empty strings, like tags = ["hk"]')
    return tuple(dict.fromkeys(t.strip() for t in raw))


def _host_list(raw: Any) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError(f"must be a list of host names, {_HOSTS_EXAMPLE}")
    return raw


_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def _host(entry: Any) -> str:
    """One ``allow_hosts`` entry: a host name or IP address, ``*.example.org`` for subdomains."""
    host = _host_entry(entry)
    if host is None:
        raise ValueError(f"{entry!r} is not a host name; write the host alone (no scheme, "
                         f"path or port), {_HOSTS_EXAMPLE}")
    return host


def _host_entry(entry: Any) -> str | None:
    if not isinstance(entry, str):
        return None
    host = entry.strip().rstrip(".").lower()
    name = host.removeprefix("*.")
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(name.strip("[]"))
        return None if name != host else name.strip("[]")
    try:
        name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        return None
    labels = name.split(".")
    if len(labels) < (2 if host.startswith("*.") else 1) or not all(
            _HOST_LABEL.fullmatch(label) for label in labels):
        return None
    return ("*." if host.startswith("*.") else "") + name


def _base_url(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"{raw!r} is not an http(s) URL with a host; write it like "
                         "https://example.org/path")
    return check_base_url(raw)


def _description(raw: Any) -> str | None:
    if raw is not None and not isinstance(raw, str):
        raise ValueError("must be a string")
    return raw


def _platform_name(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError("missing or not a string; name the platform, one of: "
                         + ", ".join(sorted(PLATFORMS)))
    try:
        return get_platform(raw).name
    except (UnknownPlatform, PlatformLoadError) as exc:
        raise ValueError(str(exc)) from None


def _vantage_names(raw: Any) -> tuple[str, ...] | None:
    """A group's or target's ``vantages``: names of ``[vantages.<name>]`` tables, the
    first the home (its listing and ordinary re-checks go through it)."""
    if raw is None:
        return None
    if (not isinstance(raw, list) or not raw
            or not all(isinstance(n, str) and n.strip() for n in raw)):
        raise ValueError('must be a non-empty list of vantage point names, like '
                         'vantages = ["de", "us"] (the first is the home)')
    return tuple(dict.fromkeys(n.strip() for n in raw))


def _label(raw: Any) -> str | None:
    if raw is not None and (not isinstance(raw, str) or not raw.strip()):
        raise ValueError('must be a non-empty string, like label = "residential line, Berlin"')
    return raw.strip() if raw is not None else None


Interval = Annotated[float | None, BeforeValidator(_interval)]
VantageNames = Annotated[tuple[str, ...] | None, BeforeValidator(_vantage_names)]
Tags = Annotated[tuple[str, ...], BeforeValidator(_tags)]
Hosts = Annotated[tuple[Annotated[str, BeforeValidator(_host)], ...],
                  BeforeValidator(_host_list), AfterValidator(lambda h: tuple(dict.fromkeys(h)))]


# -- the models ---------------------------------------------------------------------------


class TargetEntry(BaseModel):
    """One ``[[groups.NAME.targets]]`` table; :func:`file_model` adds the kind fields."""

    model_config = ConfigDict(extra="forbid")
    KINDS: ClassVar[tuple[str, ...]] = ()
    #: The per-kind options any installed kind declares (checked against the kind given).
    OPTIONS: ClassVar[tuple[str, ...]] = ()

    platform: Annotated[str, BeforeValidator(_platform_name)] = Field(
        None, validate_default=True)  # type: ignore[assignment]  # None: reported as missing
    base_url: Annotated[str | None, BeforeValidator(_base_url)] = None
    interval: Interval = None
    tags: Tags = ()
    allow_hosts: Hosts = ()
    #: Vantage points it is fetched from (None: the group's, else this machine).
    vantages: VantageNames = None

    #: Set once valid: the kind, the value as its platform checked it, the implied base_url.
    _kind: str = PrivateAttr("")
    _value: str = PrivateAttr("")
    _implied: str | None = PrivateAttr(None)
    _options: dict[str, Any] = PrivateAttr(default_factory=dict)

    # The properties read the private attributes where pydantic keeps them, not through
    # its __getattr__: a watchlist reads them for each of its (tens of thousands of)
    # targets at every start, and that lookup made a tenth of the check.

    @property
    def kind(self) -> str:
        return self.__pydantic_private__["_kind"]  # type: ignore[index,no-any-return]

    @property
    def value(self) -> str:
        return self.__pydantic_private__["_value"]  # type: ignore[index,no-any-return]

    @property
    def implied_base_url(self) -> str | None:
        return self.__pydantic_private__["_implied"]  # type: ignore[index,no-any-return]

    @property
    def options(self) -> dict[str, Any]:
        """The options its kind declares that the target sets, as their checks kept them."""
        return dict(self.__pydantic_private__["_options"])  # type: ignore[index]

    @model_validator(mode="wrap")
    @classmethod
    def _whole_target(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Field checks and the platform's check of the kind and value, reported together."""
        if not isinstance(data, dict):
            return handler(data)
        entry, errors = fields_checked(handler, data, lambda exc: [
            line_error(e["loc"], cls._reword(e), e.get("input")) for e in exc.errors()])
        platform = _quiet_platform(data.get("platform"))
        checked = _check_kind(cls.KINDS, platform, data, errors)
        options = _check_options(cls.OPTIONS, platform, checked, data, errors)
        raise_line_errors(cls.__name__, errors)
        assert entry is not None and checked is not None
        entry._kind, entry._value, entry._implied = checked
        entry._options = options
        return entry

    @classmethod
    def _reword(cls, error: ErrorDetails) -> str:
        if error["type"] == "extra_forbidden" and len(error["loc"]) == 1:
            return unknown_key(str(error["loc"][0]),
                               ("platform", *cls.KINDS, *TARGET_FIELDS, *cls.OPTIONS))
        return message(error)


def _quiet_platform(name: Any) -> Platform | None:
    if not isinstance(name, str):
        return None
    try:
        return get_platform(name)
    except (UnknownPlatform, PlatformLoadError):
        return None


def _check_kind(kinds: tuple[str, ...], platform: Platform | None, data: dict[str, Any],
                errors: list[InitErrorDetails]) -> tuple[str, str, str | None] | None:
    """Exactly one kind field, allowed by the platform, whose value its Kind accepts."""
    given = [k for k in kinds if k in data]
    if len(given) != 1:
        names = ", ".join(kinds[:-1]) + f" or {kinds[-1]}" if len(kinds) > 1 else "".join(kinds)
        said = f"not both {' and '.join(given)}" if given else "none is given"
        errors.append(line_error((), f"give exactly one of {names}; {said}", data))
        return None
    kind = given[0]
    value = data[kind]
    if not isinstance(value, str) or not value.strip():
        errors.append(line_error((kind,), "must be a non-empty string", value))
        return None
    if platform is None:  # its own error is reported on `platform`
        return None
    if kind not in platform.kinds:
        errors.append(line_error((kind,), f"{platform.name} has no {kind} targets; use one "
                                 "of: " + ", ".join(sorted(platform.kinds)), value))
        return None
    try:
        checked, implied = platform.kinds[kind].check(value.strip(), "base_url" in data)
    except ValueError as exc:
        errors.append(line_error((kind,), str(exc), value))
        return None
    return kind, checked, implied or platform.default_base_url


def _check_options(names: tuple[str, ...], platform: Platform | None,
                   checked: tuple[str, str, str | None] | None, data: dict[str, Any],
                   errors: list[InitErrorDetails]) -> dict[str, Any]:
    """The per-kind options set on the target, each allowed by its kind and passing its
    check; an option of another kind is an error naming the kinds that take it."""
    given = [n for n in names if data.get(n) is not None]
    if not given or platform is None or checked is None:
        return {}  # no options, or the kind's own error is reported already
    declared = platform.kinds[checked[0]].options
    out: dict[str, Any] = {}
    for name in given:
        check = declared.get(name)
        if check is None:
            takers = sorted(f"{p.name} {k.name}" for p in PLATFORMS.values()
                            for k in p.kinds.values() if name in k.options)
            errors.append(line_error((name,), f"{platform.name} {checked[0]} targets take no "
                                     f"{name}; only {', '.join(takers)} targets do", data[name]))
            continue
        try:
            out[name] = check(data[name])
        except ValueError as exc:
            errors.append(line_error((name,), str(exc), data[name]))
    return out


class Group(BaseModel):
    """One ``[groups.NAME]`` table: defaults for its targets, and the targets."""

    model_config = ConfigDict(extra="forbid")

    description: Annotated[str | None, BeforeValidator(_description)] = None
    interval: Interval = None
    tags: Tags = ()
    allow_hosts: Hosts = ()
    vantages: VantageNames = None
    #: Hold this group's events for review before publishing them (public view, Atom
    #: feeds, research export, public alert channels); private channels still get them.
    review: StrictBool = False
    targets: list[TargetEntry] = []


class VantageEntry(BaseModel):
    """One ``[vantages.NAME]`` table: a proxy, its exit's country, a label."""

    model_config = ConfigDict(extra="forbid")

    proxy: Annotated[str, BeforeValidator(check_proxy)] = Field(
        None, validate_default=True)  # type: ignore[assignment]  # None: reported as missing
    country: Annotated[str, BeforeValidator(check_country)] = Field(
        None, validate_default=True)  # type: ignore[assignment]
    label: Annotated[str | None, BeforeValidator(_label)] = None


class WatchlistFile(BaseModel):
    """The whole file; :func:`file_model` gives the one for the installed platforms."""

    model_config = ConfigDict(extra="forbid")
    #: The model of one target entry (with the kind fields).
    TARGET: ClassVar[type[TargetEntry]] = TargetEntry

    settings: dict[str, Any] = {}
    vantages: dict[str, VantageEntry] = {}
    groups: dict[str, Group] = {}
    alerts: dict[str, Any] = {}


def _settings_table() -> type[BaseModel]:
    """``[settings]``: every setting in lower case, checked by the Settings field's type."""
    fields: dict[str, Any] = {
        name.lower(): (info.rebuild_annotation(), None)
        for name, info in Settings.model_fields.items()
    }
    return create_model("SettingsTable", __config__=ConfigDict(extra="forbid"), **fields)


SettingsTable = _settings_table()


@functools.lru_cache(maxsize=8)
def file_model(kinds: tuple[str, ...]) -> type[WatchlistFile]:
    """The file model whose targets take exactly the kind fields ``kinds``."""
    options = tuple(o for o in target_options() if o not in kinds)
    entry = create_model("TargetEntry", __base__=TargetEntry,
                         **{k: (Any, None) for k in (*kinds, *options)})  # type: ignore[call-overload]
    entry.KINDS = kinds
    entry.OPTIONS = options
    group = create_model("Group", __base__=Group, targets=(list[entry], []))  # type: ignore[valid-type]
    model = create_model("WatchlistFile", __base__=WatchlistFile,
                         settings=(SettingsTable | None, None),  # type: ignore[arg-type]
                         groups=(dict[str, group], {}))  # type: ignore[valid-type]
    model.TARGET = entry
    return model


# -- pydantic's errors in the watchlist's words ---------------------------------------------


def problems_of_file(exc: ValidationError, data: Any) -> Problems:
    """Every error of validating the file ``data`` as (dotted key, message), in file order."""
    return [_problem(error) for error in in_file_order(exc, data)]


def _problem(error: ErrorDetails) -> Problem:
    loc = error["loc"]
    where = dotted(loc)
    kind = error["type"]
    table = kind in ("model_type", "dict_type", "model_attributes_type")
    if kind == "extra_forbidden":
        *parent, key = loc
        if tuple(parent) == ("settings",):
            names = [n.lower() for n in Settings.model_fields]
            return where, unknown_key(str(key), names, what="setting")
        if len(parent) == 2 and parent[0] == "vantages":
            return where, unknown_key(str(key), VANTAGE_KEYS)
        allowed = TOP_KEYS if not parent else GROUP_KEYS
        return where, unknown_key(str(key), allowed)
    if loc == ("settings",) and table:
        return where, "must be a table; write it as [settings]"
    if len(loc) == 2 and loc[0] == "settings":
        return where, f"bad value {error.get('input')!r}: {message(error)}"
    if loc == ("alerts",) and table:
        return where, "must be a table, like [alerts]"
    if loc == ("vantages",) and table:
        return where, 'must be a table of vantage points, like [vantages.de]'
    if len(loc) == 2 and loc[0] == "vantages" and table:
        return where, f"must be a table; write it as [{where}] with proxy and country"
    if loc == ("groups",) and table:
        return where, "must be a table of groups, like [groups.journalists]"
    if len(loc) == 2 and loc[0] == "groups" and table:
        return where, f"must be a table; write it as [{where}]"
    if len(loc) == 3 and loc[2] == "targets" and kind == "list_type":
        return where, f"add targets as [[{where}]]"
    if len(loc) == 4 and loc[2] == "targets" and table:
        return where, f"must be a table; write it as [[{dotted(loc[:3])}]]"
    return where, message(error)


__all__ = ["GROUP_KEYS", "TARGET_FIELDS", "TOP_KEYS", "VANTAGE_KEYS", "Group", "SettingsTable",
           "TargetEntry", "VantageEntry", "WatchlistFile", "file_model", "problems_of_file",
           "target_kinds", "target_options"]
