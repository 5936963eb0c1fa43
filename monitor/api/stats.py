"""``/api/v1/stats``: time-to-takedown curves, deletion rates, keywords of removed
posts, and their plots as SVG (viewer role).

Rates read the rollups (exact and fresh); survival answers are served from the
cache of :mod:`monitor.stats.cache` when computed within ``STATS_MAX_AGE``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ..db import Connection
from ..db.stats import StatsFilter
from ..stats import cache, plots, report
from .auth import Principal, require
from .deps import (
    AUTHENTICATED,
    ERRORS,
    SafeJSONResponse,
    bad_request,
    platforms,
    transaction,
    when,
)

router = APIRouter(prefix="/api/v1/stats", tags=["stats"], responses=ERRORS,
                   dependencies=AUTHENTICATED, default_response_class=SafeJSONResponse)

Viewer = Annotated[Principal, Depends(require("viewer"))]
Since = Annotated[str | None, Query(
    max_length=64, description="From this ISO date/time, or a duration ago (24h, 7d, 365d). "
    "Posts count by publication (else first sight), events by detection.")]
Until = Annotated[str | None, Query(max_length=64,
                                    description="Before this ISO date/time, or a duration ago.")]
Platforms = Annotated[list[str] | None, Query(
    max_length=50, description="Repeatable: any of these platforms.")]
Groups = Annotated[list[str] | None, Query(
    max_length=50, description="Repeatable: any of these watchlist groups.")]
Accounts = Annotated[list[str] | None, Query(
    max_length=50, description="Repeatable: any of these accounts (the post's author as "
    "the platform names it, else the target's value).")]
By = Literal["all", "platform", "group", "account", "cause"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Point(_Model):
    t: float = Field(description="Seconds since publication.")
    survival: float = Field(description="Share of posts still up at t (each removal as "
                            "late as its interval allows).")
    survival_earliest: float = Field(description="The same, each removal as early as "
                                     "its interval allows.")
    lower: float = Field(description="The 95% bootstrap band around survival.")
    upper: float


class Headline(_Model):
    seconds: float
    label: str
    estimate: float | None = Field(description="Estimated share of all posts removed "
                                   "within this time (interval-censored).")
    estimate_max: float | None
    lower: float | None
    upper: float | None
    observed: int = Field(description="Posts whose state at this time is known.")
    removed_share: float | None = Field(description="Among those, the share removed.")
    of_removed: float | None = Field(description="Among removed posts, the share surely "
                                     "removed within this time (the Velocity-of-"
                                     "Censorship figure).")
    of_removed_max: float | None


class CurveModel(_Model):
    key: str
    posts: int
    removed: int
    censored: int
    skewed: int = Field(description="Removals seen gone before last seen visible (clock "
                        "skew), read as removed at the last visible check.")
    points: list[Point]
    headline: list[Headline]


class SurvivalAnswer(_Model):
    by: str
    curves: list[CurveModel]
    omitted: int = Field(description="Keys left out (fewest posts first).")
    method: str
    computed_at: datetime = Field(description="When this answer was computed: answers "
                                  "are reused for STATS_MAX_AGE (a relative since "
                                  "counts from here). Ask with fresh=true to recompute.")


class RateRow(_Model):
    key: str
    period: datetime | None
    posts: int | None = Field(description="Posts that started in the window (and period).")
    removed: int | None = Field(description="Of those, the posts that disappeared.")
    deletion_rate: float | None
    disappeared: int = Field(description="Disappearances detected in the window.")
    hidden: int
    edited: int
    restored: int


class RatesAnswer(_Model):
    by: str
    period: str | None
    rows: list[RateRow]


class TermModel(_Model):
    term: str
    removed: int = Field(description="Occurrences in removed posts.")
    surviving: int = Field(description="Occurrences in surviving posts.")
    delta: float
    z: float = Field(description="Over-representation in removed posts (positive).")


class KeywordsAnswer(_Model):
    posts: dict[str, int]
    limit: int
    terms: list[TermModel]
    method: str


def _filter(request: Request, since: str | None, until: str | None,
            platform: list[str] | None, group: list[str] | None,
            account: list[str] | None = None) -> StatsFilter:
    for name, values in (("group", group), ("account", account)):
        if any("\x00" in v for v in values or ()):
            # PostgreSQL text cannot hold it: no such name can exist.
            raise bad_request(f"{name}: a name cannot contain a NUL character")
    return StatsFilter(since=when(request, "since", since), until=when(request, "until", until),
                       platforms=platforms(platform), groups=group or None,
                       accounts=account or None)


@router.get("/survival", response_model=SurvivalAnswer, summary="Time-to-takedown curves")
def survival(request: Request, _: Viewer, since: Since = None, until: Until = None,
             platform: Platforms = None, group: Groups = None, account: Accounts = None,
             by: By = "all",
             top: Annotated[int, Query(ge=1, le=50, description="Curves at most.")] = 12,
             fresh: Annotated[bool, Query(description="Compute now instead of reusing an "
                                          "answer computed within STATS_MAX_AGE "
                                          "(seconds at a million posts).")] = False,
             ) -> dict[str, Any]:
    """Interval-censored survival (Turnbull) per key, with 95% bands and the shares
    removed within 10 min, 30 min, 1 h and 24 h."""
    f = _filter(request, since, until, platform, group, account)
    params = {"since": since, "until": until, "platform": f.platforms, "group": group,
              "account": account, "by": by, "top": top}
    with transaction(request) as conn:
        return _survival_answer(request, conn, f, params, fresh=fresh)


def _survival_answer(request: Request, conn: Connection, f: StatsFilter, params: dict[str, Any],
                     *, fresh: bool = False) -> dict[str, Any]:
    """The survival answer from the cache (:mod:`monitor.stats.cache`)."""
    max_age = timedelta(seconds=request.app.state.settings["STATS_MAX_AGE"])
    return cache.survival(conn, params, f, request.app.state.clock.now(),
                          max_age=timedelta(0) if fresh else max_age)


@router.get("/rates", response_model=RatesAnswer, summary="Deletion rates")
def rates(request: Request, _: Viewer, since: Since = None, until: Until = None,
          platform: Platforms = None, group: Groups = None, account: Accounts = None,
          by: By = "platform",
          period: Annotated[Literal["day", "week", "month"] | None, Query(
              description="Break down by period too (UTC).")] = None,
          ) -> dict[str, Any]:
    """Per key (and period): posts, how many disappeared, and the events detected."""
    f = _filter(request, since, until, platform, group, account)
    with transaction(request) as conn:
        rows = report.rates(conn, f, by, period)
    return {"by": by, "period": period, "rows": [{**r, "key": str(r["key"])} for r in rows]}


@router.get("/keywords", response_model=KeywordsAnswer, summary="Keywords of removed posts")
def keywords(request: Request, _: Viewer, since: Since = None, until: Until = None,
             platform: Platforms = None, group: Groups = None, account: Accounts = None,
             limit: Annotated[int, Query(ge=1, le=20000,
                                         description="Latest posts read at most.")] = 5000,
             min_count: Annotated[int, Query(ge=1, le=1000)] = 2,
             top: Annotated[int, Query(ge=1, le=500)] = 50,
             ) -> dict[str, Any]:
    """Terms over-represented in removed posts against the surviving posts of the same
    accounts (weighted log-odds with an informative Dirichlet prior)."""
    f = _filter(request, since, until, platform, group, account)
    with transaction(request) as conn:
        return report.keywords(conn, f, limit=limit, min_count=min_count, top=top)


@router.get("/plots/{name}.svg", summary="A plot as SVG", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}, "description": "The plot."}})
def plot(request: Request, _: Viewer, name: Literal["survival", "deletions", "causes"],
         since: Since = None, until: Until = None, platform: Platforms = None,
         group: Groups = None, account: Accounts = None, by: By = "platform") -> Response:
    """``survival`` (curves by ``by``), ``deletions`` (per week), ``causes`` (by platform)."""
    f = _filter(request, since, until, platform, group, account)
    with transaction(request) as conn:
        if name == "survival":  # the curves cost seconds: the cached answer serves
            svg = plots.survival_svg(_survival_answer(
                request, conn, f, {"since": since, "until": until, "platform": f.platforms,
                                   "group": group, "account": account, "by": by, "top": 8}))
        else:
            svg = plots.render(conn, name, f, by)
    return Response(svg, media_type="image/svg+xml", headers={
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
