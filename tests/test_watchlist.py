"""The watchlist file: parsing, validation messages, and comment-preserving edits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor import watchlist_edit as wl_module
from monitor.errors import ConfigError, WatchlistError
from monitor.watchlist import Target, Watchlist, load_watchlist, parse_watchlist
from monitor.watchlist_edit import add_target, remove_target

NOTE = "64ec28ee000000001f03a1b2"
USER = "5ff0e6410000000001008400"

VALID = f"""\
# Takedown Monitor watchlist
[settings]
confirm_spacing = "10s"  # short, for a demo

[groups.journalists]
description = "Hong Kong journalists"
interval = "10m"
tags = ["hk"]

# alice matters most
[[groups.journalists.targets]]
platform = "mastodon"
account = "alice@example.social"
interval = "5m"
tags = ["urgent", "hk"]

[[groups.journalists.targets]]
platform = "Mastodon"
account = "bob"
base_url = "http://127.0.0.1:3000/"

[[groups.journalists.targets]]
platform = "xhs"
post = "https://www.xiaohongshu.com/explore/{NOTE}?xsec_token=AB12&xsec_source=pc_feed"

[groups.feeds]
[[groups.feeds.targets]]
platform = "atom"
feed = "https://news.example.org/feed.xml"
interval = 90

[[groups.feeds.targets]]
platform = "rednote"
account = "{USER}"
"""


def test_valid_file_parses_to_targets() -> None:
    wl = parse_watchlist(VALID)
    assert [t.key for t in wl.targets] == [
        "mastodon:account:alice@example.social",
        "mastodon:account:bob@http://127.0.0.1:3000",
        f"rednote:post:{NOTE}",
        "rss:feed:https://news.example.org/feed.xml",
        f"rednote:account:{USER}",
    ]
    alice, bob, note, feed, user = wl.targets
    assert alice == Target(
        group="journalists",
        platform="mastodon",
        kind="account",
        value="alice@example.social",
        base_url="https://example.social",
        interval=300.0,
        tags=("hk", "urgent"),
    )
    assert (bob.platform, bob.value, bob.base_url, bob.interval) == (
        "mastodon", "bob", "http://127.0.0.1:3000", 600.0
    )
    assert note.base_url == "https://www.xiaohongshu.com" and note.tags == ("hk",)
    assert (feed.platform, feed.interval, feed.tags) == ("rss", 90.0, ())
    assert user.base_url == "https://www.xiaohongshu.com"
    assert wl.groups["journalists"] == {
        "description": "Hong Kong journalists",
        "interval": 600.0,
        "tags": ("hk",),
        "review": False,
    }
    assert wl.groups["feeds"] == {"description": None, "interval": None, "tags": (),
                                  "review": False}
    assert wl.settings_values == {"confirm_spacing": "10s"}
    settings = wl.settings(environ={"TAKEDOWN_CONFIRM_PROBES": "3"})
    assert settings["CONFIRM_SPACING"] == 10.0 and settings["CONFIRM_PROBES"] == 3


@pytest.mark.parametrize(
    ("account", "base_url", "key"),
    [
        ("alice@example.social", None, "mastodon:account:alice@example.social"),
        ("@alice@example.social", None, "mastodon:account:alice@example.social"),
        ("alice", "https://example.social", "mastodon:account:alice@example.social"),
        ("alice", "https://example.social/", "mastodon:account:alice@example.social"),
        ("alice@example.social", "http://127.0.0.1:3000",
         "mastodon:account:alice@example.social@http://127.0.0.1:3000"),
    ],
)
def test_mastodon_account_keys_are_canonical(
    account: str, base_url: str | None, key: str
) -> None:
    extra = f'base_url = "{base_url}"\n' if base_url else ""
    text = f'[[groups.g.targets]]\nplatform = "mastodon"\naccount = "{account}"\n{extra}'
    assert parse_watchlist(text).targets[0].key == key


@pytest.mark.parametrize(
    ("url", "base_url", "key"),
    [
        (f"https://www.xiaohongshu.com/explore/{NOTE}?xsec_token=A", None, f"rednote:post:{NOTE}"),
        (f"https://www.xiaohongshu.com/discovery/item/{NOTE.upper()}", None,
         f"rednote:post:{NOTE}"),
        (f"http://127.0.0.1:9000/explore/{NOTE}", None,
         f"rednote:post:{NOTE}@http://127.0.0.1:9000"),
        (f"https://www.xiaohongshu.com/explore/{NOTE}", "http://mirror.test",
         f"rednote:post:{NOTE}@http://mirror.test"),
    ],
)
def test_rednote_post_key_is_the_note_id(url: str, base_url: str | None, key: str) -> None:
    extra = f'base_url = "{base_url}"\n' if base_url else ""
    text = f'[[groups.g.targets]]\nplatform = "rednote"\npost = "{url}"\n{extra}'
    assert parse_watchlist(text).targets[0].key == key


def _one(body: str) -> str:
    return f"[[groups.g.targets]]\n{body}\n"


INVALID = [
    # (case, file text, dotted key or None, words the message must contain)
    ("unknown platform", _one('platform = "tiktokk"\naccount = "x"'),
     "groups.g.targets[0].platform",
     ["unknown platform 'tiktokk'", "known platforms: bluesky, mastodon, reddit, rednote, rss"]),
    ("platform typo", _one('platform = "mastodn"\naccount = "a@b.c"'),
     "groups.g.targets[0].platform",
     ["unknown platform 'mastodn'; did you mean 'mastodon'?", "known platforms:"]),
    ("missing platform", _one('feed = "https://x.org/f"'),
     "groups.g.targets[0].platform", ["mastodon, reddit, rednote, rss"]),
    ("kind not allowed", _one('platform = "rss"\naccount = "alice"'),
     "groups.g.targets[0].account", ["rss has no account targets", "feed, post"]),
    ("no kind", _one('platform = "rss"'),
     "groups.g.targets[0]", ["exactly one of account, channel, feed, post, subreddit or thread",
                             "none is given"]),
    ("two kinds", _one('platform = "mastodon"\naccount = "a@b.c"\npost = "https://b.c/@a/1"'),
     "groups.g.targets[0]", ["exactly one", "not both account and post"]),
    ("feed not a URL", _one('platform = "rss"\nfeed = "news.example.org/feed"'),
     "groups.g.targets[0].feed", ["not an http(s) URL"]),
    ("ftp URL", _one('platform = "rss"\nfeed = "ftp://example.org/feed"'),
     "groups.g.targets[0].feed", ["https://"]),
    ("bad port", _one('platform = "rss"\nfeed = "https://example.org:99999/f"'),
     "groups.g.targets[0].feed", ["not an http(s) URL"]),
    ("bad base_url", _one('platform = "mastodon"\naccount = "a"\nbase_url = "example.social"'),
     "groups.g.targets[0].base_url", ["not an http(s) URL"]),
    ("bad interval", _one('platform = "rss"\nfeed = "https://x.org/f"\ninterval = "5 minutes"'),
     "groups.g.targets[0].interval", ["not a duration", "5m"]),
    ("zero interval", _one('platform = "rss"\nfeed = "https://x.org/f"\ninterval = 0'),
     "groups.g.targets[0].interval", ["positive duration"]),
    ("boolean interval", _one('platform = "rss"\nfeed = "https://x.org/f"\ninterval = true'),
     "groups.g.targets[0].interval", ["number of seconds"]),
    ("bad group interval", '[groups.g]\ninterval = "soon"\n',
     "groups.g.interval", ["not a duration"]),
    ("tags not a list", _one('platform = "rss"\nfeed = "https://x.org/f"\ntags = "hk"'),
     "groups.g.targets[0].tags", ["list of non-empty strings"]),
    ("tag not a string", _one('platform = "rss"\nfeed = "https://x.org/f"\ntags = ["hk", 1]'),
     "groups.g.targets[0].tags", ["list of non-empty strings"]),
    ("unknown target key", _one('platform = "mastodon"\nacount = "a@b.c"'),
     None, ["groups.g.targets[0].acount: unknown key 'acount'", "did you mean 'account'?"]),
    ("unknown group key", '[groups.g]\ndescripton = "x"\n',
     "groups.g.descripton", ["did you mean 'description'?"]),
    ("unknown top-level key", '[group.g]\ndescription = "x"\n',
     "group", ["did you mean 'groups'?"]),
    ("targets not tables", '[groups.g]\ntargets = ["https://x.org/f"]\n',
     "groups.g.targets[0]", ["must be a table", "[[groups.g.targets]]"]),
    ("duplicate target",
     _one('platform = "mastodon"\naccount = "alice@example.social"')
     + '[[groups.h.targets]]\nplatform = "mastodon"\naccount = "alice"\n'
       'base_url = "https://example.social"\n',
     "groups.h.targets[0]",
     ["duplicate target mastodon:account:alice@example.social", "groups.g.targets[0]"]),
    ("mastodon bare account", _one('platform = "mastodon"\naccount = "alice"'),
     "groups.g.targets[0].account", ["names no instance", "alice@example.social", "base_url"]),
    ("mastodon not an account", _one('platform = "mastodon"\naccount = "a b"'),
     "groups.g.targets[0].account", ["not a Mastodon account"]),
    ("rednote short note id",
     _one('platform = "rednote"\npost = "https://www.xiaohongshu.com/explore/64ec28ee?x=1"'),
     "groups.g.targets[0].post", ["note id '64ec28ee' is not 24 hex characters"]),
    ("rednote not a note URL",
     _one('platform = "rednote"\npost = "https://www.xiaohongshu.com/user/profile/abc"'),
     "groups.g.targets[0].post", ["not a RedNote note URL", "/explore/"]),
    ("rednote bad user id", _one('platform = "rednote"\naccount = "alice"'),
     "groups.g.targets[0].account", ["not a RedNote user id", "/user/profile/"]),
    ("TOML syntax error", '[groups.g]\ndescription = "unclosed\n',
     None, ["not valid TOML", "line 2"]),
    ("unknown setting", '[settings]\nconfirm_spacin = "10s"\n',
     "settings.confirm_spacin", ["unknown setting", "did you mean 'confirm_spacing'?"]),
    ("setting in upper case", '[settings]\nCONFIRM_SPACING = "10s"\n',
     "settings.CONFIRM_SPACING", ["did you mean 'confirm_spacing'?"]),
    ("bad setting value", '[settings]\nconfirm_probes = "two"\n',
     "settings.confirm_probes", ["bad value 'two'"]),
]


@pytest.mark.parametrize(
    ("text", "key", "words"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_file_names_key_and_problem(text: str, key: str | None, words: list[str]) -> None:
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist(text, source="watch.toml")
    err = caught.value
    assert isinstance(err, ConfigError)
    assert (err.file, err.key) == ("watch.toml", key)
    for word in words:
        assert word in str(err)


def test_every_problem_is_reported_at_once() -> None:
    text = _one('platform = "tiktokk"\naccount = "x"') + _one('platform = "rss"\nfed = "u"')
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist(text, source="watch.toml")
    lines = str(caught.value).splitlines()
    assert lines[0] == "watch.toml: 3 problems:"
    assert lines[1].startswith("  groups.g.targets[0].platform: unknown platform 'tiktokk'")
    assert lines[2].startswith("  groups.g.targets[1].fed: unknown key 'fed'")
    assert lines[3].startswith("  groups.g.targets[1]: give exactly one of account, channel, "
                               "feed, post, subreddit or thread")


def test_empty_file_is_an_empty_watchlist() -> None:
    wl = parse_watchlist("")
    assert (wl.targets, wl.groups, wl.settings_values) == ([], {}, {})


def test_load_sets_path_and_missing_file_says_how_to_create_it(tmp_path: Path) -> None:
    path = tmp_path / "watch.toml"
    with pytest.raises(WatchlistError) as caught:
        load_watchlist(path)
    assert caught.value.file == str(path)
    assert "no such watchlist file" in str(caught.value)
    assert "takedown watch add" in str(caught.value)
    path.write_text(VALID, encoding="utf-8")
    wl = load_watchlist(str(path))
    assert isinstance(wl, Watchlist) and wl.path == path and len(wl.targets) == 5


def test_add_and_remove_keep_comments_and_layout(tmp_path: Path) -> None:
    path = tmp_path / "watch.toml"
    path.write_text(VALID, encoding="utf-8")
    added = add_target(path, "journalists", "RSS", "feed", "https://hk.example.org/rss",
                       interval="1h", tags=["press"])
    assert added == Target("journalists", "rss", "feed", "https://hk.example.org/rss",
                           "https://hk.example.org", 3600.0, ("hk", "press"))
    text = path.read_text(encoding="utf-8")
    assert text.startswith(VALID.split("[groups.feeds]")[0])  # everything before, unchanged
    assert "# alice matters most" in text and "# short, for a demo" in text
    assert 'platform = "rss"\nfeed = "https://hk.example.org/rss"\ninterval = "1h"' in text
    assert [t.key for t in load_watchlist(path).targets][3] == added.key

    removed = remove_target(path, added.key)
    assert removed == added
    assert path.read_text(encoding="utf-8") == VALID

    removed = remove_target(path, "bob")  # by value
    assert removed.key == "mastodon:account:bob@http://127.0.0.1:3000"
    text = path.read_text(encoding="utf-8")
    assert "bob" not in text and "# alice matters most" in text
    assert len(load_watchlist(path).targets) == 4


def test_add_creates_the_file_and_new_groups(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "watch.toml"
    first = add_target(path, "press", "mastodon", "account", "alice@example.social")
    second = add_target(path, "HK press", "xiaohongshu", "post",
                        f"https://www.xiaohongshu.com/explore/{NOTE}?xsec_token=AB")
    assert path.read_text(encoding="utf-8") == (
        '[[groups.press.targets]]\nplatform = "mastodon"\naccount = "alice@example.social"\n'
        '\n[[groups."HK press".targets]]\nplatform = "rednote"\n'
        f'post = "https://www.xiaohongshu.com/explore/{NOTE}?xsec_token=AB"\n'
    )
    assert [t.key for t in load_watchlist(path).targets] == [first.key, second.key]
    assert second.group == "HK press"


def test_remove_last_target_of_group_leaves_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "watch.toml"
    path.write_text('# mine\n[groups.g]\ndescription = "d"\n\n' + _one(
        'platform = "rss"\nfeed = "https://x.org/f"'), encoding="utf-8")
    remove_target(path, "https://x.org/f")
    assert path.read_text(encoding="utf-8").startswith('# mine\n[groups.g]\ndescription = "d"\n')
    wl = load_watchlist(path)
    assert wl.targets == [] and wl.groups["g"]["description"] == "d"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"platform": "tiktokk", "kind": "account", "value": "x"},
         ["groups.journalists.targets[3].platform",
          "known platforms: bluesky, mastodon, reddit, rednote, rss"]),
        ({"platform": "rss", "kind": "account", "value": "x"}, ["rss has no account targets"]),
        ({"platform": "rss", "kind": "page", "value": "x"}, ["unknown target kind 'page'"]),
        ({"platform": "rss", "kind": "feed", "value": "https://x.org/f", "interval": "soon"},
         ["not a duration"]),
        ({"platform": "mastodon", "kind": "account", "value": "alice",
          "base_url": "https://example.social"},
         ["duplicate target mastodon:account:alice@example.social",
          "groups.journalists.targets[0]"]),
    ],
)
def test_add_validates_before_writing(
    tmp_path: Path, kwargs: dict[str, str], words: list[str]
) -> None:
    path = tmp_path / "watch.toml"
    path.write_text(VALID, encoding="utf-8")
    with pytest.raises(WatchlistError) as caught:
        add_target(path, "journalists", **kwargs)
    for word in words:
        assert word in str(caught.value)
    assert path.read_text(encoding="utf-8") == VALID
    assert os.listdir(tmp_path) == ["watch.toml"]


def test_add_refuses_to_edit_an_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "watch.toml"
    broken = _one('platform = "rss"\nfed = "https://x.org/f"')
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(WatchlistError, match="unknown key 'fed'"):
        add_target(path, "g", "rss", "feed", "https://y.org/f")
    assert path.read_text(encoding="utf-8") == broken


def test_crash_during_write_leaves_the_original(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "watch.toml"
    path.write_text(VALID, encoding="utf-8")

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(wl_module.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        add_target(path, "feeds", "rss", "feed", "https://y.org/f")
    assert path.read_text(encoding="utf-8") == VALID
    assert os.listdir(tmp_path) == ["watch.toml"]  # no temporary file left behind


def test_write_keeps_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "watch.toml"
    path.write_text(VALID, encoding="utf-8")
    path.chmod(0o640)
    add_target(path, "feeds", "rss", "feed", "https://y.org/f")
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize(
    ("wanted", "words"),
    [
        ("mastodon:account:alice@example.socal",
         ["no target has the key or value", "did you mean: mastodon:account:alice@example.social"]),
        ("nothing-like-it", ["no target has the key or value", "keys in the file:"]),
    ],
)
def test_remove_not_found_lists_close_matches(
    tmp_path: Path, wanted: str, words: list[str]
) -> None:
    path = tmp_path / "watch.toml"
    path.write_text(VALID, encoding="utf-8")
    with pytest.raises(WatchlistError) as caught:
        remove_target(path, wanted)
    for word in words:
        assert word in str(caught.value)
    assert path.read_text(encoding="utf-8") == VALID


def test_remove_ambiguous_value_asks_for_the_key(tmp_path: Path) -> None:
    path = tmp_path / "watch.toml"
    path.write_text(
        _one('platform = "rss"\nfeed = "https://x.org/f"')
        + _one('platform = "rss"\nfeed = "https://x.org/f"\nbase_url = "http://mirror.test"'),
        encoding="utf-8",
    )
    with pytest.raises(WatchlistError, match="matches 2 targets.*remove one by its key"):
        remove_target(path, "https://x.org/f")
    removed = remove_target(path, "rss:feed:https://x.org/f@http://mirror.test")
    assert removed.base_url == "http://mirror.test"
    assert [t.key for t in load_watchlist(path).targets] == ["rss:feed:https://x.org/f"]


def test_crlf_file_stays_crlf(tmp_path: Path) -> None:
    path = tmp_path / "watch.toml"
    original = _one('platform = "rss"\nfeed = "https://x.org/f"').replace("\n", "\r\n")
    path.write_bytes(original.encode())
    add_target(path, "g", "rss", "feed", "https://y.org/f")
    data = path.read_bytes()
    assert data.startswith(original.encode()) and b"\n" not in data.replace(b"\r\n", b"")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ('[groups.g]\ndescription = "d"  # keep\n',
         '[groups.g]\ndescription = "d"  # keep\n\n[[groups.g.targets]]\nplatform = "rss"\n'
         'feed = "https://y.org/f"\n'),
        ('[groups.g]\ntargets = [{platform = "rss", feed = "https://x.org/f"}]  # inline\n',
         '[groups.g]\ntargets = [{platform = "rss", feed = "https://x.org/f"}, '
         '{platform = "rss",feed = "https://y.org/f"}]  # inline\n'),
        ('# only a comment', '# only a comment\n\n[[groups.g.targets]]\nplatform = "rss"\n'
         'feed = "https://y.org/f"\n'),
    ],
    ids=["group without targets", "inline targets", "comment only"],
)
def test_add_fits_the_existing_layout(tmp_path: Path, before: str, after: str) -> None:
    path = tmp_path / "watch.toml"
    path.write_text(before, encoding="utf-8")
    add_target(path, "g", "rss", "feed", "https://y.org/f")
    assert path.read_text(encoding="utf-8") == after


def test_edit_tomlkit_cannot_place_is_refused_not_garbled(tmp_path: Path) -> None:
    path = tmp_path / "watch.toml"
    split = (  # valid TOML, but group a's tables are split around group b
        _one('platform = "rss"\nfeed = "https://a.org/1"').replace(".g.", ".a.")
        + '\n[groups.b]\ndescription = "b"\n\n'
        + _one('platform = "rss"\nfeed = "https://a.org/2"').replace(".g.", ".a.")
    )
    path.write_text(split, encoding="utf-8")
    assert len(load_watchlist(path).targets) == 2
    with pytest.raises(WatchlistError, match="edit it by hand"):
        remove_target(path, "https://a.org/2")
    assert path.read_text(encoding="utf-8") == split


# -- allow_hosts: the fetch policy's second hosts -------------------------------------


def test_allow_hosts_on_group_and_target_are_merged_and_normalised() -> None:
    wl = parse_watchlist("""
[groups.g]
allow_hosts = ["*.Example.org", "cdn.example.com."]
[[groups.g.targets]]
platform = "rss"
feed = "https://feeds.example.net/f.xml"
allow_hosts = ["cdn.example.com", "bücher.de"]
[[groups.g.targets]]
platform = "rss"
feed = "https://feeds.example.net/g.xml"
""")
    first, second = wl.targets
    assert first.allow_hosts == ("*.example.org", "cdn.example.com", "xn--bcher-kva.de")
    assert second.allow_hosts == ("*.example.org", "cdn.example.com")
    assert first.key == "rss:feed:https://feeds.example.net/f.xml"  # not part of the identity


@pytest.mark.parametrize(("value", "where", "shown"), [
    ('"cdn.example.org"', "targets[0].allow_hosts", "must be a list of host names"),
    ('["https://cdn.example.org/"]', "targets[0].allow_hosts[0]", "'https://cdn.example.org/'"),
    ('["cdn.example.org:8080"]', "targets[0].allow_hosts[0]", "no scheme, path or port"),
    ('["ok.example.org", "*"]', "targets[0].allow_hosts[1]", "'*' is not a host name"),
    ('["*.org"]', "targets[0].allow_hosts[0]", "is not a host name"),
    ('["a.*.example.org"]', "targets[0].allow_hosts[0]", "is not a host name"),
    ('[""]', "targets[0].allow_hosts[0]", "is not a host name"),
    ("[3]", "targets[0].allow_hosts[0]", "3 is not a host name"),
])
def test_bad_allow_hosts_name_the_entry_and_the_fix(value: str, where: str, shown: str) -> None:
    text = _one(f'platform = "rss"\nfeed = "https://x.org/f"\nallow_hosts = {value}')
    with pytest.raises(WatchlistError) as info:
        parse_watchlist(text, "w.toml")
    message = str(info.value)
    assert f"groups.g.{where}" in message and shown in message, message
    assert 'like allow_hosts = ["cdn.example.org", "*.example.org"]' in message


def test_bad_group_allow_hosts_is_reported_under_the_group() -> None:
    text = '[groups.g]\nallow_hosts = ["http://x"]\n' + _one(
        'platform = "rss"\nfeed = "https://x.org/f"').replace("[groups.g]\n", "")
    with pytest.raises(WatchlistError, match=r"groups\.g\.allow_hosts\[0\]"):
        parse_watchlist(text)
