"""The whole watchlist file as the models check it: settings, targets and [alerts] at once,
did-you-mean, and target kinds that come from the platforms, not from the core."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

from alerts import redact
from alerts.config import load_file
from monitor import platforms
from monitor.errors import WatchlistError
from monitor.platform import Kind, Platform
from monitor.watchlist import all_kinds, parse_watchlist
from monitor.watchlist_edit import add_target

BROKEN = """\
[settings]
confirm_spacing = "soon"
tick = "1s"
flap_versons = 3

[groups.g]
descripton = "typo"

[[groups.g.targets]]
platform = "mastodon"
acount = "alice@example.social"

[[groups.g.targets]]
platform = "rss"
feed = "https://news.example.org/feed.xml"
interval = "5 minutes"

[alerts]
max_trys = 3
burst_window = "later"
[alerts.channels.hook]
type = "webhook"
url = "https://r.example/hook"
secret_env = "NOT_SET_ANYWHERE"
[[alerts.routes]]
channels = ["hoook"]
"""


@pytest.fixture(autouse=True)
def _forget_log_secrets() -> Iterator[None]:
    """load_file registers secrets with the process-wide log filter: not across tests."""
    yield
    redact.uninstall()


def test_every_problem_of_settings_targets_and_alerts_is_reported_at_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "watch.toml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(WatchlistError) as caught:
        load_file(path, environ={})
    err = caught.value
    assert err.file == str(path) and err.key is None
    lines = str(err).splitlines()
    assert lines[0] == f"{path}: 10 problems:"
    found = dict(line.strip().split(": ", 1) for line in lines[1:])
    assert list(found) == [  # in file order, settings and groups first, then [alerts]
        "settings.confirm_spacing", "settings.flap_versons", "groups.g.descripton",
        "groups.g.targets[0].acount", "groups.g.targets[0]", "groups.g.targets[1].interval",
        "alerts.max_trys", "alerts.burst_window", "alerts.channels.hook.secret_env",
        "alerts.routes[0].channels"]
    assert found["settings.confirm_spacing"] == (
        "bad value 'soon': 'soon' is not a duration; write it like 90s, 5m, 2h or 1d")
    assert found["groups.g.targets[0]"] == (
        "give exactly one of account, channel, feed, post, subreddit or thread; none is given")
    assert found["groups.g.targets[1].interval"] == (
        "'5 minutes' is not a duration; write it like 90s, 5m, 2h or 1d")
    assert found["alerts.burst_window"] == (
        "'later' is not a duration; write it like 90s, 5m, 2h or 1d")
    assert found["alerts.channels.hook.secret_env"] == (
        "environment variable NOT_SET_ANYWHERE is not set or empty; export it before "
        "starting takedown")
    assert found["alerts.routes[0].channels"] == (
        "unknown channel 'hoook'; did you mean 'hook'? channels defined: hook")
    assert found["settings.flap_versons"].startswith(
        "unknown setting 'flap_versons'; did you mean 'flap_versions'? known settings: ")
    assert found["groups.g.descripton"].startswith(
        "unknown key 'descripton'; did you mean 'description'?")
    assert found["groups.g.targets[0].acount"].startswith(
        "unknown key 'acount'; did you mean 'account'?")
    assert found["alerts.max_trys"].startswith("unknown key 'max_trys'; did you mean "
                                               "'max_tries'? allowed keys: max_tries, ")


def test_a_good_file_loads_with_its_alerts(tmp_path: Path) -> None:
    path = tmp_path / "watch.toml"
    path.write_text('[settings]\ntick = "1s"\n[[groups.g.targets]]\nplatform = "rss"\n'
                    'feed = "https://x.org/f"\n[alerts]\nmax_tries = 3\n'
                    '[alerts.channels.hook]\ntype = "webhook"\nurl = "https://r.example/h"\n'
                    'secret_env = "S"\n[[alerts.routes]]\nchannels = ["hook"]\n'
                    'groups = ["g"]\n', encoding="utf-8")
    watchlist, config = load_file(path, environ={"S": "hook-key-0123456789"})
    assert watchlist.path == path and [t.key for t in watchlist.targets] == [
        "rss:feed:https://x.org/f"]
    assert watchlist.settings(environ={})["TICK"] == 1.0
    assert config.max_tries == 3 and config.channels["hook"].secret == "hook-key-0123456789"
    assert config.routes[0].groups == frozenset({"g"})


def test_duplicates_are_found_beside_other_problems() -> None:
    text = ('[[groups.g.targets]]\nplatform = "rss"\nfeed = "https://x.org/f"\n'
            '[[groups.g.targets]]\nplatform = "rss"\nfeed = "https://x.org/f"\n'
            '[[groups.g.targets]]\nplatform = "rss"\nfeed = "https://x.org/f"\ntags = "hk"\n')
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist(text, "w.toml")
    text = str(caught.value)
    assert "2 problems" in text
    assert "groups.g.targets[2].tags: must be a list of non-empty strings" in text
    assert ("groups.g.targets[1]: duplicate target rss:feed:https://x.org/f: already listed "
            "at groups.g.targets[0]") in text


def test_wrong_shapes_say_how_to_write_them() -> None:
    cases = {
        "settings = 3\n": ("settings", "must be a table; write it as [settings]"),
        "groups = 3\n": ("groups", "must be a table of groups, like [groups.journalists]"),
        "alerts = 3\n": ("alerts", "must be a table, like [alerts]"),
        "[groups]\ng = 3\n": ("groups.g", "must be a table; write it as [groups.g]"),
        "[groups.g]\ntargets = 3\n": ("groups.g.targets", "add targets as [[groups.g.targets]]"),
        "[groups.g]\ndescription = 3\n": ("groups.g.description", "must be a string"),
    }
    for text, (key, said) in cases.items():
        with pytest.raises(WatchlistError) as caught:
            parse_watchlist(text, "w.toml")
        assert (caught.value.key, caught.value.problem) == (key, said), text


# -- a third-party platform whose kinds the core has never heard of -------------------------


def _check_thread(value: str, has_base_url: bool) -> tuple[str, str | None]:
    if "/t/" not in value:
        raise ValueError(f"{value!r} is not a thread URL; write it like "
                         "https://forum.example/t/123")
    return value, "https://" + value.split("://", 1)[1].split("/", 1)[0]


FORUM = Platform(
    name="forum",
    title="A forum",
    kinds={"board": Kind("board", example="https://forum.example/c/news"),
           "thread": Kind("thread", check=_check_thread,
                          post_ref=lambda url, base: (url.rsplit("/", 1)[1], url))},
    spider="forum_plugin.NoSpider",
)
#: A platform with listings only: no single-post kind.
CHANNELS = Platform(name="chan", title="Channels", kinds={"channel": Kind("channel")},
                    spider="forum_plugin.NoSpider")
#: A platform whose kind takes the name of a target key: refused when loaded.
CLASHING = Platform(name="clash", title="Clash", kinds={"tags": Kind("tags")},
                    spider="forum_plugin.NoSpider")


@pytest.fixture
def forum(monkeypatch: pytest.MonkeyPatch) -> Iterator[platforms.Registry]:
    """The built-in platforms plus the plug-ins above, read from entry points."""
    module = types.ModuleType("forum_plugin")
    module.FORUM, module.CHANNELS, module.CLASHING = FORUM, CHANNELS, CLASHING  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "forum_plugin", module)
    group = platforms.ENTRY_POINT_GROUP
    eps = [*entry_points(group=group),
           EntryPoint("forum", "forum_plugin:FORUM", group),
           EntryPoint("chan", "forum_plugin:CHANNELS", group),
           EntryPoint("clash", "forum_plugin:CLASHING", group)]
    try:
        yield platforms.reload_platforms(eps)
    finally:
        platforms.reload_platforms()  # the real registry again


def test_a_platform_brings_its_own_kind_names(forum: platforms.Registry) -> None:
    assert {"board", "thread", "channel"} <= set(all_kinds())
    wl = parse_watchlist('[[groups.g.targets]]\nplatform = "forum"\n'
                         'thread = "https://forum.example/t/123"\n'
                         '[[groups.g.targets]]\nplatform = "forum"\n'
                         'board = "https://forum.example/c/news"\n')
    thread, board = wl.targets
    assert (thread.kind, thread.value, thread.base_url) == (
        "thread", "https://forum.example/t/123", "https://forum.example")
    assert thread.key == "forum:thread:https://forum.example/t/123"
    assert board.kind == "board"
    assert platforms.post_ref("forum", thread.value, None) == (
        "123", "https://forum.example/t/123")
    assert platforms.is_single_post("forum", "thread")
    assert not platforms.is_single_post("forum", "board")
    assert not platforms.is_single_post("nosuch", "thread")
    assert thread.single_post and not board.single_post


def test_a_custom_kind_is_checked_by_its_platform(forum: platforms.Registry) -> None:
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist('[[groups.g.targets]]\nplatform = "forum"\n'
                        'thread = "https://forum.example/c/news"\n', "w.toml")
    assert caught.value.key == "groups.g.targets[0].thread"
    assert "is not a thread URL" in caught.value.problem
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist('[[groups.g.targets]]\nplatform = "rss"\n'
                        'thread = "https://forum.example/t/1"\n', "w.toml")
    assert caught.value.problem == "rss has no thread targets; use one of: feed, post"
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist('[[groups.g.targets]]\nplatform = "forum"\n', "w.toml")
    assert caught.value.problem.startswith("give exactly one of account, board, channel, feed, "
                                           "post, subreddit or thread; none is given")
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist('[[groups.g.targets]]\nplatform = "forum"\nthred = "x"\n', "w.toml")
    assert "did you mean 'thread'?" in str(caught.value)


def test_watch_add_takes_a_custom_kind(forum: platforms.Registry, tmp_path: Path) -> None:
    added = add_target(tmp_path / "w.toml", "g", "forum", "thread",
                       "https://forum.example/t/9")
    assert added.key == "forum:thread:https://forum.example/t/9"


def test_post_ref_needs_a_single_post_kind(forum: platforms.Registry) -> None:
    with pytest.raises(ValueError, match="chan has no single-post targets"):
        platforms.post_ref("chan", "https://chan.example/1", None)


def test_a_kind_named_like_a_target_key_is_refused(forum: platforms.Registry) -> None:
    assert "clash" in forum.broken and "clash" not in forum.platforms
    assert "its kind 'tags' has the name of a target key" in str(forum.broken["clash"])
