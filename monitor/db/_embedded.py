"""Start the embedded PostgreSQL (the ``pgserver`` package) under a data directory."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..errors import StorageError

log = logging.getLogger(__name__)


def start_embedded(data_dir: Path) -> tuple[Any, str]:
    """Start (or join) the embedded server; returns its handle and URL.

    The handle stops the server when the last process using it exits.
    """
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path("/tmp") / f"takedown-{os.getuid()}"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - a dependency
        raise StorageError(
            "the embedded database needs the 'pgserver' package: pip install pgserver, "
            "or set TAKEDOWN_DATABASE_URL to a PostgreSQL server"
        ) from exc
    pgdata = data_dir / "pgdata"
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        url = server.get_uri()
    except Exception as exc:
        raise StorageError(
            f"could not start the embedded PostgreSQL in {pgdata}: {exc}. Look at "
            f"{pgdata / 'log'}, or set TAKEDOWN_DATABASE_URL to a running server."
        ) from exc
    log.info("embedded PostgreSQL running for %s", pgdata)
    return server, url
