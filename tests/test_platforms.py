"""The platform plug-in contract: the registry, third-party platforms, the words tables."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor import platforms
from monitor.classify import ACCOUNT_STATES, NOTICES, classify_disappearance
from monitor.errors import PlatformLoadError, UnknownPlatform, WatchlistError
from monitor.events import CAUSES
from monitor.observation import Outcome
from monitor.platform import MATCH_TYPES, Kind, Platform, Rule, match_words, scope_problem
from monitor.watchlist import parse_watchlist
from spiders.cli import cli

BUILT_INS = ("bluesky", "mastodon", "reddit", "rednote", "rss", "telegram", "tiktok", "webpage",
             "weibo", "x", "youtube")

#: A third-party platform, as its own package would declare it.
PLUGIN = '''
from monitor.platform import Kind, Platform, Rule

def check_page(value, has_base_url):
    if not value.startswith("https://") or "#" not in value:
        raise ValueError(f"{value!r} is not a page; write it as https://host/path#css-selector")
    return value, "https://" + value[8:].split("/", 1)[0]

def page_identity(value, base_url):
    return value.lower(), None

PLATFORM = Platform(
    name="webthing",
    title="A web thing",
    aliases=("wt",),
    kinds={"post": Kind("post", check=check_page, identity=page_identity,
                        post_ref=lambda url, base: (url.lower(), url)),
           "site": Kind("site")},
    spider="webthing_plugin.NoSpider",
    remover="removed_by_moderator",
    words=(Rule("status", "410", "gone"),),
)
'''


def install_plugin(root: Path, module: str, source: str, entry: str, name: str = "webthing"
                   ) -> None:
    """A real installed distribution: a module and its ``*.dist-info`` with entry points."""
    (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text(
        f"[{platforms.ENTRY_POINT_GROUP}]\n{name} = {entry}\n", encoding="utf-8")


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path for plug-ins; the registry is read again before and after."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    monkeypatch.undo()
    for module in [m for m in sys.modules if m.startswith(("webthing_plugin", "broken_"))]:
        del sys.modules[module]
    platforms.reload_platforms()


@pytest.fixture
def webthing(plugin_path: Path) -> Platform:
    install_plugin(plugin_path, "webthing_plugin", PLUGIN, "webthing_plugin:PLATFORM")
    platforms.reload_platforms()
    return platforms.get_platform("webthing")


# --- the registry --------------------------------------------------------------------


def test_every_built_in_comes_from_the_entry_point_group() -> None:
    eps = {ep.name: ep for ep in entry_points(group=platforms.ENTRY_POINT_GROUP)}
    assert set(BUILT_INS) <= set(eps)
    for name in BUILT_INS:
        assert platforms.PLATFORMS[name] is eps[name].load()
        assert eps[name].value == f"spiders.{name}.platform:PLATFORM"


def test_the_registry_holds_only_what_the_entry_points_declare() -> None:
    """No hand-kept list: a registry read from no entry points is empty."""
    reg = platforms.load_registry([])
    assert reg.platforms == {} and reg.aliases == {}


def test_declarations_do_not_import_scrapy() -> None:
    code = ("import sys, monitor.platforms as p, monitor.watchlist, monitor.diff; "
            "p.registry(); "
            f"assert sorted(p.PLATFORMS) == {sorted(BUILT_INS)!r}, "
            "sorted(p.PLATFORMS); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('scrapy', 'twisted')]; "
            "assert not bad, bad")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, check=False)
    assert done.returncode == 0, done.stderr


def test_aliases_and_did_you_mean() -> None:
    assert platforms.get_platform("XHS").name == "rednote"
    assert platforms.get_platform(" atom ").name == "rss"
    with pytest.raises(UnknownPlatform, match="did you mean 'mastodon'"):
        platforms.get_platform("mastodn")


def test_each_spider_is_found_through_the_registry() -> None:
    from spiders.crawl import SPIDERS, spider_class

    assert sorted(SPIDERS) == sorted(platforms.PLATFORMS)
    for name in BUILT_INS:
        assert SPIDERS[name].platform == name
        assert spider_class(name).__module__ == f"spiders.{name}.spider"


# --- a third-party platform ------------------------------------------------------------


def test_a_third_party_platform_is_listed(webthing: Platform) -> None:
    result = CliRunner().invoke(cli, ["platforms"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    cards = {card.split(":")[0]: card for card in result.output.split("\n\n")}
    assert set(cards) == {*BUILT_INS, "webthing"}
    assert cards["webthing"].startswith("webthing: A web thing\n")
    assert re.search(r"\n  kinds +post \(single post\), site\n", cards["webthing"])
    assert re.search(r"\n  aliases +wt\n", cards["webthing"])
    assert re.search(r"\n  fingerprints +1\n", cards["webthing"])
    # its spider cannot be loaded: shown as broken, the others listed all the same
    assert re.search(r"\n  spider +broken: platform plug-in 'webthing \(spider "
                     r"webthing_plugin.NoSpider\)'.*named 'NoSpider'", cards["webthing"])
    assert "probe_batch" not in cards["webthing"] and "probe_batch" in cards["rss"]
    assert re.search(r"\n  aliases +xhs, xiaohongshu\n", cards["rednote"])


def test_a_third_party_platform_is_validated_in_a_watchlist(webthing: Platform) -> None:
    wl = parse_watchlist(textwrap.dedent('''
        [groups.g]
        [[groups.g.targets]]
        platform = "wt"
        post = "https://Example.org/News#main"
        [[groups.g.targets]]
        platform = "webthing"
        site = "https://example.org/"
    '''))
    target, site = wl.targets
    assert (target.platform, target.kind, target.base_url) == (
        "webthing", "post", "https://Example.org")
    assert target.key == "webthing:post:https://example.org/news#main@https://Example.org"
    assert site.key == "webthing:site:https://example.org/"  # a kind the core did not know
    assert platforms.post_ref("webthing", target.value, None) == (
        "https://example.org/news#main", "https://Example.org/News#main")

    with pytest.raises(WatchlistError, match=r"write it as https://host/path#css-selector") as bad:
        parse_watchlist('[groups.g]\n[[groups.g.targets]]\nplatform = "webthing"\n'
                        'post = "https://example.org/no-selector"\n')
    assert "groups.g.targets[0].post" in str(bad.value)
    with pytest.raises(WatchlistError, match=r"has no feed targets; use one of: post, site"):
        parse_watchlist('[groups.g]\n[[groups.g.targets]]\nplatform = "webthing"\n'
                        'feed = "https://example.org/feed"\n')


def test_the_cli_adds_a_third_party_target_with_its_kind(webthing: Platform,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    result = CliRunner().invoke(cli, ["watch", "add", "webthing", "https://a.org/x#y"],
                                env={"TAKEDOWN_WATCHLIST": str(path)}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "webthing:post:https://a.org/x#y" in result.output
    assert 'post = "https://a.org/x#y"' in path.read_text(encoding="utf-8")


def test_a_third_party_platforms_remover_is_used(webthing: Platform) -> None:
    verdict = classify_disappearance("webthing", [{"outcome": "not_found", "status": 404}])
    assert "removed_by_moderator" in verdict.candidates


def test_kinds_are_guessed_from_each_platforms_own_checks(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.toml"
    for platform, value, kind in [("rss", "https://a.org/feed.xml", "feed"),
                                  ("mastodon", "https://a.social/@al/1", "post"),
                                  ("mastodon", "al@a.social", "account"),
                                  ("xhs", "66a1b2c3000000000d00e1f2", "account"),
                                  ("rednote", "https://www.xiaohongshu.com/explore/"
                                              "66a1b2c3000000000d00e1f2", "post")]:
        result = CliRunner().invoke(cli, ["watch", "add", platform, value],
                                    env={"TAKEDOWN_WATCHLIST": str(path)},
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert f":{kind}:" in result.output, (platform, value, result.output)


# --- broken plug-ins ----------------------------------------------------------------------


@pytest.mark.parametrize(("source", "entry", "why"), [
    ("raise ImportError('needs libfoo')\n", "broken_import:PLATFORM", "ImportError: needs libfoo"),
    ("PLATFORM = 'not a platform'\n", "broken_type:PLATFORM", "not a monitor.platform.Platform"),
    (PLUGIN, "broken_name:PLATFORM", "declares platform 'webthing'"),
])
def test_a_broken_entry_point_is_a_clear_error_not_a_crash(
        plugin_path: Path, source: str, entry: str, why: str,
        caplog: pytest.LogCaptureFixture) -> None:
    install_plugin(plugin_path, entry.split(":")[0], source, entry, name="broken")
    reg = platforms.reload_platforms()
    assert sorted(reg.platforms) == list(BUILT_INS)  # the others still load
    with pytest.raises(PlatformLoadError) as exc:
        platforms.get_platform("broken")
    assert f"'broken = {entry}'" in str(exc.value) and why in str(exc.value)
    assert "fix or uninstall" in str(exc.value)
    assert any(why in r.getMessage() for r in caplog.records)
    result = CliRunner().invoke(cli, ["platforms"], catch_exceptions=False)
    assert result.exit_code == 0
    assert f"broken: platform plug-in 'broken = {entry}'" in result.stderr
    problems = pytest.raises(WatchlistError, parse_watchlist,
                             '[groups.g]\n[[groups.g.targets]]\nplatform = "broken"\n'
                             'feed = "https://example.org/feed"\n')
    assert why in str(problems.value)


def test_a_platform_whose_spider_cannot_load_is_a_clear_error(plugin_path: Path) -> None:
    from spiders.crawl import spider_class

    install_plugin(plugin_path, "webthing_plugin", PLUGIN, "webthing_plugin:PLATFORM")
    platforms.reload_platforms()
    with pytest.raises(PlatformLoadError, match=r"webthing \(spider webthing_plugin.NoSpider\)"):
        spider_class("webthing")


# --- words tables -------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILT_INS)
def test_each_built_in_declaration_is_well_formed(name: str) -> None:
    p = platforms.PLATFORMS[name]
    assert p.remover in CAUSES
    assert p.title and p.spider.startswith(f"spiders.{name}.")
    for kind_name, kind in p.kinds.items():
        assert isinstance(kind, Kind) and kind.name == kind_name and kind.example
    assert "post" in p.kinds and p.kinds["post"].post_ref is not None
    outcomes = {o.value for o in Outcome}
    for rule in p.words:
        assert rule.outcome in outcomes, rule
        assert rule.notice is None or rule.notice in NOTICES, rule
        assert rule.match in MATCH_TYPES, rule
        assert scope_problem(rule.scope) is None, (rule, scope_problem(rule.scope))
        assert rule.account_state is None or rule.account_state in ACCOUNT_STATES, rule
        assert rule.notice or rule.account_state or rule.outcome != "unavailable", rule
        if rule.match == "regex":
            re.compile(rule.pattern)


def test_mastodon_words_say_what_became_of_the_account() -> None:
    words = platforms.PLATFORMS["mastodon"].words
    assert {(r.scope, r.pattern): r.account_state for r in words} == {
        ("account_status", "404"): "deleted", ("account_status", "410"): "suspended",
        ("profile_status", "403"): "suspended_temporary",
        ("profile_status", "410"): "suspended_permanent"}
    assert match_words(words, {"account_status": 403}) is None


def test_rednote_words_are_a_table() -> None:
    words = platforms.PLATFORMS["rednote"].words
    assert len(words) > 20
    hit = match_words(words, {"page_text": ["你访问的页面不见了", "该内容因违规已被删除"]})
    assert hit is not None and (hit.rule.notice, hit.text) == ("removed_violation",
                                                                "该内容因违规已被删除")


def test_match_words_types_and_precedence() -> None:
    rules = (Rule("status", "403", "anti_bot"),
             Rule("page_text", "blocked", "anti_bot", match="prefix"),
             Rule("error_code", "7", "unavailable", "deleted"),
             Rule("page_text", "removed", "unavailable", "removed_violation", match="contains"),
             Rule("page_text", r"gone \d+", "unavailable", "not_found", match="regex"))
    assert match_words(rules, {"status": 403}).rule is rules[0]  # type: ignore[union-attr]
    assert match_words(rules, {"status": "4030"}) is None  # equal means equal
    said = {"page_text": ["was removed", "blocked here"], "error_code": "7"}
    assert match_words(rules, said).rule is rules[1]  # type: ignore[union-attr]  # table order
    assert match_words(rules, {"page_text": ["not blocked"]}) is None  # prefix
    assert match_words(rules, {"page_text": "gone 12"}).rule is rules[4]  # type: ignore[union-attr]
    assert match_words(rules, {"page_text": None, "error_code": None}) is None
    with pytest.raises(ValueError, match="match type 'fuzzy'"):
        Rule("page_text", "x", "ok", match="fuzzy").matches("x")  # type: ignore[arg-type]


def test_the_rednote_note_id_is_read_once() -> None:
    """post_ref, the watchlist key and the spider agree on one note id."""
    from spiders.rednote.platform import note_id

    url = "https://www.xiaohongshu.com/discovery/item/66A1B2C3000000000D00E1F2?xsec_token=t"
    assert note_id(url) == "66A1B2C3000000000D00E1F2"
    assert platforms.post_ref("rednote", url, None)[0] == "66A1B2C3000000000D00E1F2"
    wl = parse_watchlist(f'[groups.g]\n[[groups.g.targets]]\nplatform = "xhs"\npost = "{url}"\n')
    assert wl.targets[0].key == "rednote:post:66a1b2c3000000000d00e1f2"
    with pytest.raises(ValueError, match="not a RedNote note URL"):
        platforms.post_ref("rednote", "https://www.xiaohongshu.com/explore/xyz", None)


def test_a_web_page_target_is_a_url_and_a_css_selector() -> None:
    wl = parse_watchlist('[groups.g]\n[[groups.g.targets]]\nplatform = "web"\n'
                         'post = "https://Example.org/notice#css=main .article"\n')
    (target,) = wl.targets
    assert target.key == "webpage:post:https://example.org/notice#css=main .article"
    assert platforms.post_ref("webpage", target.value, None) == (
        "https://example.org/notice#css=main .article",
        "https://Example.org/notice#css=main .article")
    for value, why in [("https://example.org/notice", "names no CSS selector"),
                       ("https://example.org/notice#css=main >", "is not a CSS selector"),
                       ("example.org/notice#css=main", r"not an http\(s\) URL")]:
        with pytest.raises(WatchlistError, match=why):
            parse_watchlist('[groups.g]\n[[groups.g.targets]]\nplatform = "webpage"\n'
                            f'post = "{value}"\n')
