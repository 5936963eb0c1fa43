"""The statistics page (``/stats``): headline shares of posts removed within 10 min, 1 h
and 24 h, deletion rates, the keywords of removed posts, and the stats part's plots as
``<img>`` (an SVG in an ``<img>`` never runs a script)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ..api.auth import Principal, require
from ..db.stats import StatsFilter
from ..stats import report
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


def _load(conn: Any) -> dict[str, Any]:
    everything = StatsFilter()
    survival = report.survival(conn, everything, "all", samples=50)
    curve = survival["curves"][0] if survival["curves"] else None
    return {"curve": curve, "method": survival["method"],
            "rates": report.rates(conn, everything, "platform"),
            "keywords": report.keywords(conn, everything, top=30)}


@router.get("/stats", response_class=HTMLResponse, include_in_schema=False)
def stats_page(request: Request,
               principal: Annotated[Principal, Depends(require("viewer"))]) -> HTMLResponse:
    return page(request, "stats.html", context(principal, "stats", plots=PLOTS,
                                               **read(request, _load)))
