"""Bluesky's words: what the AppView, the PDS and the PLC directory say, and what each means.

One row per fact (:class:`monitor.platform.Rule`), named ``bluesky.<scope>.<what>``
and recorded as ``signals["fingerprint"]`` when it decides an outcome. The first
matching row wins, so the order is the precedence. Scopes:

- ``status``, ``title``, ``page_text``, ``error_code``: the answer itself. HTTP 429,
  ``RateLimitExceeded``, a 401/403, ``Request forbidden by administrative rules.``,
  an HTML ``403 Forbidden`` page and ``AuthMissing`` are about the collector, never
  the post or the account (notes §0, §9).
- ``error_code``: the XRPC ``error`` name of a 400 (notes §3–§5, §10):
  ``AccountTakedown``/``AccountDeactivated`` from ``getProfile``, ``NotFound`` from
  ``getPostThread``, ``RecordNotFound`` and ``Repo*`` from the PDS.
- ``page_text``: the XRPC ``message``: ``Profile not found`` (an account that does
  not resolve, or is taken down, deactivated or deleted: ask ``getProfile``).
- ``account_status``: ``com.atproto.sync.getRepoStatus``'s ``status`` on the PDS.
- ``profile_status``: the PLC directory's HTTP status for the author's DID.
- ``json:value.$type``: the author's PDS still serves the post record the AppView
  forgot (HTTP 200, a post record): an AppView takedown (notes §5 table row 1).
"""

from __future__ import annotations

from monitor.platform import Rule

BLOCKED, LIMITED = "collector_blocked", "rate_limited"
GONE, MISSING = "unavailable", "not_found"
NOTES = "platform notes: bluesky.md"

#: Bluesky's own moderation service (``mod.bsky.app``): its labels are platform
#: moderation; every other labeler's are a third party's opinion (notes §6).
MOD_LABELER = "did:plc:ar7c4by46qjdydhdevvrndac"
#: A label that retracts an earlier one with the same source and value (notes §6).
NEG_FIELD = "neg"
#: The request header naming the labelers whose labels the AppView returns inline.
ACCEPT_LABELERS = "atproto-accept-labelers"
#: The rate-limit headers of Bluesky hosts (notes §0): left in the window, and when
#: the window resets (Unix seconds).
REMAINING_HEADER, RESET_HEADER = "ratelimit-remaining", "ratelimit-reset"
#: The DID document's PDS service (notes §4): its id suffix and type.
PDS_SERVICE_ID, PDS_SERVICE_TYPE = "#atproto_pds", "AtprotoPersonalDataServer"
#: A feed entry that is a repost: the post belongs to someone else (notes §2).
REPOST_REASON = "app.bsky.feed.defs#reasonRepost"
#: The collection of posts, in a post's at:// URI.
POST_COLLECTION = "app.bsky.feed.post"
#: Where the PDS's ``getRecord`` answer names the record's type.
RECORD_TYPE = "json:value.$type"


def _rule(scope: str, pattern: str, outcome: str, name: str, notice: str | None = None,
          account_state: str | None = None, match: str = "equal",
          section: str = "") -> Rule:
    return Rule(scope, pattern, outcome, notice, match=match,  # type: ignore[arg-type]
                account_state=account_state, name=f"bluesky.{name}",
                source=f"{NOTES} {section}".strip())


WORDS: tuple[Rule, ...] = (
    # --- the collector, never the content ---------------------------------------------
    _rule("status", "429", LIMITED, "status.rate_limited_429", section="§0"),
    _rule("error_code", "RateLimitExceeded", LIMITED, "code.rate_limit_exceeded",
          section="§9"),
    _rule("page_text", "Request forbidden by administrative rules", BLOCKED,
          "text.forbidden_by_admin_rules", match="contains", section="§0"),
    _rule("title", "403 Forbidden", BLOCKED, "title.html_403", match="contains",
          section="§0"),
    _rule("error_code", "AuthMissing", BLOCKED, "code.auth_missing", section="§0"),
    _rule("error_code", "AuthenticationRequired", BLOCKED, "code.auth_required",
          section="§0"),
    _rule("status", "401", BLOCKED, "status.unauthorised_401", section="§0"),
    _rule("status", "403", BLOCKED, "status.forbidden_403", section="§0"),
    # --- the account (getProfile, the PDS) --------------------------------------------
    _rule("error_code", "AccountTakedown", GONE, "code.account_takedown", "account_suspended",
          "suspended", section="§4"),
    _rule("error_code", "AccountDeactivated", GONE, "code.account_deactivated",
          "account_deactivated", section="§4"),
    _rule("error_code", "RepoTakendown", GONE, "pds.repo_takendown", "account_suspended",
          "suspended", section="§4"),
    _rule("error_code", "RepoSuspended", GONE, "pds.repo_suspended", "account_suspended",
          "suspended", section="§4"),
    _rule("error_code", "RepoDeactivated", GONE, "pds.repo_deactivated", "account_deactivated",
          section="§4"),
    _rule("error_code", "RepoNotFound", GONE, "pds.repo_not_found", "account_deleted",
          "deleted", section="§4"),
    _rule("account_status", "takendown", GONE, "repo.takendown", "account_suspended",
          "suspended", section="§4"),
    _rule("account_status", "suspended", GONE, "repo.suspended", "account_suspended",
          "suspended", section="§4"),
    _rule("account_status", "deactivated", GONE, "repo.deactivated", "account_deactivated",
          section="§4"),
    _rule("account_status", "deleted", GONE, "repo.deleted", "account_deleted", "deleted",
          section="§4"),
    # A DID the PLC directory tombstoned (HTTP 410 there): the account is deleted.
    _rule("profile_status", "410", GONE, "plc.did_tombstoned", "account_deleted", "deleted",
          section="§5"),
    # --- a post -------------------------------------------------------------------------
    # The PDS no longer has it either: the author deleted it (notes §5, §9).
    # (A notice counts only on an ``unavailable`` answer: monitor.classify.)
    _rule("error_code", "RecordNotFound", GONE, "pds.record_not_found", "deleted_by_author",
          section="§5"),
    # The AppView forgot it, its author's PDS still serves it: an AppView takedown.
    _rule(RECORD_TYPE, POST_COLLECTION, GONE, "pds.record_still_served",
          "removed_by_platform", section="§5"),
    # The AppView's own "gone": deleted, taken down, or its author taken down.
    _rule("error_code", "NotFound", MISSING, "code.post_not_found", "not_found",
          section="§3"),
    _rule("page_text", "Profile not found", MISSING, "text.profile_not_found", "not_found",
          match="contains", section="§4"),
)
