"""Start the embedded PostgreSQL (the ``pgserver`` package) under a data directory."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
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
        if os.name == "posix" and os.geteuid() == 0:
            from pgserver.utils import ensure_user_exists

            ensure_server_user(ensure_user_exists)
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        url = server.get_uri()
    except Exception as exc:
        raise StorageError(
            f"could not start the embedded PostgreSQL in {pgdata}: {exc}. Look at "
            f"{pgdata / 'log'}, or set TAKEDOWN_DATABASE_URL to a running server."
        ) from exc
    log.info("embedded PostgreSQL running for %s", pgdata)
    return server, url


#: The system user pgserver runs PostgreSQL as when started by root (which PostgreSQL
#: refuses to run as).
SERVER_USER = "pgserver"


def ensure_server_user(create: Callable[[str], Any], lock: Path | None = None) -> None:
    """Create pgserver's system user (``create``: pgserver's own ``ensure_user_exists``,
    a look-up, then ``useradd`` if missing) one process at a time. pgserver does it
    outside its own lock: processes starting embedded servers at once on a fresh
    machine (the test suite's workers, two ``takedown`` commands) all looked, found no
    user, ran ``useradd``, and all but one failed ("exit status 9", the user exists)."""
    import fcntl

    lock = lock or Path(tempfile.gettempdir()) / "takedown-pgserver-user.lock"
    with open(lock, "a", encoding="ascii") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        create(SERVER_USER)
