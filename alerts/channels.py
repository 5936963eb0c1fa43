"""Channels: where a rendered alert goes. The only code in the project that sends.

- :class:`AppriseSender`: any Apprise URL (Slack, Matrix, Telegram, e-mail,
  ``json://`` …). ``Apprise.notify`` returning False is a failure; Apprise's own
  warnings from that send become the failure's message.
- :class:`WebhookSender`: the signed JSON webhook of :mod:`alerts.webhook`.

A send either returns (delivered) or raises :class:`DeliveryError`, whose
message has every secret of the channel scrubbed out. Sends block; the
dispatcher runs them in a thread.
"""

from __future__ import annotations

import logging
import threading
import urllib.error
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from monitor.errors import TakedownError

from . import webhook
from .config import Channel
from .render import Message

__all__ = ["Content", "DeliveryError", "Sender", "AppriseSender", "WebhookSender", "sender",
           "scrub"]


class DeliveryError(TakedownError):
    """A send failed. The message says why, with the channel's secrets scrubbed."""


@dataclass(frozen=True, slots=True)
class Content:
    """What one delivery sends: the rendered message and the structured events."""

    kind: str  # event | burst | digest | test
    key: str  # idempotency key: the same on every retry
    message: Message
    views: Sequence[Mapping[str, Any]] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    urgent: bool = True  # a disappearance or hiding, as opposed to an edit or restoration


class Sender(Protocol):
    channel: Channel

    def send(self, content: Content) -> None: ...


def sender(channel: Channel) -> Sender:
    if channel.type == "webhook":
        return WebhookSender(channel)
    return AppriseSender(channel)


def scrub(text: str, secrets: Sequence[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text


class AppriseSender:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def send(self, content: Content) -> None:
        import apprise

        asset = _asset()
        with _apprise_log() as problems:
            plugin = apprise.Apprise.instantiate(self.channel.url, asset=asset,
                                                 suppress_exceptions=True)
            if plugin is None:
                raise DeliveryError(self._why(problems, "Apprise cannot use this URL; check "
                                              "it with `takedown alerts test`"))
            # Our timeout, unless the URL sets Apprise's own (cto=, rto=).
            if "cto=" not in self.channel.url:
                plugin.socket_connect_timeout = self.channel.timeout
            if "rto=" not in self.channel.url:
                plugin.socket_read_timeout = self.channel.timeout
            notifier = apprise.Apprise(asset=asset)
            notifier.add(plugin)
            fmt = (apprise.NotifyFormat.MARKDOWN if content.message.format == "markdown"
                   else apprise.NotifyFormat.TEXT)
            kind = apprise.NotifyType.WARNING if content.urgent else apprise.NotifyType.INFO
            try:
                ok = notifier.notify(body=content.message.body, title=content.message.title,
                                     body_format=fmt, notify_type=kind)
            except Exception as exc:  # a plugin bug must not kill the dispatcher
                raise DeliveryError(self._why(problems, f"Apprise raised {exc!r}")) from None
        if not ok:
            raise DeliveryError(self._why(problems, "Apprise reported a failure"))

    def _why(self, problems: list[str], fallback: str) -> str:
        text = "; ".join(dict.fromkeys(problems)) or fallback
        return scrub(text, self.channel.secrets())[:1000]


class WebhookSender:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def send(self, content: Content) -> None:
        assert self.channel.secret is not None  # config requires one for webhooks
        doc = webhook.payload(content.kind, content.key, content.views, content.message,
                              channel=self.channel.name, extra=content.extra)
        body = webhook.encode(doc)
        headers = webhook.signed_headers(body, self.channel.secret, content.key)
        try:
            webhook.post(self.channel.url, body, headers, self.channel.timeout)
        except urllib.error.HTTPError as exc:
            raise DeliveryError(self._scrub(f"HTTP {exc.code} {exc.reason}")) from None
        except urllib.error.URLError as exc:
            raise DeliveryError(self._scrub(f"no answer: {exc.reason}")) from None
        except (OSError, ValueError) as exc:  # timeouts, resets, bad URL
            raise DeliveryError(self._scrub(f"no answer: {exc!r}")) from None

    def _scrub(self, text: str) -> str:
        return scrub(text, self.channel.secrets())[:1000]


def _asset() -> Any:
    """Apprise's settings for one send: nothing written to disk, and no service_timeout,
    so that Apprise sends in this thread (its warnings can be told apart from another
    send's), bounded by the socket timeouts. Apprise before 2.x lacks these options."""
    import apprise

    try:
        return apprise.AppriseAsset(storage_mode="memory", service_timeout=0)
    except TypeError:
        return apprise.AppriseAsset()


# -- Apprise's log ----------------------------------------------------------------------

_setup = threading.Lock()
_capturing: dict[int, list[str]] = {}


class _PerThread(logging.Handler):
    """Hands each Apprise warning to the send running on the thread that logged it."""

    def emit(self, record: logging.LogRecord) -> None:
        sink = _capturing.get(record.thread or 0)
        if sink is not None:
            try:
                sink.append(record.getMessage())
            except Exception:  # a bad format string in a plugin: keep the send going
                sink.append(str(record.msg))


_handler: _PerThread | None = None


@contextmanager
def _apprise_log() -> Iterator[list[str]]:
    """Collect Apprise's warnings for this thread's send.

    Apprise's records are kept out of our log (some quote the URL, with its
    tokens); what matters reaches the log scrubbed, as the delivery's error.
    """
    global _handler
    with _setup:
        if _handler is None:
            log = logging.getLogger("apprise")
            log.propagate = False
            log.setLevel(logging.WARNING)
            _handler = _PerThread(logging.WARNING)
            log.addHandler(_handler)
    ident = threading.get_ident()
    sink: list[str] = []
    _capturing[ident] = sink
    try:
        yield sink
    finally:
        _capturing.pop(ident, None)
