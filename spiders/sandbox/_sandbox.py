"""The :class:`Sandbox`: a plan, a world replaying it, an HTTP server, a fault injector.

The world's time is the sandbox's :class:`~monitor.clock.Clock`. With
``tick_seconds``, tick *k* of the script happens at ``start + k * tick_seconds``
on that clock; it is applied by the first request, ``truth()`` or ``done`` that
comes at or after that time (as of that time), so a test that moves a
:class:`~monitor.clock.ManualClock` moves the script with it and never waits.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from monitor.clock import SYSTEM_CLOCK, Clock

from ._faults import ALL_FAULTS, FaultInjector
from ._geo import COUNTRY_HEADER, Locate, country_of, withhold
from ._scenarios import build_plan
from ._script import Op, Plan, Row
from ._server import SandboxHTTPServer
from ._world import Post, World
from .fake import Fake, fakes

logger = logging.getLogger(__name__)

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_PREFIX_SEGMENT = re.compile(r"^[A-Za-z0-9._~@-]+$")
#: The most paths outside the prefix :attr:`Sandbox.outside` keeps.
MAX_OUTSIDE = 1000


def build_world(plan: Plan, clock: Callable[[], float] = time.time) -> World:
    """A fresh world in the plan's starting state, its initial posts backdated."""
    world = World(plan.seed, fakes(), clock)
    for platform, name, owner in plan.owners:
        world.add_owner(platform, name, copy.deepcopy(owner))
    start = world.started
    for post, ago in plan.initial:
        world.publish(post, 0, at=start - ago)
    return world


class Sandbox:
    """A local fake of every platform that has one, following a seeded script.

    ``clock`` is the world's time (the system clock unless given); ``tick_seconds``
    puts the script's ticks on it (None: step by hand). ``resolution`` is the
    shortest state the watching monitor's schedule is sure to observe, in clock
    seconds (see :func:`detection_window`): in :meth:`truth`, an action whose state
    lasts less is marked ``"observable": False``. ``options`` are the random
    scenario's size knobs (see ``RANDOM_DEFAULTS``).

    ``prefix`` mounts every platform under a path, as a mirror or test server is
    (``"/mirror/masto"``): the fakes see their paths with it stripped, every URL
    they render (and :attr:`base_url`) carries it, the control endpoints live
    under it too, and a request for any other path but ``/robots.txt`` answers
    404 and is listed in :attr:`outside`.
    """

    def __init__(
        self,
        *,
        seed: int = 1,
        scenario: str = "demo",
        fault_rate: float = 0.0,
        faults: Sequence[str] = ALL_FAULTS,
        timeout_delay: float = 3.0,
        host: str = "127.0.0.1",
        port: int = 0,
        tick_seconds: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
        resolution: float = 0.0,
        prefix: str = "",
        **options: Any,
    ) -> None:
        if tick_seconds is not None and tick_seconds <= 0:
            raise ValueError("tick_seconds must be positive, or None to step by hand")
        self.prefix = mount_prefix(prefix)
        self.seed = seed
        self.scenario = scenario
        self.plan = build_plan(scenario, seed, options)
        self.clock = clock
        self.resolution = resolution
        #: The time of the tick being applied (its scheduled time, not when it ran).
        self._applying_at: float | None = None
        self.world = build_world(self.plan, self._world_time)
        self.faults = FaultInjector(seed, fault_rate, faults)
        self.timeout_delay = timeout_delay
        self.host = host
        self.port = port
        self.tick_seconds = tick_seconds
        self.base_url = f"http://{host}:{port}{self.prefix}"
        self._rows_by_tick: dict[int, list[Row]] = {}
        for row in self.plan.rows:
            self._rows_by_tick.setdefault(row.tick, []).append(row)
        self._lasts = _lasting_ticks(self.plan.rows)
        #: Platform requests answered so far (control endpoints and robots.txt aside).
        self.served = 0
        #: Paths (without their query) requested outside :attr:`prefix`, oldest first,
        #: at most MAX_OUTSIDE of them; ``/robots.txt`` is not one (it is the host's).
        self.outside: list[str] = []
        self._served_lock = threading.Lock()
        #: The request header a test proxy names its country in (geo-blocking).
        self.country_header = COUNTRY_HEADER
        #: Maps a client's (address, port) to its country, for proxies that cannot
        #: add a header (a SOCKS5 proxy); None: by header only.
        self.locate: Locate | None = None
        self._server: SandboxHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> str:
        """Serve in a background thread; returns the base URL."""
        if self._server is not None:
            return self.base_url
        self._server = SandboxHTTPServer((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}{self.prefix}"
        self._stopping.clear()
        serving = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="sandbox-http",
            daemon=True,
        )
        serving.start()
        self._threads = [serving]
        logger.info(
            "sandbox %s (seed %d) serving at %s, %d ticks",
            self.scenario,
            self.seed,
            self.base_url,
            len(self.plan.ticks),
        )
        return self.base_url

    def stop(self) -> None:
        """Stop the ticker and the server; safe to call twice."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []
        logger.info("sandbox at %s stopped", self.base_url)

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def count_request(self) -> None:
        with self._served_lock:
            self.served += 1

    def mounted(self, path: str) -> str | None:
        """``path`` as the fakes see it (the prefix stripped), or None when it is not
        under the prefix (then it is listed in :attr:`outside`): a path with a ``.``
        or ``..`` segment counts as outside, whatever it starts with."""
        if not self.prefix:
            return path
        climbs = any(s.lower().replace("%2e", ".") in (".", "..") for s in path.split("/"))
        if not climbs and (path == self.prefix or path.startswith(self.prefix + "/")):
            return path[len(self.prefix):] or "/"
        with self._served_lock:
            if len(self.outside) < MAX_OUTSIDE:
                self.outside.append(path)
        return None

    # -- geo-blocking ----------------------------------------------------------------

    def country_of(self, headers: Mapping[str, str],
                   client: tuple[str, int] | Any) -> str | None:
        """The requesting country (see :mod:`._geo`); None: served as everywhere."""
        return country_of(headers, client, self.country_header, self.locate)

    def find(self, url: str) -> Post:
        """The post whose permalink (as :meth:`truth` reports it) is ``url``; KeyError."""
        with self.world.lock:
            for post in self.world.order:
                fake = self.world.fakes[post.platform]
                if fake.post_url(self.base_url, self.world, post) == url:
                    return post
        raise KeyError(f"no post of the sandbox has the URL {url!r}")

    def withhold(self, url: str, countries: Iterable[str], *, lift: bool = False) -> list[str]:
        """Withhold the post at ``url`` in ``countries`` (``lift``: lift it there; no
        countries and ``lift``: everywhere); returns the countries it is withheld in."""
        withheld = withhold(self.world, self.find(url), countries, lift)
        logger.info("sandbox at %s: %s withheld in %s", self.base_url, url,
                    ", ".join(withheld) or "no country")
        return withheld

    # -- time ------------------------------------------------------------------------

    def _world_time(self) -> float:
        if self._applying_at is not None:
            return self._applying_at
        return self.clock.now().timestamp()

    def tick_time(self, tick: int) -> datetime | None:
        """When ``tick`` happens on the clock (None when stepping by hand)."""
        if self.tick_seconds is None:
            return None
        return datetime.fromtimestamp(self.world.started + tick * self.tick_seconds, UTC)

    def next_change_at(self) -> datetime | None:
        """When the next scripted tick happens: None when done or stepping by hand."""
        with self.world.lock:
            self.catch_up()
            return None if self._done() else self.tick_time(self.world.tick + 1)

    def catch_up(self) -> list[dict[str, Any]]:
        """Apply every tick whose time has come, each as of its own time; returns the
        actions applied. Requests, ``truth()``, ``tick`` and ``done`` call it."""
        applied: list[dict[str, Any]] = []
        if self.tick_seconds is None:
            return applied
        now = self.clock.now().timestamp()
        with self.world.lock:
            while not self._done():
                at = self.world.started + (self.world.tick + 1) * self.tick_seconds
                if at > now:
                    break
                self._applying_at = at
                try:
                    applied += self.step()
                finally:
                    self._applying_at = None
            if applied and self._done():
                logger.info("sandbox at %s finished its script", self.base_url)
        return applied

    # -- the script ------------------------------------------------------------------

    @property
    def tick(self) -> int:
        self.catch_up()
        return self.world.tick

    @property
    def done(self) -> bool:
        self.catch_up()
        return self._done()

    def _done(self) -> bool:
        return self.world.tick >= len(self.plan.ticks)

    @property
    def script(self) -> list[dict[str, Any]]:
        """The whole plan, without port or wall clock: equal seeds give equal scripts."""
        return self.plan.script()

    def step(self, n: int = 1) -> list[dict[str, Any]]:
        """Apply the next ``n`` ticks; returns the actions applied, as in ``truth()``."""
        applied: list[dict[str, Any]] = []
        with self.world.lock:
            for _ in range(n):
                if self._done():
                    break
                self.world.tick += 1
                for op in self.plan.ticks[self.world.tick - 1]:
                    self._apply(op)
                self.world.bump_counters()
                applied += [self._row(r) for r in self._rows_by_tick.get(self.world.tick, [])]
            tick = self.world.tick
        logger.info("sandbox at %s: tick %d, %d actions", self.base_url, tick, len(applied))
        return applied

    def finish(self) -> None:
        """Apply every remaining tick."""
        self.step(len(self.plan.ticks))

    def _apply(self, op: Op) -> None:
        world = self.world
        if op.kind == "publish":
            assert op.post is not None
            world.publish(op.post, world.tick)
        elif op.on_account:
            world.apply_account_action(op.platform, op.target, op.action)
        else:
            post = world.post(op.platform, op.target)
            assert post is not None, op
            world.apply_post_action(post, op.action, op.edit)

    # -- truth -------------------------------------------------------------------------

    def claimant(self, path: str) -> Fake | None:
        """The fake that answers requests for ``path``, if any: of those that claim it,
        the one whose declared path prefix is longest (RedNote's ``/api/sns/`` within
        Mastodon's ``/api/``); ties go to the first."""
        found = [f for f in self.world.fakes.values() if f.claims(path)]
        return max(found, default=None, key=lambda f: max(
            (len(p) for p in f.paths if path.startswith(p)), default=0))

    def _addresses(self, post: Post) -> dict[str, str]:
        fake, base, world = self.world.fakes[post.platform], self.base_url, self.world
        return {
            "post_key": fake.post_key(base, world, post),
            "url": fake.post_url(base, world, post),
            "target": fake.target(base, world, post),
        }

    def _row(self, row: Row) -> dict[str, Any]:
        post = self.world.post(row.platform, row.uid)
        assert post is not None
        addresses = self._addresses(post)
        out: dict[str, Any] = {
            "tick": row.tick,
            "platform": row.platform,
            "post_key": addresses["post_key"],
            "target": addresses["target"],
            "action": row.action,
            "expect": dict(row.expect),
            "url": addresses["url"],
            **self._timing(row),
        }
        at = self.tick_time(row.tick)
        if at is not None:  # when it happened, on the clock
            out["at"] = at.isoformat()
        if row.edit_style:
            out["edit_style"] = row.edit_style
        return out

    def _timing(self, row: Row) -> dict[str, Any]:
        """How long the state ``row`` leaves lasts (clock seconds; None: to the end, or
        unknown when stepping by hand) and whether the monitor can be expected to see
        it: it lasts at least ``resolution``, and so did the state it undoes (a
        restore of a removal nobody could see is not seen either)."""
        observable = True
        lasts: float | None = None
        for index in self._chain(row):
            ticks = self._lasts[index]
            lasts = None if ticks is None or self.tick_seconds is None else (
                ticks * self.tick_seconds)
            if lasts is not None and lasts < self.resolution:
                observable = False
        return {"lasts": lasts, "observable": observable}

    def _chain(self, row: Row) -> list[int]:
        """``row``'s index in the plan, after that of the action it undoes, if any."""
        index = next(i for i, r in enumerate(self.plan.rows) if r is row)
        if row.action != "restore":
            return [index]
        before = [i for i, r in enumerate(self.plan.rows[:index])
                  if (r.platform, r.uid) == (row.platform, row.uid)]
        return [before[-1], index] if before else [index]

    def truth(self) -> dict[str, Any]:
        """Ground truth: the actions applied so far with their expected events, every post."""
        with self.world.lock:
            self.catch_up()
            tick = self.world.tick
            actions = [self._row(r) for r in self.plan.rows if r.tick <= tick]
            posts = []
            for post in self.world.order:
                fake = self.world.fakes[post.platform]
                entry = {
                    "platform": post.platform,
                    **self._addresses(post),
                    **self.world.describe(post),
                    **fake.truth_extra(self.base_url, self.world, post),
                }
                if self.world.withheld_in(post):
                    entry["withheld_in"] = sorted(self.world.withheld_in(post))
                posts.append(entry)
            return {
                "base_url": self.base_url,
                "scenario": self.scenario,
                "seed": self.seed,
                "tick": tick,
                "ticks": len(self.plan.ticks),
                "done": self._done(),
                "tick_seconds": self.tick_seconds,
                "resolution": self.resolution,
                "actions": actions,
                "pending_actions": sum(1 for r in self.plan.rows if r.tick > tick),
                "posts": posts,
                "faults": dict(self.faults.counts),
            }

    def settings(self) -> dict[str, str]:
        """Settings the fakes need a monitor to have (credentials of the APIs they stand
        in for, pointing at this sandbox): give them to the worker with
        ``settings.replace(**sandbox.settings())``."""
        out: dict[str, str] = {}
        for fake in self.world.fakes.values():
            out.update(fake.settings(self.base_url))
        return out

    def watchlist_toml(self, group: str = "sandbox", interval: str = "5s") -> str:
        """A watchlist of every target the fakes name for the plan (accounts, feeds…)."""
        key = group if _BARE_KEY.match(group) else _quote(group)
        lines = [f"[groups.{key}]", f"interval = {_quote(interval)}", 'tags = ["sandbox"]', ""]
        for fake in self.world.fakes.values():
            for target in fake.watch_targets(self.base_url, self.plan):
                lines.append(f"[[groups.{key}.targets]]")
                lines += [f"{name} = {_quote(value)}" for name, value in target.items()]
                lines.append("")
        return "\n".join(lines)


def mount_prefix(prefix: str) -> str:
    """``prefix`` as the sandbox mounts it: ``""`` (none) or ``/a/b``, no trailing slash.
    ValueError for one that is not a plain path."""
    cleaned = prefix.strip().strip("/")
    if not cleaned:
        return ""
    segments = cleaned.split("/")
    if any(not s or s in (".", "..") or not _PREFIX_SEGMENT.match(s) for s in segments):
        raise ValueError(f"{prefix!r} is not a path prefix; write it like /mirror/masto "
                         "(letters, digits, '-', '_', '.', '~', '@' in each segment)")
    return "/" + cleaned


def _lasting_ticks(rows: Sequence[Row]) -> list[int | None]:
    """For each row, the ticks until the next action on the same post (None: none)."""
    lasts: list[int | None] = [None] * len(rows)
    latest: dict[tuple[str, str], int] = {}
    for index in range(len(rows) - 1, -1, -1):
        row = rows[index]
        following = latest.get((row.platform, row.uid))
        lasts[index] = None if following is None else rows[following].tick - row.tick
        latest[(row.platform, row.uid)] = index
    return lasts


def _quote(value: str) -> str:
    """A TOML basic string."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def serve(
    seed: int = 1,
    scenario: str = "demo",
    fault_rate: float = 0.0,
    port: int = 8765,
    tick_seconds: float | None = None,
    *,
    host: str = "127.0.0.1",
    announce: Callable[[str], None] = print,
    prefix: str = "",
    **options: Any,
) -> None:
    """Run a sandbox in the foreground until Ctrl-C (``takedown sandbox``); ``prefix``
    mounts it under a path (see :class:`Sandbox`)."""
    sandbox = Sandbox(
        seed=seed,
        scenario=scenario,
        fault_rate=fault_rate,
        host=host,
        port=port,
        tick_seconds=tick_seconds,
        prefix=prefix,
        **options,
    )
    base = sandbox.start()
    stepping = (
        f"one tick every {tick_seconds:g}s"
        if tick_seconds
        else f"step by hand: curl -X POST {base}/_sandbox/step"
    )
    announce(
        f"Sandbox '{scenario}' (seed {seed}, {len(sandbox.plan.ticks)} ticks) at {base}\n"
        f"  watchlist: {base}/_sandbox/watchlist.toml\n"
        f"  truth:     {base}/_sandbox/truth\n"
        f"  {stepping}\n"
        "Press Ctrl-C to stop."
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
