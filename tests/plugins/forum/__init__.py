"""A third-party platform plug-in, as its own package would ship it: a forum whose
``/api/info`` answers like Reddit's (a removal is HTTP 200 with a marker in the
JSON), declared in ``platform.py``, its fingerprints in ``words.py``, its spider in
``spider.py``. It touches no core file; ``tests/plugins/test_forum_plugin.py``
registers it through a fake entry point."""
