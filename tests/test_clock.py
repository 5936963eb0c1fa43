"""The injected clock: a ManualClock only moves forward, and the spiders stamp
observations with the clock they are given (MONITOR_CLOCK), else the system's."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from monitor.clock import SYSTEM_CLOCK, Clock, ManualClock
from monitor.observation import Outcome, WorkItem

START = datetime(2026, 1, 1, tzinfo=UTC)


def test_manual_clock_moves_only_forward_and_only_when_told() -> None:
    clock = ManualClock(START)
    assert clock.now() == clock.now() == START
    assert clock.advance(1.5) == START + timedelta(seconds=1.5)
    assert clock.set(START) == START + timedelta(seconds=1.5)  # the past: stays put
    assert clock.set(START + timedelta(hours=1)) == START + timedelta(hours=1)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 1, 1))  # noqa: DTZ001 (the naive time is the point)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2027, 1, 1))  # noqa: DTZ001
    # Scrapy deep-copies its settings: the copy must be the same clock.
    assert copy.deepcopy({"MONITOR_CLOCK": clock})["MONITOR_CLOCK"] is clock
    assert isinstance(clock, Clock) and isinstance(SYSTEM_CLOCK, Clock)


def _observe(**overrides: object) -> datetime:
    from scrapy.utils.test import get_crawler

    from monitor.settings import Settings
    from spiders.base import Job, MonitorSpider
    from spiders.crawl import install_reactor
    from spiders.settings import scrapy_settings

    class Stamper(MonitorSpider):
        name = "stamper"

    install_reactor()
    crawler = get_crawler(Stamper, settings_dict=dict(
        scrapy_settings(Settings.load(environ={}), **overrides)))
    spider = Stamper.from_crawler(crawler, work=[])
    item = WorkItem(mode="probe", platform="rss", target_key="t", url="http://example.org/",
                    row_id=1, post_key="p")
    return spider.conclude(Job(item), Outcome.OK).observed_at


def test_spiders_stamp_observations_with_the_injected_clock() -> None:
    clock = ManualClock(START)
    assert _observe(MONITOR_CLOCK=clock) == START
    clock.advance(60)
    assert _observe(MONITOR_CLOCK=clock) == START + timedelta(seconds=60)
    # No clock given: the system's.
    before = datetime.now(UTC)
    assert before <= _observe() <= datetime.now(UTC)
