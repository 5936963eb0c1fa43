"""Right causes (issue 8, items 1-3): who signed a tombstone and what it says, the
account state from when the post went missing, and the most specific notice.

Table-driven on the pure classifier, then through the state machine (no database)
where the mechanism lives in how a suspicion gathers its evidence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_lifecycle import GONE, NF, SUSPECT, World, at, listing, probe

from monitor.classify import NOTICE_SPECIFICITY, NOTICES, TOMBSTONE_SCOPE, classify_disappearance
from monitor.observation import Outcome
from monitor.platform import match_words
from monitor.platforms import PLATFORMS

ROOT = Path(__file__).resolve().parent.parent


def seen(outcome: str, status: int | None = None, at_minute: int = 0,
         **signals: object) -> dict[str, Any]:
    return {"outcome": outcome, "http_status": status, "message": None,
            "at": at(at_minute).isoformat(), "signals": signals}


def tombstone(by: str, comment: str | None = None) -> dict[str, Any]:
    return {"tombstone_by": by, "tombstone_comment": comment, "author": "Sam Writer"}


# --- 1. a tombstone's signer and comment ---------------------------------------

TOMBSTONES = [
    # (signer, comment, cause, detail)
    ("Sam Writer", None, "deleted_by_author", None),
    ("sam writer ", "Typo, reposted.", "deleted_by_author", None),
    # The case: staff signer, legal comment.
    ("Trust & Safety", "Removed following a legal complaint", "removed_by_platform", "legal"),
    ("Trust and Safety team", None, "removed_by_platform", None),
    ("Trust & Safety", "Removed: DMCA takedown notice", "removed_by_platform", "copyright"),
    ("Trust & Safety", "Spam.", "removed_by_platform", "spam"),
    ("Legal Department", "Withheld pursuant to a court order.", "removed_by_platform", "legal"),
    ("Site staff", "This post violated our community guidelines.", "removed_by_platform",
     "policy"),
    # The comment's words decide when the signer is neither author nor named staff.
    ("Editor", "Removed following a legal complaint", "removed_by_platform", "legal"),
    ("Editor", "Copyright infringement", "removed_by_platform", "copyright"),
    ("Editor", "Withdrawn at the author's request.", "deleted_by_author", None),
    # A named moderator stays a moderator, whatever the comment says.
    ("Moderator Jane", "Removed following a legal complaint", "removed_by_moderator", None),
    ("The moderation team", "spam", "removed_by_moderator", None),
    ("Jane (mods)", None, "removed_by_moderator", None),
    # No words matched: the platform's default remover, as before.
    ("Editor", "Removed at the request of the subject.", "removed_by_moderator", None),
    ("Site Editor", None, "removed_by_moderator", None),
    # Words inside other words are no match.
    ("Chief Legalese Officer", "spammy-looking? no: courtesy", "removed_by_moderator", None),
]


@pytest.mark.parametrize(("by", "comment", "cause", "detail"), TOMBSTONES)
def test_a_tombstone_is_decided_by_its_signer_and_its_comment(
        by: str, comment: str | None, cause: str, detail: str | None) -> None:
    verdict = classify_disappearance("rss", [seen("gone", 410)], tombstone(by, comment))
    assert (verdict.cause, verdict.detail, verdict.candidates) == (cause, detail, [])
    if cause != "deleted_by_author" and (detail or "mod" in by.lower()):
        assert "rss.tombstone." in verdict.reason  # the deciding fingerprint is named


def test_the_classifier_knows_no_feed_wording() -> None:
    # The words are the RSS platform's data: another platform's tombstone with the
    # same words but no table of its own falls back to its default remover.
    verdict = classify_disappearance("mastodon", [seen("not_found", 404)],
                                     tombstone("Trust & Safety", "legal complaint"))
    assert (verdict.cause, verdict.detail) == ("removed_by_moderator", None)
    source = (ROOT / "monitor" / "classify.py").read_text(encoding="utf-8").lower()
    for word in ("trust", "dmca", "copyright infring", "court"):
        assert word not in source


def test_a_tombstone_without_an_author_known_is_decided_only_by_words() -> None:
    ctx = {"tombstone_by": "Trust & Safety", "tombstone_comment": "legal complaint"}
    verdict = classify_disappearance("rss", [seen("gone", 410)], ctx)
    assert (verdict.cause, verdict.detail) == ("removed_by_platform", "legal")
    verdict = classify_disappearance("rss", [seen("gone", 410)], {"tombstone_by": "Editor"})
    assert verdict.cause == "ambiguous"


def test_rss_tombstone_rules_read_the_tombstone_scope_and_are_linear() -> None:
    words = PLATFORMS["rss"].words
    assert words and all(r.scope == TOMBSTONE_SCOPE and r.outcome == "tombstone"
                         for r in words)
    hostile = "trust " * 20_000 + "x"
    assert match_words(words, {TOMBSTONE_SCOPE: hostile}) is None


# --- 2. the account state from when the post went missing ----------------------

ACCOUNT_CASES = [
    # (probes, context, cause, candidates, later state)
    # The case: deleted by the author, the account suspended seconds later.
    ([seen("not_found", 404, 2, account_state="normal"),
      seen("not_found", 404, 7, account_state="suspended_temporary")], {},
     "ambiguous", ["deleted_by_author", "removed_by_moderator"], "suspended_temporary"),
    # Suspended when it went missing: the suspension decides.
    ([seen("not_found", 404, 2, account_state="suspended_temporary"),
      seen("not_found", 404, 7, account_state="suspended_temporary")], {},
     "account_suspended", [], None),
    # A later, more specific reading refines a suspension already seen.
    ([seen("not_found", 404, 2, account_state="suspended"),
      seen("not_found", 404, 7, account_state="suspended_temporary")], {},
     "account_suspended", [], None),
    # The listing read the suspension before the first probe: it decides.
    ([seen("not_found", 404, 2), seen("not_found", 404, 7)], {"account_state": "suspended"},
     "ambiguous", ["account_deleted", "account_suspended"], None),
    # The first probe's account check failed: the first complete probe stands for it.
    ([seen("not_found", 404, 2, followup_failed=True),
      seen("not_found", 404, 5, account_state="normal"),
      seen("not_found", 404, 9, account_state="suspended_temporary")], {},
     "ambiguous", ["deleted_by_author", "removed_by_moderator"], "suspended_temporary"),
    # A listing's later reading, kept apart by the lifecycle, never decides.
    ([seen("not_found", 404, 2, account_state="normal"), seen("not_found", 404, 7)],
     {"account_state_later": {"state": "suspended", "at": at(4).isoformat(),
                              "via": "listing"}},
     "ambiguous", ["deleted_by_author", "removed_by_moderator"], "suspended"),
]


@pytest.mark.parametrize(("probes", "context", "cause", "candidates", "later"), ACCOUNT_CASES)
def test_the_account_state_is_the_one_seen_when_the_post_went_missing(
        probes: list[dict[str, Any]], context: dict[str, Any], cause: str,
        candidates: list[str], later: str | None) -> None:
    verdict = classify_disappearance("mastodon", probes, context)
    assert (verdict.cause, verdict.candidates) == (cause, candidates)
    fact = verdict.evidence.get("later_account_state")
    assert (fact or {}).get("state") == later
    if fact:
        assert fact["at"] > probes[0]["at"]


def test_a_suspension_read_by_the_listing_after_the_absence_is_its_own_fact() -> None:
    world = World()
    world.feed(listing(0))
    world.feed(probe(2, "2", NF, signals={"account_state": "normal"}))
    assert world.posts["2"].state is SUSPECT
    # The author deleted the post; the account is suspended a moment later.
    world.feed(listing(3, "", signals={"account_state": "suspended", "listing_end": True}))
    context = world.posts["2"].suspicion.context  # type: ignore[union-attr]
    assert "account_state" not in context
    assert context["account_state_later"] == {"state": "suspended", "at": at(3).isoformat(),
                                              "via": "listing"}
    [event] = world.feed(probe(7, "2", NF, signals={"account_state": "suspended"}))
    assert world.posts["2"].state is GONE
    assert (event.kind, event.cause) == ("disappeared", "ambiguous")
    assert event.candidates == ["deleted_by_author", "removed_by_moderator"]
    assert event.evidence["later_account_state"]["state"] == "suspended"
    # The account's other posts went with the suspension: that is the account's fact.
    assert world.posts["1"].suspicion is not None
    assert world.posts["1"].suspicion.context["account_state"] == "suspended"


def test_a_suspension_the_listing_saw_first_decides_the_cause() -> None:
    world = World()
    world.feed(listing(0))
    world.feed(listing(3, "", signals={"account_state": "suspended"}))
    world.feed(probe(3, "2", NF, signals={"account_state": "suspended_temporary"}))
    [event] = world.feed(probe(8, "2", NF, signals={"account_state": "suspended_temporary"}))
    assert (event.cause, event.candidates) == ("account_suspended", [])
    assert "later_account_state" not in event.evidence


# --- 3. the most specific notice decides ---------------------------------------

NOTICE_CASES = [
    # The case: two violation notices, then a generic page.
    ([seen("unavailable", 200, 0, notice="removed_violation"),
      seen("unavailable", 200, 5, notice="removed_violation"),
      seen("unavailable", 200, 9, notice="unavailable_generic")],
     "removed_by_platform", "policy", []),
    ([seen("unavailable", 200, 0, notice="removed_violation"),
      seen("unavailable", 200, 5, notice="deleted")], "removed_by_platform", "policy", []),
    ([seen("unavailable", 200, 0, notice="private"),
      seen("unavailable", 200, 5, notice="not_found")], "hidden_by_author", None, []),
    # Later wins among equals; a more specific later one wins too.
    ([seen("unavailable", 200, 0, notice="unavailable_generic"),
      seen("unavailable", 200, 5, notice="removed_violation")],
     "removed_by_platform", "policy", []),
    ([seen("unavailable", 200, 0, notice="deleted_by_author"),
      seen("unavailable", 200, 5, notice="private")], "hidden_by_author", None, []),
    # A specific notice then a bare 404: the notice still decides.
    ([seen("unavailable", 200, 0, notice="removed_copyright"), seen("not_found", 404, 5)],
     "removed_by_platform", "copyright", []),
    # A 451 is a legal notice, not overridden by a later 404.
    ([seen("legal", 451, 0), seen("not_found", 404, 5)], "removed_by_platform", "legal", []),
    # A notice on a non-unavailable answer is no notice.
    ([seen("not_found", 404, 0, notice="removed_spam"), seen("not_found", 404, 5)],
     "ambiguous", None, ["deleted_by_author", "removed_by_platform"]),
]


@pytest.mark.parametrize(("probes", "cause", "detail", "candidates"), NOTICE_CASES)
def test_the_most_specific_notice_of_the_suspicion_decides(
        probes: list[dict[str, Any]], cause: str, detail: str | None,
        candidates: list[str]) -> None:
    verdict = classify_disappearance("rednote", probes, {})
    assert (verdict.cause, verdict.detail, verdict.candidates) == (cause, detail, candidates)


def test_the_specificity_order_covers_every_notice_and_ranks_as_documented() -> None:
    assert set(NOTICE_SPECIFICITY) == set(NOTICES)
    rank = NOTICE_SPECIFICITY
    assert rank["unavailable_generic"] == rank["not_found"] < rank["deleted"]
    assert rank["deleted"] < rank["removed_by_platform"] < rank["removed_violation"]
    assert {rank[n] for n in ("removed_legal", "removed_copyright", "removed_spam")} == {4}
    assert rank["deleted_by_author"] < rank["removed_by_moderator"] == rank["removed_by_platform"]


def test_notices_through_the_state_machine() -> None:
    world = World(platform="rednote")
    first = listing(0, platform="rednote")
    for e in first.entries or []:  # RedNote probes use the listing's token (monitor.tokens)
        e.extra["xsec_token"] = "tok"
    world.feed(first)
    events = []
    for minute, notice in ((2, "removed_violation"), (4, "removed_violation"), (6, None),
                           (7, "unavailable_generic")):
        if notice is None:  # the listing read since the suspicion began, without the post
            world.feed(listing(minute, "31", platform="rednote"))
            continue
        events = world.feed(probe(minute, "2", Outcome.UNAVAILABLE, platform="rednote",
                                  http_status=200, signals={"notice": notice}))
    [event] = events
    assert (event.kind, event.cause, event.cause_detail) == ("disappeared",
                                                             "removed_by_platform", "policy")
