"""The statistics page (``/stats``): headline shares of posts removed within 10 min, 1 h
and 24 h, deletion rates, the keywords of removed posts, and the stats part's plots as
``<img>`` (an SVG in an ``<img>`` never runs a script)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ..api.auth import Principal, require
from ..db.stats import StatsFilter
from ..stats import cache, report
from .common import context, read
from .render import page

router = APIRouter()

#: The plots the stats API renders (``/api/v1/stats/plots/<name>.svg``), with their
#: text alternatives.
PLOTS = {
    "survival": "Survival curves per platform: the share of posts still visible after "
                "each delay, with 95 % bands",
    "deletions": "Deletions per week",
    "causes": "Causes of removal, per platform",
}


#: The page covers the last year: the survival answer is the one the API serves for
#: ``since=365d`` and keeps fresh in the background (:mod:`monitor.stats.cache`).
YEAR = cache.COMMON[0]


def _load(conn: Any, now: datetime, max_age: timedelta) -> dict[str, Any]:
    year = StatsFilter(since=now - timedelta(days=365))
    params = {k: v for k, v in YEAR.items() if k != "kind"}
    survival = cache.survival(conn, params, year, now, max_age=max_age)
    curve = survival["curves"][0] if survival["curves"] else None
    return {"curve": curve, "method": survival["method"],
            "computed_at": survival["computed_at"],
            "rates": report.rates(conn, year, "platform"),
            "keywords": report.keywords(conn, year, top=30)}


@router.get("/stats", response_class=HTMLResponse, include_in_schema=False)
def stats_page(request: Request,
               principal: Annotated[Principal, Depends(require("viewer"))]) -> HTMLResponse:
    now = request.app.state.clock.now()
    max_age = timedelta(seconds=request.app.state.settings["STATS_MAX_AGE"])
    data = read(request, lambda conn: _load(conn, now, max_age))
    return page(request, "stats.html", context(principal, "stats", plots=PLOTS, **data))
