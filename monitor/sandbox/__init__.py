"""A local fake of Mastodon, RSS/Atom sites and RedNote, for demos, end-to-end tests
and benchmarks.

It serves the real response shapes of ``shared/platforms/``, replays a seeded
script of actions (edits, deletions, moderation, suspensions, restores) tick by
tick, records the event a correct monitor must report for each action in
:meth:`Sandbox.truth`, and can inject network faults. Only the standard library
is used, and it serves on 127.0.0.1.
"""

from ._expect import EXPECT, detection_window
from ._faults import ALL_FAULTS
from ._sandbox import Sandbox, serve
from ._scenarios import RANDOM_DEFAULTS, SCENARIOS
from ._script import EDIT_STYLES
from ._static import export_static

__all__ = [
    "ALL_FAULTS",
    "EDIT_STYLES",
    "EXPECT",
    "RANDOM_DEFAULTS",
    "SCENARIOS",
    "Sandbox",
    "detection_window",
    "export_static",
    "serve",
]
