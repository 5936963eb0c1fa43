"""Keep the channels' secrets out of every log record, whoever writes it.

Our own code never logs a URL or key, but libraries do: at ``-vv`` urllib3 logs
each request line (``"POST /services/T000/B000/XXXX HTTP/1.1" 200``, a Slack
token in the path) and an exception's text may quote a URL. So the filter sits
on the *handlers*, where every record ends up whichever logger made it:
:func:`protect` registers secrets (called by :func:`alerts.config.from_watchlist`
as soon as they are read) and attaches :data:`FILTER` to every handler present.
A handler added later is covered by calling :func:`protect` again.

The filter formats the record's message once, replaces each secret (longest
first) with ``***`` and stores the result with no arguments; a traceback and
stack are formatted and scrubbed the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

__all__ = ["FILTER", "SecretFilter", "protect", "uninstall"]

MASK = "***"


class SecretFilter(logging.Filter):
    """Replaces registered secrets in a record's message, traceback and stack."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            known = {*self._secrets, *(s for s in secrets if s)}
            self._secrets = tuple(sorted(known, key=len, reverse=True))

    def clear(self) -> None:
        with self._lock:
            self._secrets = ()

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format: the handler reports it as it always does
            return True
        clean = self.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.scrub(record.stack_info)
        return True


#: The one filter of the process; every handler shares it.
FILTER = SecretFilter()


def _handlers() -> list[logging.Handler]:
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [lg for lg in logging.Logger.manager.loggerDict.values()
                if isinstance(lg, logging.Logger)]
    found = [h for lg in loggers for h in lg.handlers]
    if logging.lastResort is not None:
        found.append(logging.lastResort)
    return found


def protect(secrets: Iterable[str]) -> None:
    """Scrub ``secrets`` from every record that reaches any handler present now."""
    FILTER.add(secrets)
    for handler in _handlers():
        if FILTER not in handler.filters:
            handler.addFilter(FILTER)


def uninstall() -> None:
    """Forget every secret and take the filter off the handlers (for tests)."""
    FILTER.clear()
    for handler in _handlers():
        handler.removeFilter(FILTER)
