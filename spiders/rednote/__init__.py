"""RedNote / Xiaohongshu: the declaration (:mod:`.platform`), the spider (:mod:`.spider`),
the page-state reader (:mod:`.state`) and the platform's words (:mod:`.words`)."""
