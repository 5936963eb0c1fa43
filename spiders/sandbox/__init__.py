"""The sandbox: a local fake of every platform that has one, for demos, end-to-end tests
and benchmarks.

It serves each platform's real response shapes through that platform's fake
(``spiders/<platform>/fake.py``, found through the platform registry: see
:mod:`.fake`), replays a seeded script of actions (edits, deletions, moderation,
suspensions, restores) tick by tick, records the event a correct monitor must
report for each action in :meth:`Sandbox.truth`, and can inject network faults.
The server uses only the standard library, and it serves on 127.0.0.1, at the root
or under a path prefix (``Sandbox(prefix="/mirror/masto")``), as mirrors and test
servers are mounted.
"""

from ._expect import EXPECT, detection_window
from ._faults import ALL_FAULTS
from ._geo import COUNTRY_HEADER
from ._sandbox import Sandbox, serve
from ._scenarios import RANDOM_DEFAULTS, SCENARIOS
from ._script import EDIT_STYLES
from ._static import export_static, static_platforms
from .fake import Fake, ScenarioPart, fakes

__all__ = [
    "ALL_FAULTS",
    "COUNTRY_HEADER",
    "EDIT_STYLES",
    "EXPECT",
    "RANDOM_DEFAULTS",
    "SCENARIOS",
    "Fake",
    "Sandbox",
    "ScenarioPart",
    "detection_window",
    "export_static",
    "fakes",
    "serve",
    "static_platforms",
]
