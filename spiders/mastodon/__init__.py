"""Mastodon (any instance): the declaration (:mod:`.platform`), the spider (:mod:`.spider`)."""
