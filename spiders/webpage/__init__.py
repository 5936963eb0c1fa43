"""A single web page watched through a CSS selector: the declaration
(:mod:`.platform`), the spider (:mod:`.spider`), its words (:mod:`.words`).

Added as a third party would add a platform: this package and one entry point.
"""
