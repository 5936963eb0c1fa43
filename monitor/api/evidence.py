"""An event's evidence bundle over HTTP.

- ``GET /api/v1/events/{id}/evidence`` (viewer): the bundle, a zip (manifest, the raw
  captures as WARC, every RFC 3161 token stamped so far), as ``takedown evidence
  export`` writes it. The manifest is built and frozen on first request if the
  stamping chore has not done so yet. The download is written to the audit log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from ..access import Principal
from ..db import access as access_store
from ..evidence.collect import EvidenceError, UnknownEvent, bundle_bytes
from .auth import ApiError, require
from .deps import AUTHENTICATED, ERRORS, NOT_FOUND
from .models import ErrorResponse

router = APIRouter(prefix="/api/v1", tags=["events"], responses=ERRORS,
                   dependencies=AUTHENTICATED)

Viewer = Annotated[Principal, Depends(require("viewer"))]


@router.get("/events/{event_id}/evidence",
            summary="The event's evidence bundle (zip: manifest, WARC captures, timestamps)",
            response_class=Response,
            responses={**NOT_FOUND,
                       200: {"content": {"application/zip": {"schema": {
                           "type": "string", "format": "binary"}}},
                             "description": "The bundle, as `takedown evidence export` "
                                            "writes it"},
                       409: {"model": ErrorResponse,
                             "description": "A capture the manifest names is gone"}})
def event_evidence(request: Request, who: Viewer,
                   event_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> Response:
    """The bundle that `takedown evidence verify` checks offline."""
    state = request.app.state
    with state.db.transaction() as conn:
        access_store.audit(conn, who, "export", f"events/{event_id}/evidence", {})
    try:
        with state.db.transaction() as conn:
            data = bundle_bytes(conn, event_id, state.clock.now(),
                                state.settings["TIMESTAMP_AUTHORITIES"])
    except UnknownEvent:
        raise ApiError(404, f"no event {event_id}") from None
    except EvidenceError as exc:
        raise ApiError(409, str(exc)) from None
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="evidence-{event_id}.zip"',
        "Cache-Control": "no-store",
    })
