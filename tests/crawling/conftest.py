"""Fixtures for the spider tests; the helpers live in ``crawl_helpers`` (importing it
installs the asyncio reactor first, as the daemon does at process start)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from crawl_helpers import Driver, make_spider

from spiders import MonitorSpider


@pytest.fixture
def driver_for() -> Iterator[Callable[..., Driver]]:
    def build(spidercls: type[MonitorSpider], **overrides: Any) -> Driver:
        return Driver(make_spider(spidercls, **overrides))
    yield build
