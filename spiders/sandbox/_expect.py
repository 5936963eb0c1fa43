"""The contract with the classifier: which event each sandbox action must produce.

Each fake declares its actions' events (:attr:`~.fake.Fake.expect`); :data:`EXPECT`
gathers them under (platform, action). Values use the vocabulary of
:mod:`monitor.events` (``kind``, ``cause``, and ``detail`` / ``candidates`` when
they apply). An account-level action expects its event once for every post it affects.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class _Expectations(Mapping[tuple[str, str], Mapping[str, Any]]):
    """``EXPECT``: (platform, action) → event, read from the fakes when used."""

    _source: object = None
    _cached: dict[tuple[str, str], Mapping[str, Any]] = {}

    def _table(self) -> dict[tuple[str, str], Mapping[str, Any]]:
        from .fake import fakes

        current = fakes()
        if current is not self._source:  # built once per set of fakes
            self._cached = {(name, action): event for name, fake in current.items()
                            for action, event in fake.expect.items()}
            self._source = current
        return self._cached

    def __getitem__(self, key: tuple[str, str]) -> Mapping[str, Any]:
        return self._table()[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


#: (platform, action) → the event a correct monitor reports. The classifier's contract.
EXPECT: Mapping[tuple[str, str], Mapping[str, Any]] = _Expectations()


def expect(platform: str, action: str) -> dict[str, Any]:
    """A fresh copy of the expected event for ``action`` on ``platform``."""
    found = EXPECT[(platform, action)]
    return {k: (list(v) if isinstance(v, list) else v) for k, v in found.items()}


def detection_window(settings: Mapping[str, Any], interval: float) -> float:
    """The shortest state a monitor with ``settings`` is sure to record, in seconds, when
    its listings and post targets are checked every ``interval`` seconds and no fault
    intervenes: the check that notices the change comes within one interval, then the
    confirming probes span CONFIRM_SPACING, CONFIRM_RETRY apart (at least one retry
    per further probe), and the last may come up to one CONFIRM_RETRY late.

    Give it to :class:`~._sandbox.Sandbox` as ``resolution``: a scripted state that
    lasts less is not expected to be seen. Faults only add delay, so a script meant to
    be seen in full under faults keeps its states several windows long.
    """
    probes = max(1, int(settings["CONFIRM_PROBES"]))
    spacing = float(settings["CONFIRM_SPACING"])
    retry = float(settings["CONFIRM_RETRY"])
    confirm = max(spacing, (probes - 1) * retry) if probes > 1 else 0.0
    return float(interval) + confirm + retry
