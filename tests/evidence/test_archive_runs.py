"""Which observation writes keep their raw capture (pure, :mod:`monitor.runs`)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from archive_helpers import T0, capture

from monitor import runs
from monitor.observation import Observation, Outcome
from monitor.rows import PostRow, PostState, TargetRow

CAP = capture("https://ex.social/api/v1/statuses/1")


def _target() -> TargetRow:
    return TargetRow(id=1, key="k", group_name="g", platform="mastodon", kind="account",
                     value="alice", base_url="https://ex.social", interval_s=60.0)


def _post(state: PostState, since_minutes: int = 0) -> PostRow:
    return PostRow(id=2, target_id=1, platform="mastodon", post_key="1", first_seen=T0,
                   state=state, state_since=T0 + timedelta(minutes=since_minutes))


def _obs(mode: str = "probe", **kw: object) -> Observation:
    return Observation(mode=mode, platform="mastodon", target_key="k", url="u",  # type: ignore[arg-type]
                       outcome=kw.pop("outcome", Outcome.NOT_FOUND),  # type: ignore[arg-type]
                       observed_at=T0 + timedelta(minutes=10), capture=CAP, **kw)  # type: ignore[arg-type]


CASES = [
    # (slot extends a row, post state after the lifecycle, state changed now, mode, kept)
    (False, PostState.VISIBLE, False, "probe", True),  # a new row
    (True, PostState.VISIBLE, False, "probe", False),  # an unchanged re-check
    (True, PostState.SUSPECT, False, "probe", True),  # a confirming probe
    (True, PostState.GONE, True, "probe", True),  # the probe that confirmed (an event)
    (True, PostState.GONE, False, "probe", False),  # a re-check of a gone post
    (True, PostState.HIDDEN, True, "probe", True),  # confirmed hidden just now
    (True, PostState.SUSPECT, False, "listing", False),  # a listing entry's extended row
    (False, PostState.VISIBLE, False, "listing", True),  # a listing entry's new row
]


@pytest.mark.parametrize(("extend", "state", "changed_now", "mode", "kept"), CASES)
def test_post_writes(extend: bool, state: PostState, changed_now: bool, mode: str,
                     kept: bool) -> None:
    post = _post(state, since_minutes=10 if changed_now else 0)
    write = runs.post_write(runs.Slot(5, extend), _target(), post, _obs(mode), None)
    assert (write.capture is CAP) is kept


def test_no_capture_no_capture() -> None:
    obs = _obs()
    obs.capture = None
    write = runs.post_write(runs.Slot(5, False), _target(), _post(PostState.SUSPECT), obs, None)
    assert write.capture is None


def test_listing_writes() -> None:
    target = _target()
    ids = iter(range(100, 200))
    first = runs.target_write(target, _obs("listing", outcome=Outcome.OK), lambda _: next(ids))
    assert not first.extend and first.capture is CAP  # a new row
    again = runs.target_write(target, _obs("listing", outcome=Outcome.OK), lambda _: next(ids))
    assert again.extend and again.capture is None  # the same listing again
    suspects = runs.target_write(target, _obs("listing", outcome=Outcome.OK),
                                 lambda _: next(ids), suspects=True)
    assert suspects.extend and suspects.capture is CAP  # it made posts suspect
