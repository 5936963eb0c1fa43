"""``takedown history``'s rendering: versions diffed with the previous one of their source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.diff import Normalised
from monitor.query import format_history

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def version(i: int, text: str, source: str = "") -> dict[str, object]:
    content = Normalised(title="", text=text, source=source)
    return {"content": content.to_json(), "first_seen": T0 + timedelta(minutes=i),
            "content_hash": content.content_hash}


def test_each_version_is_diffed_with_the_previous_one_of_its_own_source() -> None:
    post = {"platform": "rss", "post_key": "k", "target_key": "rss:feed", "url": "https://x/k",
            "state": "visible", "state_since": T0, "first_seen": T0}
    versions = [version(0, "summary of the story"),
                version(1, "the whole article about the story", "article"),
                version(2, "the whole article, redacted", "article"),
                version(3, "summary of the story, updated")]
    shown = format_history(post, versions, [], [])
    shown_lines = [line.strip() for line in shown.splitlines()]
    # The first article reading is shown whole, not as a diff against the summary;
    # the redaction is diffed against it, the summary's update against the summary.
    assert shown_lines[shown_lines.index("summary of the story") + 2] == \
        "the whole article about the story"
    assert "the whole article [-about the story-]{+, redacted+}" in shown_lines
    assert "summary of the story{+, updated+}" in shown_lines
    assert sum(line.endswith("(article)") for line in shown_lines) == 2
