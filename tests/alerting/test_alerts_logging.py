"""Channel secrets never reach the log, whichever library writes the record.

Apprise sends through requests, and urllib3 logs every request line at DEBUG
(``-vv``): ``"POST /services/T000/B000/XXXX HTTP/1.1" 200``, the Slack or Discord
token in the path. Loading the alerts config registers the channels' secrets with
a filter on the log handlers, so the token is scrubbed and the rest of the line kept.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from alerts_world import Receiver

from alerts import redact
from alerts.channels import AppriseSender, Content
from alerts.config import from_watchlist
from alerts.render import Message

SLACK = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general"
SLACK_PATH = "/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
TOKEN = "Zq7TokenInThePathOfAJsonHook"
SHORT = "T1JJ3T3L2"  # a short token in a json:// path is a secret too


def watchlist(**channels: dict[str, str]) -> SimpleNamespace:
    return SimpleNamespace(alerts={"channels": channels}, groups={}, path=None)


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """A real handler on the root logger at DEBUG, as ``takedown -vv`` installs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    levels = root.level, logging.getLogger("urllib3").level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        logging.getLogger("urllib3").setLevel(levels[1])
        redact.uninstall()


def test_a_slack_token_in_a_urllib3_debug_line_is_scrubbed(debug_log: io.StringIO) -> None:
    from_watchlist(watchlist(news={"url_env": "NEWS_URL"}), environ={"NEWS_URL": SLACK})
    # The line urllib3.connectionpool writes for Apprise's POST to Slack.
    logging.getLogger("urllib3.connectionpool").debug(
        '%s://%s:%s "%s %s %s" %s %s', "https", "hooks.slack.com", 443, "POST", SLACK_PATH,
        "HTTP/1.1", 200, 2)
    text = debug_log.getvalue()
    assert 'DEBUG urllib3.connectionpool: https://hooks.slack.com:443 "POST /services/***' \
        ' HTTP/1.1" 200 2' in text, text
    for part in ("T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7FQ"):
        assert part not in text


def test_a_real_apprise_send_at_debug_leaks_no_token(debug_log: io.StringIO,
                                                     receiver: Receiver,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    url = receiver.url(f"/{SHORT}/{TOKEN}", scheme="json")
    with caplog.at_level(logging.DEBUG):
        cfg = from_watchlist(watchlist(news={"url_env": "NEWS_URL", "format": "text"}),
                             environ={"NEWS_URL": url})
        AppriseSender(cfg.channels["news"]).send(
            Content("test", "test-1", Message("Test", "hello", "text")))
    (got,) = receiver.received
    assert got.path == f"/{SHORT}/{TOKEN}"  # the tokens really went over the wire
    text = debug_log.getvalue()
    assert SHORT not in text
    # The rest of urllib3's line is still there.
    assert f'urllib3.connectionpool: http://127.0.0.1:{receiver.port} "POST /***' \
        ' HTTP/1.1" 200' in text, text
    assert TOKEN not in text
    assert caplog.records and all(TOKEN not in r.getMessage() for r in caplog.records)


def test_a_traceback_quoting_the_secret_is_scrubbed(debug_log: io.StringIO) -> None:
    from_watchlist(watchlist(news={"url_env": "NEWS_URL"}), environ={"NEWS_URL": SLACK})
    try:
        raise ConnectionError(f"cannot reach https://hooks.slack.com{SLACK_PATH}")
    except ConnectionError:
        logging.getLogger("requests").exception("send failed for %s", SLACK)
    text = debug_log.getvalue()
    assert "ERROR requests: send failed for ***" in text
    assert "ConnectionError: cannot reach https://hooks.slack.com/services/***" in text
    assert "TIiajkdnlazkcOXrIdevi7FQ" not in text


def test_a_record_without_secrets_is_left_alone(debug_log: io.StringIO) -> None:
    from_watchlist(watchlist(news={"url_env": "NEWS_URL"}), environ={"NEWS_URL": SLACK})
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d posts from %s", (3, "a"),
                               None)
    assert redact.FILTER.filter(record)
    assert (record.msg, record.args) == ("%d posts from %s", (3, "a"))


def test_a_broken_format_string_still_reaches_the_handler(debug_log: io.StringIO) -> None:
    """A library's bad %-format is the handler's to report, not the filter's to crash."""
    from_watchlist(watchlist(news={"url_env": "NEWS_URL"}), environ={"NEWS_URL": SLACK})
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d posts", ("many",), None)
    assert redact.FILTER.filter(record)
