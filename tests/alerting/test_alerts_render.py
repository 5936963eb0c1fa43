"""Rendering: Chinese, emoji and right-to-left text survive; evidence and lifetime show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alerts_world import AR, EMOJI, HE, ZH

from alerts import render

T0 = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)


def view(kind: str = "disappeared", text: str = ZH, **kw: Any) -> dict[str, Any]:
    v: dict[str, Any] = {
        "id": 7, "kind": kind, "cause": "removed_by_platform", "cause_detail": "legal",
        "candidates": [], "platform": "mastodon", "group_name": "journalists",
        "post_key": "109", "target": "alice@ex.social", "author": "alice@ex.social",
        "url": "https://ex.social/@alice/109", "published_at": T0 - timedelta(minutes=14),
        "first_seen_gone": T0, "last_seen_visible": T0 - timedelta(minutes=2),
        "detected_at": T0 + timedelta(minutes=6), "edit": None, "burst_id": None,
        "content": {"title": "", "text": text},
        "evidence": {"observed": {"at": (T0 + timedelta(minutes=6)).isoformat(),
                                  "url": "https://ex.social/api/v1/statuses/109",
                                  "vantage": "hk-1", "http_status": 451,
                                  "outcome": "removed", "message": "Unavailable for legal reasons",
                                  "body_hash": "9f" * 32},
                     "reason": "HTTP 451 with the platform's legal notice",
                     "suspicion": {"probes": [{"at": T0.isoformat()},
                                              {"at": (T0 + timedelta(minutes=6)).isoformat()}]}},
    }
    v.update(kw)
    return v


@pytest.mark.parametrize("fmt", ["markdown", "text"])
@pytest.mark.parametrize("text", [ZH, EMOJI, AR, HE])
def test_event_message_keeps_the_text_and_the_evidence(fmt: str, text: str) -> None:
    m = render.render_event(view(text=text), fmt)
    assert m.format == fmt
    body = m.body
    plain = body.replace("\\", "")  # Markdown escapes
    assert text in plain.replace("\u2068", "").replace("\u2069", "")
    for fact in ("HTTP 451", "Unavailable for legal reasons", "9f" * 32, "vantage hk-1",
                 "removed by the platform (legal)", "gone 14 min after posting",
                 "https://ex.social/@alice/109", "confirmed by 2 probes",
                 "2026-08-01 12:06:00 UTC"):
        assert fact in plain, fact
    assert m.title.startswith("Post disappeared: alice@ex.social on mastodon")


def test_right_to_left_text_is_isolated_from_the_labels() -> None:
    body = render.render_event(view(text=AR), "text").body
    assert f"\u2068{AR}\u2069" in body
    assert "\u2068" not in render.render_event(view(text=ZH), "text").body


def test_markdown_in_the_post_is_escaped_not_interpreted() -> None:
    text = "# not a heading\n**not bold** [link](http://x) #tag <b>"
    body = render.render_event(view(text=text), "markdown").body
    assert "> \\# not a heading\n> \\*\\*not bold\\*\\* \\[link\\](http://x) #tag \\<b>" in body


def test_long_text_is_cut_by_characters_not_bytes() -> None:
    text = "删" * 5000
    body = render.render_event(view(text=text), "text").body
    assert "删" * render.MAX_TEXT + " …" in body
    assert "删" * (render.MAX_TEXT + 1) not in body


@pytest.mark.parametrize(("cause", "published", "gone", "expected"), [
    ("deleted_by_author", 14, 0, "deleted 14 min after posting"),
    ("removed_by_platform", 60 * 27 + 5, 0, "gone 1 day 3 h after posting"),
    ("removed_by_platform", 0.5, 0, "gone 30 s after posting"),
    ("geo_blocked", 190, 0, "gone 3 h 10 min after posting"),
])
def test_lifetime(cause: str, published: float, gone: float, expected: str) -> None:
    v = view(cause=cause, published_at=T0 - timedelta(minutes=published),
             first_seen_gone=T0 - timedelta(minutes=gone))
    assert render.lifetime(v) == expected


def test_lifetime_unknown_without_a_publication_time() -> None:
    assert render.lifetime(view(published_at=None)) is None
    assert "Lifetime" not in render.render_event(view(published_at=None), "text").body


def test_ambiguous_cause_lists_the_candidates() -> None:
    m = render.render_event(view(cause="ambiguous", cause_detail=None,
                                 candidates=["deleted_by_author", "removed_by_moderator"]),
                            "text")
    assert "cause unclear: one of deleted by the author, removed by a moderator" in m.body
    assert "cause unclear" in m.title


def test_edit_shows_the_word_diff() -> None:
    edit = {"classes": ["text_changed"], "similarity": 72.4,
            "rendered": "警方今天[-在广场清场-]{+没有行动+} 🚨"}
    for fmt in ("markdown", "text"):
        m = render.render_event(view("edited", cause=None, cause_detail=None, edit=edit), fmt)
        assert "警方今天[-在广场清场-]{+没有行动+} 🚨" in m.body
        assert "text_changed (72% similar)" in m.body.replace("\\", "")
        assert m.title == "Post edited: alice@ex.social on mastodon"


def test_restoration_says_what_it_was_before() -> None:
    v = view("restored", cause=None, cause_detail=None,
             evidence={"previous_cause": "removed_by_moderator", "via": "probe"})
    m = render.render_event(v, "text")
    assert m.title == "Post restored: alice@ex.social on mastodon"
    assert "before: removed by a moderator" in m.body


def test_burst_lists_every_post_and_marks_the_ones_already_sent() -> None:
    views = [view(id=i, post_key=str(i), detected_at=T0 + timedelta(minutes=i),
                  content={"text": t}) for i, t in enumerate([ZH, EMOJI, AR, HE, "plain"], 1)]
    m = render.render_burst(views, {"scope": "target", "label": "alice@ex.social",
                                    "earlier": [1, 2]}, "text")
    assert m.title == "Mass deletion: 5 posts disappeared from account alice@ex.social " \
                      "within 4 min"
    assert m.body.count("\n- ") + m.body.startswith("- ") >= 5
    for text in (ZH, EMOJI, "plain"):
        assert text in m.body
    assert f"\u2068{AR}\u2069" in m.body
    assert m.body.count("✓ ") == 2
    assert "removed by the platform (legal) × 5" in m.body


def test_digest_groups_by_account_in_the_digest_time_zone() -> None:
    from zoneinfo import ZoneInfo

    hk = ZoneInfo("Asia/Hong_Kong")
    views = [view(id=1), view(id=2, target="bob", author="bob", burst_id=3),
             view("restored", id=3, cause=None)]
    start = datetime(2026, 8, 1, 0, 0, tzinfo=hk)
    m = render.render_digest(views, (start, start + timedelta(days=1)), "daily", "markdown")
    assert "2026-08-01 00:00 HKT to 2026-08-02 00:00 HKT" in m.title
    assert "2 disappeared, 1 restored" in m.title
    assert "bob (mastodon, group journalists): 1 — mass deletion" in m.body.replace("\\", "")
    assert ZH in m.body
