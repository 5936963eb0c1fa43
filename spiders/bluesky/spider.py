"""Bluesky through the public XRPC API, logged out: the AppView, the author's PDS, the PLC.

Listing work for an ``account`` target: ``app.bsky.feed.getAuthorFeed`` on the
*cached* AppView (``BLUESKY_PUBLIC_URL``), walked by ``cursor`` for
``BLUESKY_MAX_PAGES`` pages; reposts are someone else's posts and are left out.
The cache lags, so every entry is read again on the uncached AppView (``getPosts``)
and listed as that answer shows it (one it omits is not listed). A feed answering
``Profile not found`` is followed by ``getProfile`` on the uncached AppView to learn
why (``AccountTakedown``, ``AccountDeactivated``).

Probe work is batched, 25 posts a ``getPosts`` request on the *uncached* AppView
(``BLUESKY_APPVIEW_URL``): every verdict comes from it, never from the cache. A post
the batch leaves out is probed alone: ``getPostThread``; on ``NotFound`` the
account (``getProfile``), then the PLC directory (``BLUESKY_PLC_URL``) for the
author's PDS, its ``getRepoStatus`` and ``getRecord`` decide (:mod:`.checks`):
record gone from the PDS too → deleted by the author; still served → an AppView
takedown. A post key naming its author by handle is resolved to a DID first.

Hosts: each setting when set; for a target whose base_url is a mirror (not
``public.api.bsky.app``), ``<base_url>/public``, ``/appview`` and ``/plc``; else
Bluesky's own. Every answer is first read for a block (``words.py``);
``ratelimit-remaining: 0`` or a 429 pauses the host until ``ratelimit-reset``.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from scrapy.http import Request, Response

from monitor.labels import MAX_LABELS
from monitor.observation import Outcome, PostContent
from monitor.platform import join_base

from .. import fields as f
from ..base import Batch, Job, MonitorSpider, Output
from ..politeness import host_key, registry_for
from .answers import Answer, answer_error, ratelimit_wait, read_answer
from .checks import PdsChecks
from .parse import is_repost, labels, post_view
from .platform import BASE_URL, actor, post_uri, split_uri
from .words import (
    ACCEPT_LABELERS,
    MOD_LABELER,
    POST_COLLECTION,
)

logger = logging.getLogger(__name__)

#: Where each host is when neither its setting nor a mirror base_url says (notes §0).
DEFAULT_HOSTS = {"public": BASE_URL, "appview": "https://api.bsky.app",
                 "plc": "https://plc.directory"}
#: The HTTP status of every XRPC error (notes §10).
XRPC_ERROR_STATUS = 400
#: Posts a ``thread`` target's listing reads (the anchor and its replies).
MAX_THREAD_POSTS = 200
#: Most URIs one ``getPosts`` request takes (its lexicon's limit).
GET_POSTS_MAX = 25


class BlueskySpider(PdsChecks, MonitorSpider):
    """Author feeds (listing) and posts (batched probes, then one by one)."""

    name = "bluesky"
    platform = "bluesky"
    probe_batch = GET_POSTS_MAX
    second_signals = ("profile", "plc", "repo_status", "record")
    custom_settings = {"BLUESKY_PUBLIC_URL": "", "BLUESKY_APPVIEW_URL": "",
                       "BLUESKY_PLC_URL": "", "BLUESKY_LABELERS": [],
                       "BLUESKY_MAX_PAGES": 2, "BLUESKY_PAGE_SIZE": 50,
                       "BLUESKY_THREAD_DEPTH": 6}


    # --- hosts and settings -------------------------------------------------------

    def host(self, job: Job, setting: str, part: str) -> str:
        """A host's URL: its setting when set; for a target whose base_url is a
        mirror (not Bluesky's public AppView), ``<base_url>/<part>`` (the mirror
        layout: ``public``, ``appview``, ``plc``); else the setting's default."""
        value = str(self.settings.get(setting) or "")
        base = (job.item.base_url or BASE_URL).rstrip("/")
        if not value and base != BASE_URL:
            return f"{base}/{part}"
        return (value or DEFAULT_HOSTS[part]).rstrip("/")

    def public_url(self, job: Job) -> str:
        return self.host(job, "BLUESKY_PUBLIC_URL", "public")

    def appview_url(self, job: Job) -> str:
        return self.host(job, "BLUESKY_APPVIEW_URL", "appview")

    def plc_url(self, job: Job) -> str:
        return self.host(job, "BLUESKY_PLC_URL", "plc")

    def labelers(self) -> list[str]:
        """Labeler DIDs whose labels are asked for inline (Bluesky's own first)."""
        listed = [v.strip() for v in self.settings.getlist("BLUESKY_LABELERS")]
        return [MOD_LABELER, *(d for d in listed if d.startswith("did:") and d != MOD_LABELER)]

    def xrpc(self, job: Job, base: str, method: str, params: dict[str, Any], step: Any,
             name: str | None = None, **kwargs: Any) -> Request:
        url = join_base(base, f"xrpc/{method}?{urlencode(params, doseq=True)}")
        headers = {ACCEPT_LABELERS: ", ".join(self.labelers()), "Accept": "application/json"}
        if name is not None:
            return self.follow_up(job, url, step, name, headers=headers)
        return self.request(job, url, step, headers=headers, **kwargs)

    def read(self, response: Response, scopes: dict[str, Any] | None = None) -> Answer:
        """Read an answer, pausing its host when its rate-limit window is used up."""
        answer = read_answer(response, scopes, now=self._clock().now().timestamp())
        wait = ratelimit_wait(response, answer.outcome is Outcome.RATE_LIMITED,
                              now=self._clock().now().timestamp())
        crawler = getattr(self, "crawler", None)
        if wait is not None and crawler is not None and response.request is not None:
            registry_for(crawler).pause(host_key(response.request), wait)
        return answer

    def status_outcome(self, response: Response) -> Outcome | None:
        """An XRPC error (HTTP 400 with a JSON ``error``) is the platform's answer, read
        by the words table, not a malformed one: follow-ups get to read it."""
        if response.status == XRPC_ERROR_STATUS and answer_error(response):
            return None
        return super().status_outcome(response)

    def ended(self, job: Job, response: Response, answer: Answer, **fields: Any) -> Any:
        signals = {**job.state.get("signals", {}), **answer.signals, **fields.pop("signals", {})}
        fields.setdefault("detail", answer.detail)
        return self.conclude(job, answer.outcome or Outcome.MALFORMED, response,
                             message=answer.message, signals=signals, **fields)

    # --- work intake --------------------------------------------------------------

    def start_job(self, job: Job) -> Output:
        item = job.item
        job.state["signals"] = {}
        who = actor(item.url)
        if item.mode == "listing" and who is not None:
            job.state.update(actor=who, pages=0, entries=[], skipped=0, skipped_keys=[])
            return [self._feed_page(job, None)]
        uri = post_uri(item.post_key or "") or post_uri(item.url)
        if uri is None:
            return [self.conclude(job, Outcome.MALFORMED,
                                  detail=f"not a Bluesky account or post: {item.url!r}")]
        repo, rkey = split_uri(uri)
        job.state.update(uri=uri, repo=repo, rkey=rkey, thread=item.mode == "listing"
                         and item.target_key.startswith(f"{self.platform}:thread:"))
        if not repo.startswith("did:"):  # a handle: its DID first
            return [self.xrpc(job, self.appview_url(job), "com.atproto.identity.resolveHandle",
                              {"handle": repo}, self.parse_handle)]
        return [self._thread(job)]

    # --- listing ------------------------------------------------------------------

    def _feed_page(self, job: Job, cursor: str | None) -> Request:
        params: dict[str, Any] = {"actor": job.state["actor"],
                                  "limit": self.settings.getint("BLUESKY_PAGE_SIZE"),
                                  "filter": "posts_with_replies"}
        if cursor:
            params["cursor"] = cursor
        return self.xrpc(job, self.public_url(job), "app.bsky.feed.getAuthorFeed", params,
                         self.parse_feed, on_error=self.feed_failed)

    def parse_feed(self, response: Response, job: Job) -> Output:
        state = job.state
        answer = self.read(response)
        if answer.outcome is not None:
            if state["pages"]:
                yield self._listing(job, complete=False, detail=f"page {state['pages'] + 1}: "
                                    f"{answer.detail}")
            elif answer.outcome.absent:
                # Profile not found: taken down, deactivated, deleted? Ask getProfile.
                self.hold(job, answer.outcome, response, message=answer.message,
                          detail=answer.detail, signals=dict(answer.signals))
                yield self.xrpc(job, self.appview_url(job), "app.bsky.actor.getProfile",
                                {"actor": state["actor"]}, self.parse_profile, "profile")
            else:
                yield self.ended(job, response, answer)
            return
        assert answer.data is not None
        if not state["pages"]:
            state["primary"] = response
        state["pages"] += 1
        labelers = self.labelers()
        for item in f.items(answer.data.get("feed"))[:100]:
            if is_repost(item):
                continue
            post = post_view(f.obj(item).get("post"), labelers)
            if post is None:
                state["skipped"] += 1
                key = post_uri(str(f.obj(f.obj(item).get("post")).get("uri") or ""))
                if key:
                    state["skipped_keys"].append(key)
                continue
            state["entries"].append(post)
        cursor = f.text(answer.data.get("cursor"))
        if cursor and len(cursor) < 512 and state["pages"] < self.settings.getint(
                "BLUESKY_MAX_PAGES"):
            yield self._feed_page(job, cursor)
            return
        state["signals"]["listing_end"] = cursor is None
        yield self._listing(job)

    def feed_failed(self, exc: BaseException, job: Job, request: Request) -> Output:
        if not job.state["pages"]:
            return [self.failure_observation(exc, job, request)]
        return [self._listing(job, complete=False,
                              detail=f"page {job.state['pages'] + 1}: {type(exc).__name__}")]

    def _listing(self, job: Job, complete: bool = True, detail: str | None = None) -> Any:
        """The walk is over: confirm its entries on the uncached AppView, then conclude."""
        job.state.update(complete=complete, detail=detail, confirmed={},
                         unconfirmed=[e.key for e in job.state["entries"]])
        return self._confirm(job)

    def _confirm(self, job: Job) -> Any:
        """The cached host's feed is a list of candidates: each entry is read again
        from the uncached AppView (``getPosts``, 25 a request), and listed as *that*
        answer shows it; an entry it omits is not listed (the core then probes it)."""
        state = job.state
        if state["unconfirmed"]:
            chunk, state["unconfirmed"] = (state["unconfirmed"][:GET_POSTS_MAX],
                                           state["unconfirmed"][GET_POSTS_MAX:])
            params = urlencode({"uris": chunk}, doseq=True)
            url = join_base(self.appview_url(job), f"xrpc/app.bsky.feed.getPosts?{params}")
            return self.request(job, url, self.parse_confirm, on_error=self.confirm_failed,
                                headers={ACCEPT_LABELERS: ", ".join(self.labelers())})
        confirmed = state["confirmed"]
        dropped = [e.key for e in state["entries"] if e.key not in confirmed]
        state["entries"] = [confirmed[e.key] for e in state["entries"] if e.key in confirmed]
        if dropped:
            state["signals"]["unconfirmed_keys"] = dropped[:100]
        state["label_queries"] = [
            (url, [e.key for e in state["entries"]][i:i + GET_POSTS_MAX])
            for url in self.labeler_urls() for i in range(0, len(state["entries"]),
                                                          GET_POSTS_MAX)]
        return self._next_labels(job)

    def labeler_urls(self) -> list[str]:
        """Labelers of ``BLUESKY_LABELERS`` given by URL: asked with ``queryLabels``."""
        return [u.strip().rstrip("/") for u in self.settings.getlist("BLUESKY_LABELERS")
                if u.strip().startswith(("http://", "https://"))][:10]

    def _next_labels(self, job: Job) -> Any:
        """Ask each listed labeler URL for the labels of the listed posts, then conclude.
        A labeler that fails is left out of this reading (``labelers_failed``): a label
        missing from a reading is never a retraction."""
        queries = job.state["label_queries"]
        if not queries:
            return self._conclude_listing(job)
        url, uris = queries.pop(0)
        return self.xrpc(job, url, "com.atproto.label.queryLabels",
                         {"uriPatterns": uris, "limit": 250}, self.parse_labels,
                         on_error=self.labels_failed, meta={"labeler": url})

    def parse_labels(self, response: Response, job: Job) -> Output:
        answer = self.read(response)
        if answer.outcome is not None or answer.data is None:
            return self.labels_failed(None, job, response.request)
        raw = f.items(answer.data.get("labels"))[:MAX_LABELS * 4]
        sources = {f.text(f.obj(lab).get("src")) for lab in raw} - {None}
        for entry in job.state["entries"]:
            found = labels(raw, entry.key, entry.author, sources)  # type: ignore[arg-type]
            if found:
                have = entry.extra.setdefault("labels", [])
                have.extend(x for x in found if (x["labeler"], x["value"]) not in {
                    (h["labeler"], h["value"]) for h in have})
        return [self._next_labels(job)]

    def labels_failed(self, exc: BaseException | None, job: Job,
                      request: Request | None) -> Output:
        labeler = request.meta.get("labeler") if request is not None else None
        job.state["signals"].setdefault("labelers_failed", []).append(labeler)
        return [self._next_labels(job)]

    def parse_confirm(self, response: Response, job: Job) -> Output:
        answer = self.read(response)
        if answer.outcome is not None or answer.data is None:
            # Unconfirmed entries are no listing: the walk ends with this answer.
            yield self.ended(job, response, answer, detail=f"confirming the feed on the "
                             f"uncached AppView: {answer.detail}")
            return
        labelers, wanted = self.labelers(), {e.key for e in job.state["entries"]}
        for view in f.items(answer.data.get("posts"))[:GET_POSTS_MAX * 2]:
            post = post_view(view, labelers)
            if post is not None and post.key in wanted:
                job.state["confirmed"][post.key] = post
        yield self._confirm(job)

    def confirm_failed(self, exc: BaseException, job: Job, request: Request) -> Output:
        return [self.failure_observation(exc, job, request)]

    def _conclude_listing(self, job: Job) -> Any:
        state = job.state
        complete, detail = state["complete"], state["detail"]
        signals = dict(state["signals"])
        if not complete:
            signals["listing_end"] = False
        if state["skipped"]:
            signals["skipped_entries"] = state["skipped"]
            signals["skipped_keys"] = list(state["skipped_keys"])
        return self.conclude(job, Outcome.OK, state.get("primary"), entries=state["entries"],
                             complete=complete, detail=detail, signals=signals)

    def parse_profile(self, response: Response, job: Job) -> Output:
        answer = self.read(response)
        if answer.outcome is not None and answer.outcome.absent \
                and str(answer.signals.get("notice", "")).startswith("account_"):
            job.state["held"] = (answer.outcome, {"message": answer.message,
                                                  "signals": dict(answer.signals)})
        elif answer.outcome is not None and answer.outcome.transient:
            self.second_signal_failed(job, f"profile: {answer.detail}")
        yield self.finish(job)

    # --- one post -----------------------------------------------------------------

    def parse_handle(self, response: Response, job: Job) -> Output:
        answer = self.read(response)
        did = f.text((answer.data or {}).get("did"))
        if answer.outcome is not None or did is None or not did.startswith("did:"):
            # A handle that no longer resolves says nothing about the post.
            outcome = answer.outcome if answer.outcome and answer.outcome.transient \
                else Outcome.MALFORMED
            yield self.conclude(job, outcome, response, signals=answer.signals,
                                detail=f"handle {job.state['repo']!r} did not resolve")
            return
        job.state["repo"] = did[:300]
        job.state["uri"] = f"at://{job.state['repo']}/{POST_COLLECTION}/{job.state['rkey']}"
        job.state["signals"]["resolved_did"] = job.state["repo"]
        yield self._thread(job)

    def _thread(self, job: Job) -> Request:
        depth = self.settings.getint("BLUESKY_THREAD_DEPTH") if job.state["thread"] else 0
        return self.xrpc(job, self.appview_url(job), "app.bsky.feed.getPostThread",
                         {"uri": job.state["uri"], "depth": depth, "parentHeight": 0},
                         self.parse_thread)

    def parse_thread(self, response: Response, job: Job) -> Output:
        answer = self.read(response)
        if answer.outcome is None and answer.data is not None:
            thread = f.obj(answer.data.get("thread"))
            post = post_view(thread.get("post"), self.labelers())
            if post is not None and post.key == job.state["uri"]:
                if job.state["thread"]:
                    yield self._thread_listing(job, response, post, thread)
                    return
                yield self._ok(job, response, post)
                return
            answer.outcome = Outcome.MALFORMED
            answer.detail = "the thread holds no readable post (blocked or another post)"
        if answer.outcome is Outcome.NOT_FOUND and answer.hit is not None \
                and answer.error is not None:
            # The AppView's "gone" does not say who: the account, then the PDS.
            self.hold(job, answer.outcome, response, message=answer.message,
                      detail=answer.detail, signals=dict(answer.signals))
            yield self.xrpc(job, self.appview_url(job), "app.bsky.actor.getProfile",
                            {"actor": job.state["repo"]}, self.parse_post_profile, "profile")
            return
        yield self.ended(job, response, answer)

    def _thread_listing(self, job: Job, response: Response, anchor: PostContent,
                        thread: dict[str, Any]) -> Any:
        """A ``thread`` target's listing: the anchor post, then its replies breadth
        first (at most MAX_THREAD_POSTS). A reply the AppView took down is dropped
        from ``replies`` silently: it is missing, and the core probes it. Replies it
        shows as not found or blocked are skipped, never counted as absent."""
        entries, skipped, labelers = [anchor], 0, self.labelers()
        skipped_keys: list[str] = []
        level = f.items(thread.get("replies"))
        while level and len(entries) < MAX_THREAD_POSTS:
            below: list[Any] = []
            for node in level[:MAX_THREAD_POSTS]:
                reply = post_view(f.obj(node).get("post"), labelers)
                if reply is None:
                    skipped += 1
                    key = post_uri(str(f.obj(node).get("uri") or "")[:1024])
                    if key:
                        skipped_keys.append(key)
                    continue
                if len(entries) < MAX_THREAD_POSTS and reply.key not in {
                        e.key for e in entries}:
                    entries.append(reply)
                below.extend(f.items(f.obj(node).get("replies"))[:MAX_THREAD_POSTS])
            level = below
        signals = dict(job.state["signals"])
        if skipped:
            signals.update(skipped_entries=skipped, skipped_keys=skipped_keys[:100])
        return self.conclude(job, Outcome.OK, response, post=anchor, entries=entries,
                             signals=signals)

    def _ok(self, job: Job, response: Response | None, post: PostContent) -> Any:
        fields: dict[str, Any] = {"post": post}
        if job.item.mode == "listing":
            fields["entries"] = [post]
        return self.conclude(job, Outcome.OK, response, signals=job.state["signals"],
                             **fields)

    # --- batched probes -----------------------------------------------------------

    def batch_scope(self, job: Job) -> str:
        return self.appview_url(job)

    def start_batch(self, batch: Batch) -> Output:
        for job in batch.jobs:
            job.state["signals"] = {}
        params = urlencode({"uris": batch.keys}, doseq=True)
        url = join_base(self.appview_url(batch.jobs[0]), f"xrpc/app.bsky.feed.getPosts?{params}")
        return [self.batch_request(batch, url, self.parse_batch,
                                   headers={ACCEPT_LABELERS: ", ".join(self.labelers())})]

    def parse_batch(self, response: Response, batch: Batch) -> Output:
        answer = self.read(response)
        if answer.outcome is not None:
            if answer.outcome.transient:
                return self.conclude_all(batch, answer.outcome, response,
                                         detail=answer.detail, signals=dict(answer.signals))
            return []  # any other answer says nothing of each post: each probed alone
        assert answer.data is not None
        out: list[Any] = []
        labelers = self.labelers()
        for view in f.items(answer.data.get("posts"))[:GET_POSTS_MAX * 2]:
            post = post_view(view, labelers)
            job = batch.take(post.key if post is not None else None)
            if job is None or post is None:
                continue  # not asked, already answered, or unreadable: probed alone
            out.append(self.conclude_item(batch, job, Outcome.OK, response, view, post=post,
                                          signals=job.state["signals"]))
        return out
