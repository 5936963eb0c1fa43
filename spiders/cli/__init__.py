"""The ``takedown`` command line: the application that wires the core (``monitor``),
the spiders and the alerts together.

:mod:`.app` builds the ``takedown`` group and the commands that crawl
(``check``, ``run``, ``sandbox``, ``demo``); :mod:`.records` and :mod:`.watch` hold
the others, by subject; :mod:`.context` is what they share. ``python -m spiders.cli``
is ``takedown``.

This package's own import is light, and :func:`main` loads the application when it
is called: the ``takedown`` console script runs ``from spiders.cli import main`` at its
top, and every process a worker spawns (the recorder process) runs that script's
top again before its own code. So a spawned child loads what it needs, never the
command line (click, the settings' pydantic models: about 9 MiB). The other names
are imported on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Ctx": "spiders.cli.context",
    "cli": "spiders.cli.app",
    "describe_database": "spiders.cli.app",
    "startup_line": "spiders.cli.app",
}

__all__ = sorted([*_EXPORTS, "main"])


def main() -> None:
    """The ``takedown`` console script's entry point (:func:`spiders.cli.app.main`)."""
    from .app import main as run

    run()


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'spiders.cli' has no attribute {name!r}") from None
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
