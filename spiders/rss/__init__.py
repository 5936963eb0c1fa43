"""RSS/Atom feeds: the declaration (:mod:`.platform`), the spider (:mod:`.spider`)."""
