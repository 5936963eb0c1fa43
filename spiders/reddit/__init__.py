"""Reddit: the declaration (:mod:`.platform`), its words (:mod:`.words`), the spider
(:mod:`.spider`, with the OAuth API in :mod:`.oauth` and the Atom feeds in
:mod:`.feeds`), and the sandbox fake (:mod:`.fake`).

Two access paths: with the operator's approved OAuth client (``REDDIT_CLIENT_ID``)
the JSON API says who removed a post; without it the public Atom feeds can only
show that a post is gone, so their disappearances are ``ambiguous``.
"""
