"""Fault injection: with probability ``rate`` per request, one of the chosen faults.

``timeout``, ``reset`` and ``truncated`` are carried out by the HTTP handler
(they are about the socket); the others are ordinary responses built here, or
by the fake that claims the path when the platform answers in its own way
(:meth:`~.fake.Fake.fault`).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._http import HTML_TYPE, Response, html_response

if TYPE_CHECKING:
    from .fake import Fake

ALL_FAULTS: tuple[str, ...] = (
    "timeout",
    "server_error",
    "rate_limit",
    "reset",
    "truncated",
    "anti_bot",
)

_SERVER_ERRORS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
}

_CHALLENGE = (
    '<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>'
    '<meta http-equiv="refresh" content="390"></head><body>'
    '<div class="main-wrapper" role="main"><h1>Just a moment...</h1>'
    "<p>Verifying you are human. This may take a few seconds.</p>"
    '<noscript><div class="h2">Enable JavaScript and cookies to continue</div></noscript>'
    "</div></body></html>"
)

def rate_limited(headers: Sequence[tuple[str, str]] = ()) -> Response:
    """A 429 asking to retry after a second, with any platform headers."""
    return html_response(
        429,
        "<html><body><h1>429 Too Many Requests</h1></body></html>",
        [("Retry-After", "1"), *headers],
    )


class FaultInjector:
    """Draws faults, thread-safe, and counts what it served.

    Each request's draw is its own: seeded by the run's seed, the request (the server
    passes its path, query and the script's tick) and how many times that request came
    before, never by a shared stream. Requests in flight together reach the server in
    any order (more so on a loaded machine); with a shared stream, that order decided
    which request got which fault, so a seed did not reproduce a run. Now the n-th
    fetch of a URL in a given tick meets the same fault in every run of the seed.
    """

    def __init__(self, seed: int, rate: float, faults: Sequence[str] = ALL_FAULTS) -> None:
        unknown = set(faults) - set(ALL_FAULTS)
        if unknown:
            raise ValueError(
                f"unknown fault(s) {', '.join(sorted(unknown))}; "
                f"choose from {', '.join(ALL_FAULTS)}"
            )
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault_rate must be between 0 and 1, not {rate}")
        if rate > 0 and not faults:
            raise ValueError("fault_rate is above 0 but no faults were chosen")
        self.rate = rate
        self.faults = tuple(faults)
        self.counts = dict.fromkeys(ALL_FAULTS, 0)
        self.seed = seed
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        #: The current request's RNG, per server thread (its fault's details draw from it).
        self._local = threading.local()

    def draw(self, request: str = "") -> str | None:
        """The fault to serve for ``request`` (its path and query), or None."""
        if self.rate <= 0:
            return None
        with self._lock:
            n = self._seen.get(request, 0)
            self._seen[request] = n + 1
        rng = random.Random(f"{self.seed}:{request}:{n}")
        self._local.rng = rng
        if rng.random() >= self.rate:
            return None
        fault = rng.choice(self.faults)
        with self._lock:
            self.counts[fault] += 1
        return fault

    def _pick(self, options: Sequence[int]) -> int:
        rng = getattr(self._local, "rng", None) or random.Random(self.seed)
        return rng.choice(list(options))

    def response(self, fault: str, fake: Fake | None = None) -> Response:
        """The response for a fault that is an ordinary HTTP answer; ``fake`` is the
        platform that claims the path, which may answer in its own way."""
        if fake is not None:
            shaped = fake.fault(fault, self._pick)
            if shaped is not None:
                return shaped
        if fault == "server_error":
            code = self._pick(sorted(_SERVER_ERRORS))
            title = f"{code} {_SERVER_ERRORS[code]}"
            return html_response(
                code,
                f"<html><head><title>{title}</title></head><body><center><h1>{title}</h1>"
                "</center><hr><center>nginx</center></body></html>",
            )
        if fault == "rate_limit":
            return rate_limited()
        if fault == "anti_bot":
            return Response(
                403,
                _CHALLENGE.encode(),
                [
                    ("Content-Type", HTML_TYPE),
                    ("cf-mitigated", "challenge"),
                    ("Server", "cloudflare"),
                ],
            )
        raise ValueError(f"fault {fault!r} is not an HTTP answer")
