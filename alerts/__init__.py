"""Alerts: the only part of Takedown Monitor that sends messages.

::

    events ──(same transaction)──▶ Outbox ──▶ deliveries ──▶ Dispatcher ──▶ channels
              monitor.db.tracking   rules:     pending / folded /    claim, send,    Apprise URL
              .apply(…, outbox)     routes,    suppressed            retry, dead     signed webhook
                                    bursts,                          letter
                                    flaps,
                                    digests

Modules: :mod:`~alerts.config` (the ``[alerts]`` table), :mod:`~alerts.rules`
(pure decisions), :mod:`~alerts.outbox` (writes deliveries), :mod:`~alerts.store`
(SQL), :mod:`~alerts.dispatcher` (sends), :mod:`~alerts.channels` (Apprise and
webhook senders), :mod:`~alerts.webhook` (payload, signature, ``verify``),
:mod:`~alerts.render` (text and Markdown), :mod:`~alerts.cli` (``takedown alerts``),
:mod:`~alerts.redact` (secrets scrubbed from every log record).
See ``alerts/README.md``.
"""

from .config import AlertConfig, Channel, Route, from_watchlist, load_config
from .dispatcher import dispatch_once, run_dispatcher
from .outbox import Outbox
from .store import delivery_summary
from .webhook import verify

__all__ = ["AlertConfig", "Channel", "Route", "Outbox", "delivery_summary", "dispatch_once",
           "from_watchlist", "load_config", "run_dispatcher", "verify"]
