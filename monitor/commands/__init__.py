"""The ``takedown`` subcommands, grouped by what they are about.

``monitor/cli.py`` builds the ``takedown`` group, the commands that crawl, and
adds these to it: :mod:`.records` (reading what was recorded) and :mod:`.watch`
(what to watch).
"""
