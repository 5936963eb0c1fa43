"""Settings: one typed, frozen model; each field has its default and help text.

Values come, highest priority first, from ``TAKEDOWN_<NAME>`` environment
variables, the ``[settings]`` table of the watchlist file, and the defaults
below. Read them as ``settings["CONFIRM_PROBES"]`` or ``settings.CONFIRM_PROBES``;
they never change once loaded (:meth:`Settings.replace` makes a validated copy).

:class:`Settings` is a frozen pydantic model rather than a frozen dataclass
checked by a ``TypeAdapter``: the model carries each field's default and
description (``Settings.model_fields``), which the README's table is generated
from (``python -m monitor.settings --markdown``) and tested against
(``tests/test_docs.py``), and it validates on ``replace`` with no second schema.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from .errors import ConfigError
from .settings_values import (  # noqa: F401 (re-exported)
    format_duration,
    parse_bool,
    parse_duration,
    parse_durations,
    parse_http_url,
    parse_http_urls,
    parse_int,
    parse_number,
    parse_text,
)
from .validation import message, unknown_key

SETTINGS_ENV_PREFIX = "TAKEDOWN_"

# The typed fields: each value read by its parser (monitor.settings_values) first.
Text = Annotated[str, BeforeValidator(parse_text)]
Flag = Annotated[bool, BeforeValidator(parse_bool)]
Count = Annotated[int, BeforeValidator(parse_int)]
Number = Annotated[float, BeforeValidator(parse_number)]
Seconds = Annotated[float, BeforeValidator(parse_duration)]
Schedule = Annotated[tuple[float, ...], BeforeValidator(parse_durations)]
RedditUrl = Annotated[str, BeforeValidator(parse_http_url)]
HttpUrls = Annotated[tuple[str, ...], BeforeValidator(parse_http_urls)]


_DEFAULT_SCHEDULE = (120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 43200.0, 86400.0)


class Settings(BaseModel, Mapping[str, Any]):
    """Resolved settings; read them as ``settings["DATABASE_URL"]`` or ``settings.DATABASE_URL``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    DATABASE_URL: Text = Field("", description=(
        "PostgreSQL URL (postgresql://user@host/db). Empty: start the embedded PostgreSQL "
        "under DATA_DIR."))
    DATA_DIR: Text = Field("", description=(
        "Where the embedded database and state live. Empty: the user data directory "
        "(platformdirs), e.g. ~/.local/share/takedown-monitor."))
    USER_AGENT: Text = Field(
        "TakedownMonitor/0.1 (+https://github.com/takedown-monitor/takedown-monitor)",
        description="User-Agent sent with every request; keep a contact URL in it.")
    ROBOTSTXT_OBEY: Flag = Field(True, description="Honour robots.txt.")
    CONCURRENT_REQUESTS_PER_HOST: Count = Field(
        4, ge=1, description="Parallel requests to any one host.")
    CONCURRENT_REQUESTS: Count = Field(32, ge=1, description="Parallel requests in all.")
    AUTOTHROTTLE: Flag = Field(
        True, description="Adapt the per-host delay to the server's latency.")
    DOWNLOAD_DELAY: Number = Field(
        0.0, description="Minimum seconds between requests to one host.")
    DOWNLOAD_TIMEOUT: Seconds = Field(20.0, description="Seconds before a request times out.")
    MAX_BODY_BYTES: Count = Field(5_000_000, ge=1, description=(
        "Responses larger than this are refused (recorded as `too_large`)."))
    RETRY_TIMES: Count = Field(
        2, ge=0, description="Retries for timeouts, resets, 5xx and 429.")
    RETRY_AFTER_MAX: Seconds = Field(120.0, description=(
        "Longest Retry-After honoured in place; longer waits postpone the check instead."))
    RETRY_BACKOFF_BASE: Seconds = Field(2.0, description=(
        "A host that answers 5xx or 429, times out or refuses connections is paused this "
        "long, doubling with each such failure in a row (plus up to 50% jitter); every "
        "request to it waits, other hosts go on."))
    RETRY_BACKOFF_MAX: Seconds = Field(600.0, description="Longest such pause of a failing host.")
    ROBOTSTXT_CACHE: Seconds = Field(86400.0, description=(
        "How long a host's robots.txt is reused by later checks; its Cache-Control or "
        "Expires may shorten it."))
    DEFAULT_INTERVAL: Seconds = Field(600.0, description=(
        "How often a target's listing is checked unless the target says otherwise."))
    RECHECK_SCHEDULE: Schedule = Field(_DEFAULT_SCHEDULE, description=(
        "Delays after first sight at which each post is probed again; after the last, "
        "daily until RECHECK_HORIZON."))
    RECHECK_HORIZON: Seconds = Field(30 * 86400.0, description=(
        "Stop re-probing a post this long after it was first seen."))
    CONFIRM_PROBES: Count = Field(2, ge=1, description=(
        "Consistent probes needed before a disappearance or hiding becomes an event."))
    CONFIRM_SPACING: Seconds = Field(300.0, description=(
        "Minimum time between the first and the last confirming probe."))
    CONFIRM_RETRY: Seconds = Field(120.0, description=(
        "How soon a suspect post is probed again while its disappearance is unconfirmed."))
    FLAP_VERSIONS: Count = Field(5, ge=0, description=(
        "Content matching one of the post's last N versions is not a new edit."))
    VANTAGE: Text = Field("local", description=(
        "Name of this vantage point, recorded in every observation."))
    TICK: Seconds = Field(5.0, description="Seconds between scheduler passes over due work.")
    BATCH_SIZE: Count = Field(500, ge=1, description="Due items claimed per database round trip.")
    RECORDER: Text = Field("auto", description=(
        "Where observations are recorded: `process`, a child process of the worker, "
        "beside the crawl on another core (events_stored receivers must then be "
        "picklable); `thread`, a thread of the crawling process (one process, less "
        "memory; the better choice where every core runs a worker); `auto`, `process` "
        "where the worker may use two CPUs or more (affinity and cgroup quota) shared "
        "among the live workers of its machine, else `thread`, counted again as workers "
        "join or leave and the recording moved."))
    RECORDER_PRIORITY: Text = Field("normal", description=(
        "The recorder process's CPU scheduling (Linux): `normal`, or `idle` (SCHED_IDLE: "
        "it runs on what the crawl, the database and the rest leave, so it never takes the "
        "crawl's core when another process wakes). An idle recorder that starves on a "
        "machine kept busy by other work (the crawl waits on it while it waits for a CPU) "
        "is lifted to normal scheduling, or where the system refuses that, replaced by a "
        "recorder process at normal priority, for the rest of the worker's life. No effect "
        "with the recording in a thread."))
    LEASE: Seconds = Field(600.0, description=(
        "How long a claim lasts when its worker cannot be told alive or dead (a version "
        "without worker seats, or one that could not take its seat); a dead worker's claims are "
        "taken back at the next cycle, a live one's stay its own."))
    METRICS_ADDRESS: Text = Field("127.0.0.1:9464", description=(
        "Where `takedown run` serves Prometheus `/metrics` (host:port); empty: no endpoint."))
    ERROR_BACKOFF_MAX: Seconds = Field(3600.0, description=(
        "Longest delay between retries of a failing target."))
    # -- Reddit's OAuth path (spiders/reddit): the operator's approved client ------------
    REDDIT_CLIENT_ID: Text = Field("", description=(
        "Client id of the operator's approved Reddit app. Set, Reddit targets are read "
        "through the OAuth API, which says who removed a post; empty, through the public "
        "Atom feeds, which only show that a post is gone."))
    REDDIT_CLIENT_SECRET: Text = Field("", repr=False, description=(
        "Its secret (empty for an installed app). Never logged."))
    REDDIT_USERNAME: Text = Field("", description=(
        "With REDDIT_PASSWORD: the script grant, as this account. Empty: a userless token "
        "(client_credentials, or installed_client without a secret). Use an account that "
        "moderates nothing you watch and is not a watched author."))
    REDDIT_PASSWORD: Text = Field("", repr=False, description=(
        "The script grant's password. Never logged."))
    REDDIT_API_URL: RedditUrl = Field("https://oauth.reddit.com", description=(
        "Base of Reddit's OAuth API (a test server or mirror may sit under a path)."))
    REDDIT_TOKEN_URL: RedditUrl = Field("https://www.reddit.com/api/v1/access_token",
                                        description="Where the OAuth token is fetched.")

    # -- Bluesky and X (spiders/bluesky, spiders/x): given to their spiders when set ------
    BLUESKY_LABELERS: Text = Field("", description=(
        "Labelers whose labels count as moderation besides Bluesky's own, comma-separated: "
        "a labeler's DID (its labels asked for inline) or its service URL (asked with "
        "queryLabels on listings; add its host to the target's allow_hosts)."))
    BLUESKY_APPVIEW_URL: Text = Field("", description=(
        "The uncached AppView every Bluesky verdict is read from (empty: api.bsky.app, or "
        "<base_url>/appview for a target on a mirror)."))
    BLUESKY_PUBLIC_URL: Text = Field("", description=(
        "The cached AppView listings are read from (empty: public.api.bsky.app, or "
        "<base_url>/public)."))
    BLUESKY_PLC_URL: Text = Field("", description=(
        "The DID PLC directory a post's PDS is found in (empty: plc.directory, or "
        "<base_url>/plc)."))
    X_SYNDICATION_TOKEN: Text = Field("", description=(
        "The `token` parameter of X's syndication endpoint (empty: left out; X may then "
        "refuse, which is a collector block, shown by `takedown status`)."))

    IMPORT_CAPTURES: Flag = Field(False, description=(
        "Allow `takedown import captures` to record researchers' browser captures "
        "(Zeeschuimer / 4CAT NDJSON) as seen-visible observations at their capture time: "
        "a logged-in view, evidence only that a note existed."))

    # -- issue 11, part A: the evidence archive (monitor/archive.py) ---------------------
    ARCHIVE: Flag = Field(True, description=(
        "Keep the raw capture (request, response headers, body) of observations an event "
        "may rest on as gzipped WARC records: new observation rows, confirming probes, "
        "probes that made an event. Unchanged re-checks never store one."))
    ARCHIVE_RETENTION: Seconds = Field(30 * 86400.0, description=(
        "How long a raw capture that no event rests on, and that is not the capture of a "
        "post's current version, is kept before the daemon expires it. 0: keep all."))

    # -- issue 11, part C: evidence bundles and RFC 3161 timestamps (monitor/evidence/) --
    TIMESTAMP_AUTHORITIES: HttpUrls = Field((), description=(
        "RFC 3161 timestamp authorities (URLs, comma-separated) that stamp each event's "
        "evidence manifest, e.g. https://freetsa.org/tsr. Empty: bundles are not stamped. "
        "A failing authority never blocks recording: its stamps are retried later."))
    TIMESTAMP_TIMEOUT: Seconds = Field(10.0, description=(
        "Seconds a timestamp authority may take to answer one request."))
    TIMESTAMP_RETRY_MAX: Seconds = Field(86400.0, description=(
        "Longest wait between two tries of a failing authority (the wait starts at a "
        "minute and doubles with each failure)."))
    TIMESTAMP_CA_FILE: Text = Field("", description=(
        "PEM file of the CA certificates the authorities' tokens must chain to: checked "
        "before a token is kept, and by `takedown evidence verify` without --tsa-ca. "
        "Empty: tokens are checked against the certificate they carry only."))

    # -- issue 11, part D1: vantage points (monitor/geo.py, [vantages.<name>]) -----------
    VANTAGE_COUNTRY: Text = Field("", description=(
        "ISO 3166-1 alpha-2 country of this machine's own network (the VANTAGE that "
        "targets without `vantages` are fetched from); empty: unknown."))
    VANTAGE_PATIENCE: Seconds = Field(86400.0, description=(
        "How long a suspect post waits for every vantage point its target allows to "
        "answer; after it, the verdict rests on those that answered, the cause is "
        "`ambiguous` with `geo_blocked` among the candidates, and the silent ones are named."))

    # -- issue 11, part E: collector health per platform and vantage (monitor/collector.py)
    COLLECTOR_WINDOW: Seconds = Field(600.0, gt=0, description="How far back collector "
        "health looks at a platform and vantage point's checks (blocked? out?).")
    COLLECTOR_BLOCK_MIN: Count = Field(5, ge=1, description="Checks in the window before "
        "their share of blocks (captcha, login wall, expired token…) can pause there.")
    COLLECTOR_BLOCK_SHARE: Number = Field(0.8, gt=0, le=1, description="Share (0-1) of "
        "them blocked that pauses it: absences there are recorded but decide nothing.")
    COLLECTOR_BLOCK_STREAK: Count = Field(10, ge=1, description="Blocked checks in a row "
        "that pause it whatever the share.")
    COLLECTOR_OUTAGE_MIN_TARGETS: Count = Field(5, ge=2, description="Distinct targets "
        "(accounts, feeds) whose latest listing answer in the window must be a bare 404 for "
        "an outage, not removals. Probes never count; an account's posts are one target.")
    COLLECTOR_OUTAGE_SHARE: Number = Field(0.8, gt=0, le=1, description="Share (0-1) of "
        "the targets answering there in the window that must be absent for an outage.")
    COLLECTOR_RESUME_AFTER: Count = Field(3, ge=1, description="Answers about content in "
        "a row that end a pause (or that many since it began, once the window no longer "
        "meets its rule); the posts held back are then decided as usual.")
    COLLECTOR_OUTAGE_MAX: Seconds = Field(21600.0, gt=0, description="An outage that lasts "
        "this long ends: the targets still absent count as removals (a purge looks alike).")

    # -- the analyst side (monitor/api, monitor/web) -------------------------------------
    API_ADDRESS: Text = Field("127.0.0.1:8080", description=(
        "Where `takedown serve` (and `takedown run` with API_IN_RUN) serves the HTTP API and "
        "the web interface (host:port)."))
    API_IN_RUN: Flag = Field(False, description=(
        "Also serve the API and the web interface inside `takedown run`."))
    PUBLIC_VIEW: Flag = Field(False, description=(
        "Serve a read-only public view (/public, its Atom feed) without a token: only "
        "events that passed review, or whose group needs none."))
    PUBLIC_PSEUDONYMS: Flag = Field(True, description=(
        "In the public view and research exports, show authors as stable pseudonyms "
        "instead of their handles."))
    STATS_MAX_AGE: Seconds = Field(600.0, description=(
        "How old a survival-curve answer may be before the API computes it again; "
        "`takedown serve` (and `run` with API_IN_RUN) recompute a year of each breakdown "
        "this often in the background. 0: no reuse, every request computes."))
    PSEUDONYM_SECRET: Text = Field("", repr=False, description=(
        "Key of the pseudonyms (HMAC). Empty: a random key made once and kept in the "
        "database. Never logged."))

    @model_validator(mode="after")
    def _recorder_choice(self) -> Settings:
        if self.RECORDER not in ("auto", "process", "thread"):
            raise ValueError(f"RECORDER is {self.RECORDER!r}; use auto, process or thread")
        if self.RECORDER_PRIORITY not in ("normal", "idle"):
            raise ValueError(f"RECORDER_PRIORITY is {self.RECORDER_PRIORITY!r}; use normal "
                             "or idle")
        return self

    @model_validator(mode="after")
    def _reddit_login_pair(self) -> Settings:
        if bool(self.REDDIT_USERNAME) != bool(self.REDDIT_PASSWORD):
            raise ValueError("REDDIT_USERNAME and REDDIT_PASSWORD go together (the script "
                             "grant); set both, or neither for a userless token")
        if self.REDDIT_USERNAME and not self.REDDIT_CLIENT_ID:
            raise ValueError("REDDIT_USERNAME needs REDDIT_CLIENT_ID: the script grant is "
                             "made by the operator's app")
        return self

    # -- reading it as a mapping (the whole codebase reads settings["NAME"]) -------------

    def __getitem__(self, name: str) -> Any:
        if name in type(self).model_fields:
            return getattr(self, name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]  # names, as a Mapping
        return iter(type(self).model_fields)

    def __len__(self) -> int:
        return len(type(self).model_fields)

    def __setitem__(self, name: str, value: Any) -> None:
        raise TypeError(f"settings are frozen; use settings.replace({name}=…) for a variant")

    def __delitem__(self, name: str) -> None:
        raise TypeError("settings are frozen; use settings.replace(…) for a variant")

    # -- making settings ----------------------------------------------------------------

    @classmethod
    def load(
        cls,
        file_values: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        source: str = "settings",
    ) -> Settings:
        """Resolve every setting: ``TAKEDOWN_<NAME>`` > ``file_values`` > the default.

        ``file_values`` are the watchlist's ``[settings]`` (any case); ``source``
        names where they came from in messages. Raises ConfigError listing every
        bad value, each with where it came from and what to write.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        where: dict[str, str] = {}
        problems: list[str] = []
        for raw_name, value in (file_values or {}).items():
            name = str(raw_name).upper()
            if name not in cls.model_fields:
                problems.append(f"{source}: " + unknown_key(str(raw_name), _lower_names(),
                                                            what="setting"))
                continue
            values[name], where[name] = value, f"{source}: {raw_name}"
        for name in cls.model_fields:
            env_name = SETTINGS_ENV_PREFIX + name
            if env_name in environ:
                values[name], where[name] = environ[env_name], env_name
        return cls._validated(values, where, problems)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (UPPER_SNAKE names, raw or typed values), validated."""
        problems = [f"replace: {unknown_key(name, list(self), what='setting')}"
                    for name in changes if name not in type(self).model_fields]
        where = {name: f"replace: {name}" for name in changes}
        return self._validated({**dict(self), **changes}, where, problems)

    @classmethod
    def _validated(cls, values: dict[str, Any], where: dict[str, str],
                   problems: list[str]) -> Settings:
        try:
            settings = cls.model_validate({k: v for k, v in values.items()
                                           if k in cls.model_fields})
        except ValidationError as exc:
            for error in exc.errors():
                name = str(error["loc"][0]) if error["loc"] else ""
                problems.append(f"{where.get(name, name)}: {message(error)}")
        if len(problems) == 1:
            raise ConfigError(problems[0])
        if problems:
            raise ConfigError(f"{len(problems)} problems with the settings:"
                              + "".join(f"\n  {p}" for p in problems))
        return settings


def _lower_names() -> list[str]:
    return [name.lower() for name in Settings.model_fields]


# -- the table, for the watchlist checks and the docs ------------------------------------


@dataclass(frozen=True, slots=True)
class Setting:
    """One row of the settings table: name, default (typed), help text and its parser."""

    name: str
    default: Any
    help: str
    parse: Callable[[Any], Any]

    @property
    def shown(self) -> str:
        """The default as a user would write it (``10m``, ``true``), for the docs."""
        return show_value(self.name, self.default)


def _parser(name: str) -> Callable[[Any], Any]:
    """Check one value of ``name`` with the model's own field (ValueError with our words)."""

    def parse(value: Any) -> Any:
        try:
            return Settings.model_validate({name: value})[name]
        except ValidationError as exc:
            raise ValueError(message(exc.errors()[0])) from None

    return parse


def show_value(name: str, value: Any) -> str:
    annotation = Settings.model_fields[name].annotation
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(format_duration(v) for v in value)
    if annotation is float and name in _DURATIONS:
        return format_duration(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


_DURATIONS = frozenset(name for name, f in Settings.model_fields.items()
                       if any(isinstance(m, BeforeValidator) and m.func is parse_duration
                              for m in f.metadata))

SETTINGS: dict[str, Setting] = {
    name: Setting(name, field.default, field.description or "", _parser(name))
    for name, field in Settings.model_fields.items()
}


def settings_table() -> str:
    """The README's ``## Settings`` table, generated from the model."""
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    for s in SETTINGS.values():
        shown = f"`{s.shown}`" if s.shown else "(empty)"
        rows.append(f"| `{s.name}` | {shown} | {s.help} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m monitor.settings --markdown``: print the README's settings table."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["--markdown"]:
        print("usage: python -m monitor.settings --markdown", file=sys.stderr)
        return 2
    sys.stdout.write(settings_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["SETTINGS", "SETTINGS_ENV_PREFIX", "Setting", "Settings", "format_duration",
           "parse_bool", "parse_duration", "parse_durations", "parse_int", "parse_number",
           "settings_table"]
