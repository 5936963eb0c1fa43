"""The ASGI application: :func:`create_app` wires the routers to one database."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from ..clock import Clock, SystemClock
from ..db import Database
from ..settings import Settings

#: Modules that each define ``router`` (an ``APIRouter``), included in this order.
ROUTER_MODULES = [
    "monitor.api.events", "monitor.api.posts", "monitor.api.targets",
    "monitor.api.review", "monitor.api.stats", "monitor.api.exports",
    "monitor.api.public", "monitor.web.pages",
]


def create_app(settings: Settings, db: Database, *, clock: Clock | None = None) -> FastAPI:
    import importlib

    app = FastAPI(title="Takedown Monitor", version="1")
    app.state.settings = settings
    app.state.db = db
    app.state.clock = clock or SystemClock()
    for name in ROUTER_MODULES:
        module: Any = importlib.import_module(name)
        app.include_router(module.router)
    return app
