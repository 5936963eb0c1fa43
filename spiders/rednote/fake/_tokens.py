"""The tokens a sandbox world's RedNote listings hand out, and when they expire."""

from __future__ import annotations

import base64
import hashlib
import weakref

from spiders.sandbox.fake import World


class TokenBook:
    """The tokens a world's listings handed out: token → (note id, expiry)."""

    #: Tokens kept before the expired ones are swept out.
    SWEEP_AT = 4096

    def __init__(self) -> None:
        self.tokens: dict[str, tuple[str, float]] = {}
        self.minted = 0
        self._sweep_at = self.SWEEP_AT

    def mint(self, note_id: str, now: float, ttl: float) -> str:
        if len(self.tokens) >= self._sweep_at:
            self.tokens = {t: v for t, v in self.tokens.items() if v[1] > now}
            # Sweeps stay rare (amortised O(1) a mint) however many tokens are live.
            self._sweep_at = max(self.SWEEP_AT, 2 * len(self.tokens))
        self.minted += 1
        raw = hashlib.sha256(f"{note_id}:{self.minted}".encode()).digest()[:30]
        token = "AB" + base64.urlsafe_b64encode(raw).decode().replace("-", "x").replace("_", "Z")
        self.tokens[token] = (note_id, now + ttl)
        return token

    def valid(self, note_id: str, token: str, now: float) -> bool:
        found = self.tokens.get(token)
        return found is not None and found[0] == note_id and now < found[1]


_BOOKS: weakref.WeakKeyDictionary[World, TokenBook] = weakref.WeakKeyDictionary()


def tokens_of(world: World) -> TokenBook:
    book = _BOOKS.get(world)
    if book is None:
        book = _BOOKS[world] = TokenBook()
    return book
