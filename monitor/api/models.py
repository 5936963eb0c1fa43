"""Response models of the JSON API: the OpenAPI document's schemas are generated from
these same classes, which also check every answer before it leaves.

Text fields (post text, titles, authors, target names, the platform's words) are
whatever the watched accounts and platforms wrote: data, never markup. JSON escapes
them; a client that shows them must escape them too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ErrorResponse(_Model):
    """Every error: what happened and what to do."""

    error: str = Field(description="What went wrong and what to do next.")


class Event(_Model):
    """A confirmed change in what the public can see of a post."""

    id: int
    post_id: int
    target_id: int
    detected_at: datetime
    kind: str = Field(description="disappeared, hidden, edited or restored.")
    cause: str | None = Field(None, description="Why, for disappeared and hidden events.")
    cause_detail: str | None = None
    candidates: list[str] = Field(default_factory=list,
                                  description="The possible causes when cause is ambiguous.")
    platform: str
    group: str
    target: str = Field(description="The target's value (an account, feed or URL).")
    target_key: str
    post_key: str
    url: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    last_seen_visible: datetime | None = None
    first_seen_gone: datetime | None = None
    lifetime_seconds: float | None = Field(
        None, description="Publication (or first sight) to last seen visible, for "
        "disappearances.")
    title: str | None = None
    text: str | None = Field(None, description="The post's text as the event saw it.")
    edit: dict[str, Any] | None = Field(None, description="For edits: classes, similarity "
                                        "and the word diff.")
    evidence: dict[str, Any] = Field(description="What was observed: the deciding check "
                                     "(observed: HTTP status, the platform's message) and "
                                     "the probes that confirmed it.")


class EventPage(_Model):
    """One page of events, newest first."""

    events: list[Event]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null "
                                    "on the last page.")
    limit: int


class Post(_Model):
    id: int
    platform: str
    post_key: str
    url: str | None = None
    author: str | None = None
    published_at: datetime | None = None
    first_seen: datetime
    state: str = Field(description="unseen, visible, suspect, gone or hidden.")
    state_since: datetime
    gone_cause: str | None = None
    target_id: int
    target_key: str
    target: str
    group: str


class EditDiff(_Model):
    similarity: float
    classes: list[str]
    word_diff: list[tuple[str, str]] = Field(description="(op, words) pairs; op is equal, "
                                             "delete or insert.")
    removed_media: list[str] = Field(default_factory=list)
    removed_links: list[str] = Field(default_factory=list)
    added_media: list[str] = Field(default_factory=list)
    added_links: list[str] = Field(default_factory=list)
    warning: list[str] = Field(default_factory=list,
                               description="The content warning: [old, new].")


class Version(_Model):
    id: int
    number: int = Field(description="1 for the first version seen.")
    first_seen: datetime
    content_hash: str
    source: str = Field(description="Where it was read when not from the post itself "
                        "(e.g. its article page); versions diff within one source.")
    title: str
    text: str
    media: list[str]
    links: list[str]
    warning: str
    diff: EditDiff | None = Field(description="From the previous version of the same "
                                  "source; null for the first.")
    diff_text: str | None = Field(description="The same diff as `takedown history` prints "
                                  "it: [-removed-]{+added+}.")


class TimelineRun(_Model):
    """Consecutive checks that saw the post the same way."""

    model_config = ConfigDict(populate_by_name=True)

    state: str = Field(description="visible, missing, gone (missing, and a disappearance "
                       "was confirmed at confirmed_at) or failed (the check failed).")
    from_: datetime = Field(alias="from", serialization_alias="from")
    to: datetime
    count: int = Field(description="How many checks.")
    http_status: int | None = None
    message: str | None = Field(None, description="The platform's words at the last check.")
    outcomes: list[str]
    confirmed_at: datetime | None = None


class PostDetail(_Model):
    post: Post
    versions: list[Version]
    timeline: list[TimelineRun]
    events: list[Event]


class TargetHealth(_Model):
    id: int
    key: str
    group: str
    platform: str
    kind: str
    value: str
    active: bool
    single_post: bool
    state: str = Field(description="ok, new (never checked), failing, attention (you "
                       "must act: see attention_note) or inactive.")
    last_checked_at: datetime | None = None
    last_ok_at: datetime | None = None
    last_outcome: str | None = None
    error_streak: int
    last_error: str | None = None
    account_state: str | None = None
    next_due: datetime | None = None
    attention_note: str | None = None
    advice: str | None = Field(None, description="What to do about a failing target.")
    posts: int
    visible: int
    suspect: int
    gone: int
    hidden: int


class TargetList(_Model):
    targets: list[TargetHealth]


class PostSummary(_Model):
    id: int
    post_key: str
    author: str | None = None
    state: str
    state_since: datetime
    url: str | None = None
    first_seen: datetime


class TargetDetail(_Model):
    target: TargetHealth
    posts: list[PostSummary] = Field(description="The most recent posts first seen.")
    events: list[Event] = Field(description="The most recent events, newest first.")


class Account(_Model):
    platform: str
    author: str = Field(description="The handle as the platform shows it.")
    posts: int = Field(description="Posts seen.")
    disappeared: int = Field(description="Posts that disappeared at least once.")
    hidden: int = Field(description="Posts hidden at least once.")
    deletion_rate: float = Field(description="disappeared / posts.")
    last_event: datetime | None = None


class AccountList(_Model):
    accounts: list[Account]


class FailingTarget(_Model):
    key: str
    group: str
    platform: str
    kind: str
    value: str
    error_streak: int
    last_error: str | None = None
    last_outcome: str | None = None
    last_ok_at: datetime | None = None
    failing_since: datetime | None = Field(None, description="The first failed check after "
                                           "the last success.")
    next_due: datetime | None = None
    advice: str


class AttentionTarget(_Model):
    key: str
    group: str
    platform: str
    note: str | None = None


class PausedCollector(_Model):
    """A platform at a vantage point whose absences decide nothing for now."""

    platform: str
    vantage: str
    state: str = Field(description="blocked (captcha, login wall, expired token, the "
                       "platform's block) or outage (many targets absent at once).")
    since: datetime
    reason: str
    updated_at: datetime


class CollectorStatus(_Model):
    targets: int
    by_state: dict[str, int]
    overdue: int = Field(description="Checks more than a minute late (the backlog).")
    failing: list[FailingTarget]
    attention: list[AttentionTarget]
    paused: list[PausedCollector] = Field(default_factory=list, description=(
        "Platforms and vantage points paused by collector health: their absences are "
        "recorded but decide nothing until they resume by themselves."))
