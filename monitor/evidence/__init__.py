"""Evidence bundles: per-event manifests, RFC 3161 timestamps and offline checks.

``manifest`` (what a bundle says), ``bundle`` (the zip), ``verify`` (checking a
bundle offline), ``tsa`` (the RFC 3161 client and token checks) are pure;
``collect`` gathers an event's evidence from the database (SQL in
:mod:`monitor.db.evidence`), ``stamping`` is the chore that freezes and stamps
manifests.
"""

from __future__ import annotations

__all__ = ["bundle", "collect", "manifest", "stamping", "tsa", "verify"]
