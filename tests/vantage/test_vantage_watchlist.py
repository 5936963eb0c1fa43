"""Vantage points in the watchlist, in the targets table and in the claims."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from geo_support import DE, T0, US, WITHHELD, StoredWorld, at

from monitor.claims import pending_key, take_pending
from monitor.db import Database, claims
from monitor.errors import WatchlistError
from monitor.geo import fan_out
from monitor.observation import Observation, Outcome, WorkItem
from monitor.vantage import Vantage, redact, resolve
from monitor.watchlist import parse_watchlist

SECRET = "hunter2"
FILE = f"""
[vantages.de]
proxy = "socks5://alice:{SECRET}@127.0.0.1:1080"
country = "de"
label = "residential line, Berlin"
[vantages.us]
proxy = "http://127.0.0.1:3128"
country = "US"

[groups.press]
vantages = ["de", "us"]
[[groups.press.targets]]
platform = "rss"
feed = "https://example.org/feed.xml"
[[groups.press.targets]]
platform = "rss"
feed = "https://example.org/other.xml"
vantages = ["us"]

[groups.plain]
[[groups.plain.targets]]
platform = "rss"
feed = "https://example.org/plain.xml"
"""


def problems(text: str) -> str:
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist(text)
    return str(caught.value)


def test_vantage_points_are_read_and_inherited_from_the_group() -> None:
    wl = parse_watchlist(FILE)
    assert wl.vantages["de"] == Vantage("de", "DE", f"socks5://alice:{SECRET}@127.0.0.1:1080",
                                        "residential line, Berlin")
    by_feed = {t.value: t.vantages for t in wl.targets}
    assert [v.name for v in by_feed["https://example.org/feed.xml"]] == ["de", "us"]
    assert [v.name for v in by_feed["https://example.org/other.xml"]] == ["us"]
    assert by_feed["https://example.org/plain.xml"] == ()


def test_credentials_never_show_in_repr_or_redacted_urls() -> None:
    wl = parse_watchlist(FILE)
    assert SECRET not in repr(wl.vantages["de"]) and SECRET not in repr(wl.targets)
    assert wl.vantages["de"].shown_proxy == "socks5://***@127.0.0.1:1080"
    assert redact("http://[::1]:8080") == "http://[::1]:8080"
    assert redact("not a url") == "***"
    assert redact("http://u:p@host:99999") == "***"  # a bad port: hidden whole


@pytest.mark.parametrize("change, where, says", [
    ('vantages = ["us"]', "groups.press.targets[1].vantages",
     "unknown vantage point 'uss'; did you mean 'us'?"),
    ('country = "US"', "vantages.us.country", "not a two-letter ISO 3166-1 country code"),
    ('proxy = "http://127.0.0.1:3128"', "vantages.us.proxy", "lacks a host or port"),
    ('label = "residential line, Berlin"', "vantages.de.lable", "did you mean 'label'?"),
])
def test_mistakes_are_reported_under_their_key(change: str, where: str, says: str) -> None:
    broken = {
        'vantages = ["us"]': 'vantages = ["uss"]',
        'country = "US"': 'country = "USA"',
        'proxy = "http://127.0.0.1:3128"': 'proxy = "http://127.0.0.1"',
        'label = "residential line, Berlin"': 'lable = "residential line, Berlin"',
    }[change]
    message = problems(FILE.replace(change, broken))
    assert f"{where}: " in message and says in message


def test_a_bad_proxy_is_refused_without_repeating_its_password() -> None:
    message = problems(FILE.replace("socks5://alice", "ftp://alice"))
    assert "vantages.de.proxy" in message and "scheme 'ftp'" in message
    assert SECRET not in message
    message = problems(FILE.replace("@127.0.0.1:1080", "@127.0.0.1:1080/path"))
    assert "has a path" in message and SECRET not in message


def test_a_vantage_point_without_proxy_or_country_is_incomplete() -> None:
    message = problems(FILE.replace('proxy = "http://127.0.0.1:3128"\ncountry = "US"\n', ""))
    assert "vantages.us.proxy: missing" in message
    assert "vantages.us.country" in message


def test_naming_vantage_points_that_no_table_defines() -> None:
    text = FILE[FILE.index("[groups.press]"):]
    message = problems(text)
    assert "groups.press.vantages: unknown vantage point 'de'" in message
    assert "define it as [vantages.de]" in message
    assert "must be a non-empty list" in problems(FILE.replace('vantages = ["us"]',
                                                                "vantages = []"))
    assert "not a usable vantage point name" in problems(
        FILE.replace("[vantages.us]", '["vantages"."u s"]').replace('["us"]', '["u s"]'))


def test_fan_out_rules() -> None:
    assert fan_out(None, "suspect", None) == [None]
    assert [v.name for v in fan_out(["de", "us"], None, None) if v] == ["de"]
    assert [v.name for v in fan_out(["de", "us"], "visible", None) if v] == ["de"]
    assert [v.name for v in fan_out(["de", "us"], "suspect", None) if v] == ["de", "us"]
    assert [v.name for v in fan_out(["de", "us"], "hidden", "geo_blocked") if v] == ["de", "us"]
    assert [v.name for v in fan_out(["de", "us"], "hidden", "hidden_from_feed") if v] == ["de"]
    assert [v.name for v in fan_out(["de"], "suspect", None) if v] == ["de"]


def test_the_claims_fan_a_suspect_post_out_to_every_vantage_point(db: Database) -> None:
    world = StoredWorld(db)
    known = {"de": DE, "us": US}
    with db.transaction() as conn:
        stored = conn.execute("SELECT vantages FROM targets").fetchone()
        listing = claims.claim_due(conn, T0, 10, 600, vantages=known)
    assert stored is not None and stored["vantages"] == ["de", "us"]
    assert [(i.mode, i.vantage) for i in listing] == [("listing", DE)]  # the home only
    world.listing(at(0), ["1", "2"])
    world.probes("1", at(1), {"de": WITHHELD})  # post 1 suspect, post 2 visible
    with db.transaction() as conn:
        items = claims.claim_due(conn, at(60 * 24), 10, 600, vantages=known)
    probes = sorted((i.post_key or "", i.vantage.name if i.vantage else "") for i in items
                    if i.mode == "probe")
    assert probes == [("1", "de"), ("1", "us"), ("2", "de")]
    assert all(i.vantage in (DE, US) for i in items)  # with the proxy, for the spider
    assert all("geo" not in i.known for i in items)


def test_a_claim_naming_an_unknown_vantage_point_is_not_fetched(db: Database) -> None:
    StoredWorld(db)
    with db.transaction() as conn:
        assert claims.claim_due(conn, T0, 10, 600, vantages={"us": US}) == []
        lease = conn.execute("SELECT lease_until FROM targets").fetchone()
    assert lease is not None and lease["lease_until"] is None  # given back at once
    with db.transaction() as conn:  # without a map: the names alone
        items = claims.claim_due(conn, T0, 10, 600)
    assert [i.vantage for i in items] == [Vantage("de")]


def test_a_target_without_vantage_points_is_claimed_as_before(db: Database) -> None:
    StoredWorld(db, vantages=())
    with db.transaction() as conn:
        assert conn.execute("SELECT vantages FROM targets").fetchone() == {"vantages": None}
        items = claims.claim_due(conn, T0, 10, 600, vantages={"de": DE})
    assert [(i.mode, i.vantage) for i in items] == [("listing", None)]


def test_resolve_and_pending_keep_one_item_per_vantage_point() -> None:
    base = WorkItem(mode="probe", platform="rss", target_key="t", url="https://e.org/1",
                    row_id=7)
    claimed = [dataclasses.replace(base, vantage=Vantage(n)) for n in ("de", "us", "xx")]
    kept, unknown = resolve(claimed, {"de": DE, "us": US})
    assert [i.vantage for i in kept] == [DE, US] and [i.vantage for i in unknown] == [
        Vantage("xx")]
    pending = {pending_key(i): i for i in kept}
    assert len(pending) == 2
    answer = Observation(mode="probe", platform="rss", target_key="t", url=base.url,
                         outcome=Outcome.OK, row_id=7, vantage="us",
                         observed_at=T0 + timedelta(seconds=1))
    assert take_pending(pending, answer) is kept[1]
    assert take_pending(pending, answer) is None and len(pending) == 1
    direct = {pending_key(base): base}  # no vantage: the observation says "local"
    answer.vantage = "local"
    assert take_pending(direct, answer) is base
