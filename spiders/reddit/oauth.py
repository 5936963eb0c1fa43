"""Reddit's OAuth path: the operator's client, its bearer token, and the API's URLs.

The client comes from the REDDIT_* settings (:func:`client_from`). The grant is
userless by default (``client_credentials`` with a secret, ``installed_client``
without one: an app-only token sees what a logged-out reader would, and never
an author's own view of a removed post); with REDDIT_USERNAME and
REDDIT_PASSWORD it is the ``password`` (script) grant. Tokens live for the
process in :class:`TokenCache`, are renewed a minute before they expire, and
are dropped when the API answers 401 (the spider then fetches a new one once).
Secrets never reach a log line or a repr.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

#: Seconds before its stated expiry that a token is renewed.
RENEW_EARLY = 60.0
#: The installed_client grant's device id when we have no reason to track one.
DEVICE_ID = "DO_NOT_TRACK_THIS_DEVICE"
#: Listing and probe size: Reddit's most per request.
LIMIT = 100
API_URL = "https://oauth.reddit.com"
TOKEN_URL = "https://www.reddit.com/api/v1/access_token"


@dataclass(frozen=True, slots=True)
class Client:
    """An approved Reddit app, as the operator configured it."""

    client_id: str
    secret: str = field(default="", repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    api_url: str = API_URL
    token_url: str = TOKEN_URL

    @property
    def grant(self) -> dict[str, str]:
        """The token request's form fields."""
        if self.username:
            return {"grant_type": "password", "username": self.username,
                    "password": self.password}
        if self.secret:
            return {"grant_type": "client_credentials"}
        return {"grant_type": "https://oauth.reddit.com/grants/installed_client",
                "device_id": DEVICE_ID}

    def token_request(self) -> dict[str, Any]:
        """``method``, ``body`` and ``headers`` of the token request (HTTP Basic auth)."""
        basic = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        return {"method": "POST", "body": urlencode(self.grant),
                "headers": {"Authorization": f"Basic {basic}",
                            "Content-Type": "application/x-www-form-urlencoded"}}

    @property
    def hosts(self) -> tuple[str, ...]:
        """The hosts this client talks to (trusted: the operator configured them)."""
        return tuple(dict.fromkeys(h for h in (urlsplit(self.api_url).hostname,
                                               urlsplit(self.token_url).hostname) if h))

    def api(self, path: str, **query: Any) -> str:
        """``{api_url}{path}?…&raw_json=1``: every JSON request asks for raw text."""
        query = {**query, "raw_json": 1}
        return f"{self.api_url.rstrip('/')}{path}?{urlencode(query)}"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.token_url, self.client_id, self.username)


def client_from(settings: Mapping[str, Any] | None) -> Client | None:
    """The configured client, or None when REDDIT_CLIENT_ID is empty."""
    if settings is None:
        return None
    client_id = str(settings.get("REDDIT_CLIENT_ID") or "").strip()
    if not client_id:
        return None
    return Client(
        client_id=client_id,
        secret=str(settings.get("REDDIT_CLIENT_SECRET") or ""),
        username=str(settings.get("REDDIT_USERNAME") or ""),
        password=str(settings.get("REDDIT_PASSWORD") or ""),
        api_url=str(settings.get("REDDIT_API_URL") or API_URL),
        token_url=str(settings.get("REDDIT_TOKEN_URL") or TOKEN_URL),
    )


class TokenError(ValueError):
    """The token endpoint answered 2xx without a usable bearer token."""


def read_token(body: str) -> tuple[str, float]:
    """``(access_token, expires_in seconds)`` from a token answer; TokenError otherwise.
    (The message never quotes the body: it may hold a token.)"""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise TokenError("the token endpoint did not answer JSON") from None
    if not isinstance(data, dict):
        raise TokenError("the token endpoint's answer is not an object")
    if isinstance(data.get("error"), str):
        raise TokenError(f"the token endpoint refused the grant: {data['error'][:80]}")
    token = data.get("access_token")
    if not isinstance(token, str) or not token or len(token) > 4096 or not token.isascii():
        raise TokenError("the token endpoint's answer has no access_token")
    expires = data.get("expires_in")
    seconds = float(expires) if isinstance(expires, int | float) and not isinstance(
        expires, bool) and 0 < expires < 10 * 86400 else 3600.0
    return token, seconds


class TokenCache:
    """Bearer tokens per client, for the life of the process (crawls come and go)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, str, str], tuple[str, float]] = {}

    def get(self, client: Client) -> str | None:
        found = self._tokens.get(client.key)
        if found is None or self._clock() >= found[1]:
            return None
        return found[0]

    def put(self, client: Client, token: str, expires_in: float) -> None:
        self._tokens[client.key] = (token, self._clock() + max(0.0, expires_in - RENEW_EARLY))

    def drop(self, client: Client, token: str | None = None) -> None:
        """Forget the client's token (only if it is still ``token``, when given)."""
        found = self._tokens.get(client.key)
        if found is not None and (token is None or found[0] == token):
            del self._tokens[client.key]

    def clear(self) -> None:
        self._tokens.clear()


TOKENS = TokenCache()
