"""Pages about one thing: a post (versions, word diffs, timeline, evidence), a target
(history and health) and an account (its deletion rate and history)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from ..api.auth import Principal, require
from ..db import analyst
from ..db import availability as availability_store
from ..platforms import PLATFORMS
from .common import context, error_page, read
from .history import timeline
from .render import page

router = APIRouter()

#: Ids are bigserial: anything larger is no row, and never reaches SQL.
MAX_ID = 2**63 - 1
#: The newest measurements shown on a post page (``takedown history`` shows them all).
AVAILABILITY_ROWS = 100


@router.get("/posts/{post_id}", response_class=HTMLResponse, include_in_schema=False)
def post_page(request: Request, post_id: int,
              principal: Annotated[Principal, Depends(require("viewer"))]) -> HTMLResponse:
    detail = read(request, analyst.post_detail, post_id) if 0 < post_id <= MAX_ID else None
    if detail is None:
        return error_page(request, 404, "No such post",
                          f"No post has the id {post_id}. Find it in the event feed, or "
                          "with `takedown history URL`.", principal=principal)
    measurements = read(request, availability_store.for_post, post_id)
    return page(request, "post.html", context(
        principal, "feed", post=detail["post"], versions=detail["versions"],
        steps=timeline(detail["timeline"], detail["events"]), events=detail["events"],
        availability=measurements[::-1][:AVAILABILITY_ROWS],
        availability_total=len(measurements)))


@router.get("/targets/{target_id}", response_class=HTMLResponse, include_in_schema=False)
def target_page(request: Request, target_id: int,
                principal: Annotated[Principal, Depends(require("viewer"))]) -> HTMLResponse:
    detail = (read(request, analyst.target_detail, target_id)
              if 0 < target_id <= MAX_ID else None)
    if detail is None:
        return error_page(request, 404, "No such target",
                          f"No target has the id {target_id}. The collectors page lists "
                          "them all.", principal=principal)
    return page(request, "target.html", context(principal, "status", **detail))


@router.get("/accounts", response_class=HTMLResponse, include_in_schema=False)
def accounts_page(request: Request,
                  principal: Annotated[Principal, Depends(require("viewer"))],
                  platform: Annotated[str | None, Query(max_length=100)] = None,
                  group: Annotated[str | None, Query(max_length=200)] = None
                  ) -> HTMLResponse:
    platform = platform or None
    if platform is not None and platform not in PLATFORMS:
        return error_page(request, 400, "Unknown platform",
                          "Pick a platform from the list on the accounts page.",
                          principal=principal)
    rows = read(request, analyst.accounts, platforms=[platform] if platform else None,
                groups=[group] if group else None, limit=200)
    return page(request, "accounts.html", context(
        principal, "accounts", accounts=rows, platforms=sorted(PLATFORMS),
        filters={"platform": platform or "", "group": group or ""}))


@router.get("/accounts/view", response_class=HTMLResponse, include_in_schema=False)
def account_page(request: Request,
                 principal: Annotated[Principal, Depends(require("viewer"))],
                 platform: Annotated[str, Query(max_length=100)],
                 author: Annotated[str, Query(min_length=1, max_length=1000)]
                 ) -> HTMLResponse:
    if platform not in PLATFORMS:
        return error_page(request, 404, "No such account",
                          "The platform is not one the monitor knows; follow an author's "
                          "link from a post page.", principal=principal)

    def load(conn: analyst.Conn) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        rate = analyst.accounts(conn, platforms=[platform], author=author, limit=1)
        events, _ = analyst.search_events(conn, analyst.EventQuery(
            platforms=[platform], authors=[author], limit=100))
        return rate, events

    rate, events = read(request, load)
    if not rate:
        return error_page(request, 404, "No such account",
                          "No post by this author was recorded on this platform.",
                          principal=principal)
    return page(request, "account.html", context(
        principal, "accounts", account=rate[0], events=events))
