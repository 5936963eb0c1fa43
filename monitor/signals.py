"""Signals: what the recorder announces, for the parts that listen to it.

The core does not call alerts, metrics or the CLI; they connect receivers to
documented signals on a :class:`SignalManager`, the way Scrapy extensions
connect to ``crawler.signals``, and the :class:`~monitor.worker.Worker` (or a
:class:`~monitor.snapshot.Recorder`) is given that manager::

    signals = SignalManager()
    signals.connect(Outbox(config), events_stored)       # alerts
    signals.connect(metrics.recorded, batch_committed)   # Prometheus counters
    Worker(db, settings, crawl, signals=signals)

A receiver is called with keyword arguments: those of the signal's documented
arguments that it names (one with ``**kwargs`` gets them all), so it can ignore
the rest. A receiver that needs an argument the signal does not send is refused
at :meth:`SignalManager.connect`.

Errors: a ``batch_committed`` receiver that raises is logged with its traceback
and the other receivers still run; what was committed stays committed. An
``events_stored`` receiver runs inside the batch's transaction, so its error
propagates: the batch rolls back and the recorder retries it (the database's
transient fault) or isolates the observation at fault (anything else), as for
any failure of the batch.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

__all__ = ["ALL_SIGNALS", "Receiver", "Signal", "SignalManager", "batch_committed",
           "batch_fenced", "events_stored"]

Receiver = Callable[..., object]


class Signal:
    """One documented signal: its name, the keyword arguments it sends, and whether a
    receiver's error propagates to the sender (``inside_transaction``)."""

    def __init__(self, name: str, args: tuple[str, ...], doc: str, *,
                 inside_transaction: bool = False) -> None:
        self.name = name
        self.args = args
        self.inside_transaction = inside_transaction
        self.__doc__ = doc

    def __repr__(self) -> str:
        return f"<signal {self.name}>"


events_stored = Signal("events_stored", ("conn", "events"), """\
Sent inside a batch's transaction, after its events were inserted.

Arguments: ``conn``, the batch's open :data:`monitor.db.Connection`; ``events``,
the list of :class:`~monitor.events.Event` stored by this batch (with their ids;
events already stored by an earlier try are not in it). Never sent with no events.
What a receiver writes through ``conn`` commits with the events or not at all:
the alerts outbox writes its deliveries here. A receiver that raises rolls the
batch back.
""", inside_transaction=True)

batch_committed = Signal("batch_committed", ("observations", "events"), """\
Sent after a batch of observations was committed.

Arguments: ``observations``, the sequence of :class:`~monitor.observation.Observation`
stored (sanitised; one refused by the database appears as its ``malformed``
stand-in); ``events``, the list of :class:`~monitor.events.Event` they stored.
Never sent when nothing was stored. Metrics count here, and ``takedown run``
prints the events. A receiver that raises is logged; recording goes on.
""")

batch_fenced = Signal("batch_fenced", ("observations",), """\
Sent when observations were not recorded because the seat their work was claimed
under was taken back.

Arguments: ``observations``, the sequence of :class:`~monitor.observation.Observation`
not written. Their worker was found dead (its presence lock free) and its leases were
given to others before they could commit (a recorder process that outlived its
worker by a moment; a live worker that lost its lock connection and took a new
seat): that work is another worker's now and is done again there. The rest of
their batch is recorded. The recorder process reports them to its worker as
settled, not lost.
""")

#: Every signal the core sends; each is documented in the README's architecture section.
ALL_SIGNALS: tuple[Signal, ...] = (events_stored, batch_committed, batch_fenced)


class SignalManager:
    """Receivers by signal: :meth:`connect`, :meth:`disconnect`, :meth:`send`.

    Receivers are held by strong references (an ``Outbox(config)`` connected
    inline stays connected) and called in the order they were connected.
    Thread-safe: the recorder sends from its writer thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._receivers: dict[Signal, list[tuple[Receiver, frozenset[str] | None]]] = {}

    def connect(self, receiver: Receiver, signal: Signal) -> None:
        """Call ``receiver`` on every ``signal``; connecting it twice is a no-op."""
        accepts = _accepted(receiver, signal)
        with self._lock:
            receivers = self._receivers.setdefault(signal, [])
            if all(r != receiver for r, _ in receivers):
                receivers.append((receiver, accepts))

    def disconnect(self, receiver: Receiver, signal: Signal) -> None:
        """Stop calling ``receiver`` on ``signal`` (no error if it was not connected)."""
        with self._lock:
            receivers = self._receivers.get(signal, [])
            self._receivers[signal] = [(r, a) for r, a in receivers if r != receiver]

    def receivers(self, signal: Signal) -> list[Receiver]:
        with self._lock:
            return [r for r, _ in self._receivers.get(signal, [])]

    def send(self, signal: Signal, **kwargs: object) -> None:
        """Call every receiver of ``signal`` with its arguments (exactly ``signal.args``)."""
        if set(kwargs) != set(signal.args):
            raise TypeError(f"signal {signal.name} sends {', '.join(signal.args)}; "
                            f"got {', '.join(sorted(kwargs)) or 'nothing'}")
        with self._lock:
            receivers = list(self._receivers.get(signal, []))
        for receiver, accepts in receivers:
            given = kwargs if accepts is None else {k: kwargs[k] for k in accepts}
            if signal.inside_transaction:
                receiver(**given)  # the sender's transaction rolls back on an error
                continue
            try:
                receiver(**given)
            except Exception:
                log.exception("receiver %s of signal %s failed; the others still run and "
                              "what was recorded stays recorded", _name(receiver), signal.name)


def _accepted(receiver: Receiver, signal: Signal) -> frozenset[str] | None:
    """The signal's arguments ``receiver`` takes (None: all of them, via ``**kwargs``);
    a TypeError names a parameter the signal cannot fill."""
    try:
        params = inspect.signature(receiver).parameters.values()
    except (TypeError, ValueError):  # no signature to read (a builtin): send everything
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    names = {p.name for p in params
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    missing = [p.name for p in params if p.default is p.empty
               and p.kind is not p.VAR_POSITIONAL
               and (p.kind is p.POSITIONAL_ONLY or p.name not in signal.args)]
    if missing:
        raise TypeError(f"{_name(receiver)} cannot receive signal {signal.name}: it needs "
                        f"{', '.join(missing)}, but the signal sends only "
                        f"{', '.join(signal.args)}")
    return frozenset(names & set(signal.args))


def _name(receiver: Receiver) -> str:
    return getattr(receiver, "__qualname__", None) or type(receiver).__qualname__
