"""The :class:`Sandbox`: a plan, a world replaying it, an HTTP server, a fault injector."""

from __future__ import annotations

import copy
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from ._faults import ALL_FAULTS, FaultInjector
from ._scenarios import build_plan
from ._script import Op, Plan, Row
from ._server import SandboxHTTPServer
from ._urls import feed_url, note_url, post_key, post_url, status_api_url
from ._world import Post, World

logger = logging.getLogger(__name__)

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def build_world(plan: Plan, clock: Callable[[], float] = time.time) -> World:
    """A fresh world in the plan's starting state, its initial posts backdated."""
    world = World(plan.seed, clock)
    for account in plan.accounts:
        world.add_account(copy.deepcopy(account))
    for site in plan.sites:
        world.add_site(copy.deepcopy(site))
    for user in plan.users:
        world.add_user(copy.deepcopy(user))
    start = world.started
    for post, ago in plan.initial:
        world.publish(post, 0, at=start - ago)
    return world


class Sandbox:
    """A local fake of Mastodon, RSS/Atom sites and RedNote that follows a seeded script.

    ``options`` are the random scenario's size knobs (see ``RANDOM_DEFAULTS``).
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
        **options: Any,
    ) -> None:
        if tick_seconds is not None and tick_seconds <= 0:
            raise ValueError("tick_seconds must be positive, or None to step by hand")
        self.seed = seed
        self.scenario = scenario
        self.plan = build_plan(scenario, seed, options)
        self.world = build_world(self.plan)
        self.faults = FaultInjector(seed, fault_rate, faults)
        self.timeout_delay = timeout_delay
        self.host = host
        self.port = port
        self.tick_seconds = tick_seconds
        self.base_url = f"http://{host}:{port}"
        self._rows_by_tick: dict[int, list[Row]] = {}
        for row in self.plan.rows:
            self._rows_by_tick.setdefault(row.tick, []).append(row)
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
        self.base_url = f"http://{self.host}:{self.port}"
        self._stopping.clear()
        serving = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="sandbox-http",
            daemon=True,
        )
        serving.start()
        self._threads = [serving]
        if self.tick_seconds:
            ticker = threading.Thread(target=self._auto_tick, name="sandbox-ticker", daemon=True)
            ticker.start()
            self._threads.append(ticker)
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

    def _auto_tick(self) -> None:
        assert self.tick_seconds is not None
        while not self._stopping.wait(self.tick_seconds):
            if self.done:
                logger.info("sandbox at %s finished its script", self.base_url)
                return
            self.step()

    # -- the script ------------------------------------------------------------------

    @property
    def tick(self) -> int:
        return self.world.tick

    @property
    def done(self) -> bool:
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
                if self.done:
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
            world.apply_account_action(op.target, op.action)
        else:
            post = world.post(op.platform, op.target)
            assert post is not None, op
            world.apply_post_action(post, op.action, op.edit)

    # -- truth -------------------------------------------------------------------------

    def _fmt(self, post: Post) -> str | None:
        return self.world.sites[post.owner].fmt if post.platform == "rss" else None

    def _target(self, post: Post) -> str:
        base = self.base_url
        if post.platform == "mastodon":
            return post.owner
        if post.platform == "rss":
            return feed_url(base, self.world.sites[post.owner])
        return note_url(base, post)

    def _row(self, row: Row) -> dict[str, Any]:
        post = self.world.post(row.platform, row.uid)
        assert post is not None
        out: dict[str, Any] = {
            "tick": row.tick,
            "platform": row.platform,
            "post_key": post_key(self.base_url, post, self._fmt(post)),
            "target": self._target(post),
            "action": row.action,
            "expect": dict(row.expect),
            "url": post_url(self.base_url, post),
        }
        if row.edit_style:
            out["edit_style"] = row.edit_style
        return out

    def truth(self) -> dict[str, Any]:
        """Ground truth: the actions applied so far with their expected events, every post."""
        with self.world.lock:
            tick = self.world.tick
            actions = [self._row(r) for r in self.plan.rows if r.tick <= tick]
            posts = []
            for post in self.world.order:
                entry = {
                    "platform": post.platform,
                    "post_key": post_key(self.base_url, post, self._fmt(post)),
                    "url": post_url(self.base_url, post),
                    "target": self._target(post),
                    **self.world.describe(post),
                }
                if post.platform == "mastodon":
                    entry["api_url"] = status_api_url(self.base_url, post)
                posts.append(entry)
            return {
                "base_url": self.base_url,
                "scenario": self.scenario,
                "seed": self.seed,
                "tick": tick,
                "ticks": len(self.plan.ticks),
                "done": self.done,
                "actions": actions,
                "pending_actions": sum(1 for r in self.plan.rows if r.tick > tick),
                "posts": posts,
                "faults": dict(self.faults.counts),
            }

    def watchlist_toml(self, group: str = "sandbox", interval: str = "5s") -> str:
        """A watchlist of every account, feed and start-time note of the sandbox."""
        key = group if _BARE_KEY.match(group) else _quote(group)
        base = self.base_url
        lines = [f"[groups.{key}]", f"interval = {_quote(interval)}", 'tags = ["sandbox"]', ""]
        for account in self.plan.accounts:
            lines += [
                f"[[groups.{key}.targets]]",
                'platform = "mastodon"',
                f"account = {_quote(account.username)}",
                f"base_url = {_quote(base)}",
                "",
            ]
        for site in self.plan.sites:
            lines += [
                f"[[groups.{key}.targets]]",
                'platform = "rss"',
                f"feed = {_quote(feed_url(base, site))}",
                "",
            ]
        for spec, _ in self.plan.initial:
            if spec.platform != "rednote":
                continue
            lines += [
                f"[[groups.{key}.targets]]",
                'platform = "rednote"',
                f"post = {_quote(note_url(base, spec))}",
                f"base_url = {_quote(base)}",
                "",
            ]
        return "\n".join(lines)


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
    **options: Any,
) -> None:
    """Run a sandbox in the foreground until Ctrl-C (``takedown sandbox``)."""
    sandbox = Sandbox(
        seed=seed,
        scenario=scenario,
        fault_rate=fault_rate,
        host=host,
        port=port,
        tick_seconds=tick_seconds,
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
