"""The ``takedown`` command line: the application that wires the core (``monitor``),
the spiders and the alerts together.

:mod:`.app` builds the ``takedown`` group and the commands that crawl
(``check``, ``run``, ``sandbox``, ``demo``); :mod:`.records` and :mod:`.watch` hold
the others, by subject; :mod:`.context` is what they share. ``python -m spiders.cli``
is ``takedown``.
"""

from .app import cli, describe_database, main, startup_line
from .context import Ctx

__all__ = ["Ctx", "cli", "describe_database", "main", "startup_line"]
