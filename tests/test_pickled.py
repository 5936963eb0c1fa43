"""Observations cross to the recorder process pickled: field values as one tuple."""

from __future__ import annotations

import pickle
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from multiprocessing.reduction import ForkingPickler

import pytest

from monitor.observation import Observation, Outcome, PostContent, RawCapture
from monitor.pickled import as_tuples


def observation() -> Observation:
    post = PostContent(key="1", url="https://m.example/@a/1", text="<p>hi</p>",
                       author="a@m.example", published_at=datetime(2026, 1, 2, tzinfo=UTC),
                       links=["https://x.example/"], counters={"replies_count": 2},
                       extra={"account_id": "9", "sensitive": False})
    capture = RawCapture(method="GET", url="https://m.example/api/v1/statuses/1",
                         request_headers=(("User-Agent", "TakedownMonitor"),),
                         status=200, response_headers=(("Content-Type", "application/json"),
                                                       ("Set-Cookie", "a"), ("Set-Cookie", "b")),
                         body=b'{"id": "1"}', fetched_at=datetime.now(UTC), vantage="de-1")
    return Observation(mode="probe", platform="mastodon", target_key="t", url=post.url or "",
                       outcome=Outcome.OK, row_id=3, post_key="1", http_status=200,
                       body_hash="ab" * 32, post=post, capture=capture, elapsed_ms=12.5,
                       signals={"country": "DE", "followups": [{"name": "account"}]}, seat=2)


def test_an_observation_with_its_post_and_capture_survives_the_crossing() -> None:
    obs = observation()
    back = pickle.loads(ForkingPickler.dumps([obs, obs]))
    assert back[0] == obs
    assert back[0].capture == obs.capture and back[0].post == obs.post
    assert back[0] is back[1]  # pickle's memo still shares one object


@pytest.mark.parametrize("value", [observation(), observation().capture, observation().post])
def test_the_state_is_the_field_values_in_declaration_order(value: object) -> None:
    """The shape ``dataclass(slots=True)``'s own ``__setstate__`` reads as well."""
    state = value.__getstate__()  # type: ignore[attr-defined]
    assert state == tuple(getattr(value, f.name) for f in fields(value))  # type: ignore[arg-type]


def test_a_state_of_the_wrong_length_is_refused() -> None:
    capture = observation().capture
    assert capture is not None
    blank = object.__new__(RawCapture)
    with pytest.raises(ValueError, match="zip"):
        blank.__setstate__(capture.__getstate__()[:-1])  # type: ignore[attr-defined]


def test_a_class_of_one_field_is_refused() -> None:
    @dataclass(slots=True)
    class One:
        only: int

    with pytest.raises(TypeError, match="two fields"):
        as_tuples(One)
