"""Vantage verdicts: removed everywhere, or withheld in some countries only?

Pure functions, no I/O. A target may list several vantage points
(:mod:`monitor.vantage`); its home (the first) walks the listing and does the
ordinary re-checks. A post that is suspect, or hidden by geo-blocking, is probed
from every one of them (:func:`fan_out`), and each vantage point's latest
*decisive* answer is kept (:func:`record`): visible, or absent with the
platform's words. Transient and blocked outcomes, and absences seen while the
collector was paused, are not decisive: a vantage point that fails is a
collector problem, never a content signal. Then (:func:`decide`):

- no vantage point answered absent (or each took it back): the suspicion lifts;
- one of them still owes a decisive answer: wait, up to ``VANTAGE_PATIENCE``
  from the start of the suspicion; after it, decide with those that answered and
  name the silent ones (a removal becomes ``ambiguous`` with ``geo_blocked``
  among the candidates);
- an absence not yet confirmed (``CONFIRM_PROBES`` answers in a row from that
  vantage point, ``CONFIRM_SPACING`` apart): wait;
- absent from every one: a removal, classified as usual;
- visible from some and absent from the others: ``geo_blocked``, a ``hidden``
  event whose evidence names the countries.

The lifecycle (:mod:`monitor.lifecycle`) applies the verdict; while a post is
hidden by geo-blocking, its answers are kept in ``PostRow.known[GEO_KEY]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from .events import Verdict
from .observation import Observation, Outcome
from .vantage import Vantage, placeholder

__all__ = ["GEO_CAUSE", "GEO_KEY", "Answer", "GeoVerdict", "answer", "confirmed", "decide",
           "event_evidence", "fan_out", "fans_out", "geo_blocked_verdict", "record", "with_silent"]

#: ``PostRow.known`` key of a geo-blocked post's per-vantage answers
#: (``{"since", "answers", "probes"}``); the claims never hand it to a spider.
GEO_KEY = "geo"
GEO_CAUSE = "geo_blocked"
#: Absent probes kept in ``known[GEO_KEY]["probes"]`` for the classification of a
#: later removal (the latest per vantage point are what matter).
MAX_PROBES = 20

#: A vantage point's latest decisive answer, as stored and shown in evidence.
Answer = dict[str, Any]


def fans_out(vantages: Sequence[str] | None) -> bool:
    """Whether a target's suspect posts are probed from several vantage points."""
    return len(vantages or ()) > 1


def fan_out(names: Sequence[str] | None, state: str | None,
            gone_cause: str | None) -> list[Vantage | None]:
    """The vantage points one claim of a row is fetched from: none (this machine)
    when the target names none; its home for a listing (``state`` None) and an
    ordinary re-check; each of them for a post that is suspect or geo-blocked."""
    if not names:
        return [None]
    if len(names) > 1 and (state == "suspect" or (state == "hidden"
                                                  and gone_cause == GEO_CAUSE)):
        return [placeholder(n) for n in dict.fromkeys(names)]
    return [placeholder(names[0])]


def answer(obs: Observation, obs_id: int | None) -> Answer | None:
    """The decisive answer ``obs`` gives, or None (transient or blocked, or an absence
    seen while the collector was paused for its platform and vantage point)."""
    if obs.outcome is not Outcome.OK and not obs.outcome.absent:
        return None
    if obs.outcome is not Outcome.OK and obs.signals.get("collector_paused"):
        return None
    return {
        "vantage": obs.vantage,
        "country": obs.signals.get("country"),
        "outcome": obs.outcome.value,
        "http_status": obs.http_status,
        "words": obs.message,
        "notice": obs.signals.get("notice"),
        "fingerprint": obs.signals.get("fingerprint"),
        "at": obs.observed_at.isoformat(),
        "obs": obs_id,
        "visible": obs.outcome is Outcome.OK,
    }


def record(answers: dict[str, Answer], new: Answer) -> None:
    """Keep ``new`` as its vantage point's latest answer, counting absent answers in
    a row (``absent_count`` since ``absent_since``) for the confirmation."""
    prev = answers.get(new["vantage"])
    if not new["visible"]:
        count = prev.get("absent_count") if prev is not None else None
        if (prev is not None and not prev.get("visible") and prev.get("absent_since")
                and isinstance(count, int)):
            new["absent_since"] = prev["absent_since"]
            new["absent_count"] = count + 1
        else:
            new["absent_since"], new["absent_count"] = new["at"], 1
    answers[new["vantage"]] = new


def confirmed(ans: Answer, probes: int, spacing: float) -> bool:
    """An absent answer repeated ``probes`` times in a row, spanning ``spacing`` s."""
    try:
        if ans.get("visible") or int(ans.get("absent_count") or 0) < probes:
            return False
        first = datetime.fromisoformat(str(ans.get("absent_since") or ans["at"]))
        last = datetime.fromisoformat(str(ans["at"]))
        return (last - first).total_seconds() >= spacing
    except (KeyError, TypeError, ValueError):  # a stored answer someone broke: unconfirmed
        return False


@dataclass(frozen=True, slots=True)
class GeoVerdict:
    """What the answers say: ``lift`` (visible wherever it answered, nothing absent),
    ``removal`` (absent wherever it answered), ``geo_blocked`` (both)."""

    kind: Literal["lift", "removal", "geo_blocked"]
    visible: tuple[str, ...] = ()
    withheld: tuple[str, ...] = ()
    #: Vantage points that gave no decisive answer (decided after VANTAGE_PATIENCE).
    silent: tuple[str, ...] = ()


def decide(vantages: Sequence[str], answers: Mapping[str, Answer], since: datetime,
           now: datetime, *, probes: int, spacing: float, patience: float
           ) -> GeoVerdict | None:
    """The verdict of the answers of the allowed ``vantages`` since ``since``; None:
    wait (an absence unconfirmed, or a vantage point silent within ``patience``)."""
    names = list(dict.fromkeys(vantages))
    visible = tuple(v for v in names if v in answers and answers[v].get("visible"))
    withheld = tuple(v for v in names if v in answers and not answers[v].get("visible"))
    silent = tuple(v for v in names if v not in answers)
    late = (now - since).total_seconds() >= patience
    if not withheld:
        return GeoVerdict("lift", visible, (), silent) if visible else None
    unconfirmed = tuple(v for v in withheld if not confirmed(answers[v], probes, spacing))
    if unconfirmed:
        if not late:
            return None
        # Past patience, an absence its vantage point never confirmed (it went down
        # after one answer) counts as silence, never as a confirmed absence.
        silent += unconfirmed
        withheld = tuple(v for v in withheld if v not in unconfirmed)
        if not withheld:
            return GeoVerdict("lift", visible, (), silent) if visible else None
    if silent and not late:
        return None
    return GeoVerdict("geo_blocked" if visible else "removal", visible, withheld, silent)


def _countries(answers: Mapping[str, Answer], names: Sequence[str]) -> list[str]:
    return sorted({str(answers[n]["country"]) for n in names if answers[n].get("country")})


def event_evidence(verdict: GeoVerdict, answers: Mapping[str, Answer]) -> dict[str, Any]:
    """The event's evidence: the countries each way, and each vantage point's answer
    (vantage, country, outcome, HTTP status, words, fingerprint, when)."""
    shown = [*verdict.visible, *verdict.withheld]
    out: dict[str, Any] = {
        "countries_withheld": _countries(answers, verdict.withheld),
        "countries_visible": _countries(answers, verdict.visible),
        "vantage_answers": [
            {k: answers[n].get(k) for k in ("vantage", "country", "outcome", "http_status",
                                            "words", "notice", "fingerprint", "at", "obs")}
            for n in shown],
    }
    if verdict.silent:
        out["silent_vantages"] = list(verdict.silent)
    return out


def geo_blocked_verdict(verdict: GeoVerdict, answers: Mapping[str, Answer]) -> Verdict:
    """The verdict of a post visible from some vantage points and withheld in others."""
    ev = event_evidence(verdict, answers)
    withheld = ", ".join(ev["countries_withheld"] or verdict.withheld)
    shown = ", ".join(ev["countries_visible"] or verdict.visible)
    reason = f"withheld in {withheld}, visible in {shown}"
    if verdict.silent:
        reason += f"; no answer from {', '.join(verdict.silent)}"
    return Verdict(GEO_CAUSE, reason=reason, evidence=ev)


def with_silent(base: Verdict, verdict: GeoVerdict, answers: Mapping[str, Answer]) -> Verdict:
    """A removal's verdict with the per-vantage evidence; when some vantage points were
    silent, ``ambiguous`` with ``geo_blocked`` among the candidates (it may be served
    where they are)."""
    ev = {**base.evidence, **event_evidence(verdict, answers)}
    if not verdict.silent:
        return Verdict(base.cause, base.detail, list(base.candidates), base.reason, ev)
    candidates = list(base.candidates) if base.cause == "ambiguous" else [base.cause]
    if GEO_CAUSE not in candidates:
        candidates.append(GEO_CAUSE)
    if len(candidates) < 2:  # the platform itself said geo_blocked
        return Verdict(base.cause, base.detail, list(base.candidates), base.reason, ev)
    reason = (f"{base.reason}; absent wherever it answered, no answer from "
              f"{', '.join(verdict.silent)}: may be served there")
    return Verdict("ambiguous", None, candidates, reason, ev)
