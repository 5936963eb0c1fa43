"""The lifecycle's verdicts for targets with several vantage points.

A mixin of :class:`monitor.lifecycle.Lifecycle`: the state changes that follow
the answers of every vantage point of a target (:mod:`monitor.geo` decides, pure).
A target with none or one vantage point never reaches the decisions here, so it
behaves as it always did. Two situations are handled:

- a **suspect** post (an absence): each vantage point's latest decisive answer is
  kept in the suspicion. A visible answer does not lift it while another vantage
  point's absence stands; when every one has answered (or ``VANTAGE_PATIENCE`` ran
  out), the post is ``gone`` (absent everywhere) or ``hidden`` with cause
  ``geo_blocked`` (absent in some countries only);
- a **geo-blocked** post (hidden, ``gone_cause = "geo_blocked"``): its answers are
  kept in ``PostRow.known[GEO_KEY]``. Absences from the withholding countries and the
  home listing change nothing; visible from all is ``restored``, absent from all
  (confirmed) is ``disappeared``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import geo
from .classify import classify_disappearance
from .observation import Observation, Outcome
from .rows import PostRow, PostState, Suspicion, TargetRow, probe_summary

if TYPE_CHECKING:
    from .events import Verdict
    from .lifecycle import Rules
    from .rows import Changes
    from .runs import Slot

__all__ = ["VantageVerdicts"]


class VantageVerdicts:
    """Per-vantage verdicts; mixed into the lifecycle, whose state it shares."""

    if TYPE_CHECKING:
        rules: Rules
        changes: Changes
        _slot: Slot

        def _transition(self, target: TargetRow, post: PostRow, state: PostState,
                        verdict: Verdict, now: datetime, obs: Observation) -> None: ...

        def _event(self, target: TargetRow, post: PostRow, kind: str, now: datetime,
                   obs: Observation, *, verdict: Verdict | None = None,
                   version_id: int | None = None, edit: dict[str, Any] | None = None,
                   extra: dict[str, Any] | None = None) -> None: ...

        def _listing_caught_up(self, target: TargetRow, suspicion: Suspicion,
                               now: datetime) -> bool: ...

    def _vantage_answer(self, target: TargetRow, post: PostRow, obs: Observation) -> bool:
        """Take a probe's decisive answer (visible, or absent) where the vantage points
        decide; False: the single-vantage path decides as before."""
        if _geo_blocked(post):
            self._watch_geo(target, post, obs)
            return True
        suspicion = post.suspicion
        if (obs.outcome is not Outcome.OK or post.state != PostState.SUSPECT
                or suspicion is None or not geo.fans_out(target.vantages)):
            return False
        self._record_answer(target, suspicion, obs)
        if suspicion.kind != "absence" or not _withheld(suspicion.answers, target, obs):
            return False  # nothing absent elsewhere: lifted (or a hiding) as before
        post.last_visible_at = obs.observed_at
        if self._listing_caught_up(target, suspicion, obs.observed_at):
            self._decide_vantages(target, post, obs)
        return True

    def _withheld_elsewhere(self, target: TargetRow, post: PostRow, obs: Observation) -> bool:
        """A listing shows the post, but the vantage points say it is withheld somewhere:
        the listing (read from the home) lifts nothing and restores nothing."""
        if _geo_blocked(post):
            return True
        suspicion = post.suspicion
        return (post.state == PostState.SUSPECT and suspicion is not None
                and suspicion.kind == "absence" and geo.fans_out(target.vantages)
                and _withheld(suspicion.answers, target, obs))

    def _record_answer(self, target: TargetRow, suspicion: Suspicion,
                       obs: Observation) -> None:
        if geo.fans_out(target.vantages):
            answer = geo.answer(obs, self._slot.id)
            if answer is not None:
                geo.record(suspicion.answers, answer)

    def _decide_vantages(self, target: TargetRow, post: PostRow, obs: Observation) -> None:
        """Apply the vantage points' verdict on a suspect post, if they give one."""
        suspicion = post.suspicion
        assert suspicion is not None
        now = obs.observed_at
        verdict = geo.decide(target.vantages or (), suspicion.answers, suspicion.since, now,
                             probes=self.rules.confirm_probes,
                             spacing=self.rules.confirm_spacing,
                             patience=self.rules.vantage_patience)
        if verdict is None:
            return
        if verdict.kind == "lift":
            post.state, post.suspicion, post.first_gone_at = PostState.VISIBLE, None, None
        elif verdict.kind == "geo_blocked":
            answers = suspicion.answers
            kept = [p for p in suspicion.probes if p.get("vantage") in verdict.withheld]
            self._transition(target, post, PostState.HIDDEN,
                             geo.geo_blocked_verdict(verdict, answers), now, obs)
            post.known[geo.GEO_KEY] = {"since": now.isoformat(), "answers": answers,
                                       "probes": kept[-geo.MAX_PROBES:]}
        else:
            probes = [p for p in suspicion.probes if p.get("vantage") in verdict.withheld]
            base = classify_disappearance(post.platform, probes or suspicion.probes,
                                          {**suspicion.context, "author": post.author})
            self._transition(target, post, PostState.GONE,
                             geo.with_silent(base, verdict, suspicion.answers), now, obs)

    def _watch_geo(self, target: TargetRow, post: PostRow, obs: Observation) -> None:
        """A probe of a geo-blocked post: restored when visible from every vantage point,
        gone when absent from every one (confirmed); otherwise nothing changes."""
        now = obs.observed_at
        state = post.known.get(geo.GEO_KEY)
        state = dict(state) if isinstance(state, dict) else {}
        raw = state.get("answers")
        answers: dict[str, geo.Answer] = {str(k): dict(v) for k, v in raw.items()
                                          if isinstance(v, dict)} if isinstance(raw, dict) else {}
        probes = [p for p in state.get("probes") or [] if isinstance(p, dict)]
        answer = geo.answer(obs, self._slot.id)
        if answer is None:
            return  # transient, blocked or paused: a collector problem
        geo.record(answers, answer)
        if answer["visible"]:
            post.last_visible_at = now
        else:
            probes = [*probes, probe_summary(obs, self._slot.id)][-geo.MAX_PROBES:]
        post.known[geo.GEO_KEY] = {**state, "answers": answers, "probes": probes}
        names = list(target.vantages or ()) or [obs.vantage]
        if all(answers.get(n, {}).get("visible") for n in names):
            post.transitions += 1
            verdict = geo.GeoVerdict("lift", tuple(names))
            self._event(target, post, "restored", now, obs, extra={
                "previous_cause": post.gone_cause, "via": "probe",
                **geo.event_evidence(verdict, answers)})
            post.state, post.state_since = PostState.VISIBLE, now
            post.suspicion, post.gone_cause, post.first_gone_at = None, None, None
            post.known.pop(geo.GEO_KEY, None)
            return
        rules = self.rules
        if all(n in answers and geo.confirmed(answers[n], rules.confirm_probes,
                                              rules.confirm_spacing) for n in names):
            streaks = {n: str(answers[n].get("absent_since") or answers[n]["at"])
                       for n in names}
            gone = [p for p in probes if p.get("vantage") in streaks
                    and str(p.get("at")) >= streaks[str(p.get("vantage"))]]
            base = classify_disappearance(post.platform, gone or probes,
                                          {"author": post.author})
            post.first_gone_at = post.first_gone_at or datetime.fromisoformat(
                min(streaks.values()))
            verdict = geo.GeoVerdict("removal", (), tuple(names))
            self._transition(target, post, PostState.GONE,
                             geo.with_silent(base, verdict, answers), now, obs)
            post.known.pop(geo.GEO_KEY, None)


def _geo_blocked(post: PostRow) -> bool:
    return post.state == PostState.HIDDEN and post.gone_cause == geo.GEO_CAUSE


def _withheld(answers: dict[str, geo.Answer], target: TargetRow, obs: Observation) -> bool:
    """Another allowed vantage point's latest answer is an absence."""
    return any(n != obs.vantage and n in answers and not answers[n].get("visible")
               for n in target.vantages or ())
