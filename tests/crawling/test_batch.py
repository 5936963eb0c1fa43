"""Batched probes against a Reddit ``/api/info``-shaped mock: real crawls, 127.0.0.1 only.

Each post of a batch ends in its own Observation; a post the batch answer
leaves out is probed on its own, and only that probe decides its outcome.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import pytest
from batchspider import InfoSpider, run_crawl, settings
from crawl_helpers import routes
from mockserver import Canned, InfoApi, MockServer

from monitor.observation import Observation, Outcome, WorkItem, body_hash
from spiders.batch import Batch, item_hash


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer() as srv:
        yield srv


def fullname(i: int) -> str:
    return f"t3_p{i:04d}"


def post(i: int, **more: object) -> dict[str, object]:
    return {"name": fullname(i), "id": f"p{i:04d}", "title": f"title {i}",
            "selftext": f"body of post {i}", "author": f"user{i % 7}", **more}


def probe(server: MockServer, i: int, key: str | None = None) -> WorkItem:
    name = fullname(i)
    return WorkItem(mode="probe", platform="infotest", target_key=key or f"t{i}",
                    url=server.url(f"/by_id/{name}.json"), base_url=server.base,
                    post_key=name, row_id=i)


def api(server: MockServer, n: int, **options: object) -> InfoApi:
    return InfoApi(posts={fullname(i): post(i) for i in range(n)}, **options).install(server)


def by_key(observations: list[Observation]) -> dict[str, Observation]:
    assert len({o.target_key for o in observations}) == len(observations), "duplicates"
    return {o.target_key: o for o in observations}


def test_250_probes_are_3_batch_requests_and_250_observations(server):
    info = api(server, 250)
    got, stats = run_crawl(InfoSpider, [probe(server, i) for i in range(250)],
                           MONITOR_MAX_IN_FLIGHT=300)
    # The three batches are in flight together: they reach the server in any order.
    assert sorted(len(b) for b in info.batches) == [50, 100, 100]
    assert server.hits["/api/info"] == 3 and info.singles == []
    assert sorted(sum(info.batches, [])) == [fullname(i) for i in range(250)]
    assert stats["observations/count"] == 250
    seen = by_key(got)
    assert len(seen) == 250
    for i in range(250):
        obs = seen[f"t{i}"]
        assert obs.outcome is Outcome.OK and obs.mode == "probe"
        assert obs.post is not None and obs.post.key == fullname(i)
        assert obs.post.text == f"body of post {i}"  # its own content, not a neighbour's
        assert (obs.post_key, obs.row_id) == (fullname(i), i)
        assert obs.http_status == 200 and obs.final_url is not None
        assert "/api/info?id=" in obs.final_url and fullname(i) in obs.final_url
        assert obs.signals["batch_size"] == (50 if i >= 200 else 100)


def test_each_post_has_its_own_item_hash_and_shares_the_batch_evidence(server):
    info = api(server, 5)
    got, _ = run_crawl(InfoSpider, [probe(server, i) for i in range(5)])
    assert len(info.batches) == 1
    hashes = {o.post_key: o.signals["item_hash"] for o in got}
    assert len(set(hashes.values())) == 5
    for i in range(5):
        canonical = json.dumps({"kind": "t3", "data": post(i)}, sort_keys=True,
                               separators=(",", ":"), ensure_ascii=False).encode()
        assert hashes[fullname(i)] == hashlib.sha256(canonical).hexdigest()
    # The body hash is the batch response's, the same for all five.
    answer = InfoApi.listing([InfoApi.child(post(i)) for i in range(5)])
    assert {o.body_hash for o in got} == {body_hash(answer)}
    # And one raw capture, built once for the answer and carried by all five.
    assert got[0].capture is not None and got[0].capture.body == answer
    assert all(o.capture is got[0].capture for o in got)


def test_posts_left_out_of_a_batch_answer_are_probed_alone(server):
    # p0003 is gone (the batch leaves it out, its own page is 404); p0007 is
    # left out of the batch answer but its own page still serves it.
    info = api(server, 10, omit={fullname(7)})
    del info.posts[fullname(3)]
    got, _ = run_crawl(InfoSpider, [probe(server, i) for i in range(10)])
    assert len(info.batches) == 1
    assert sorted(info.singles) == [fullname(3), fullname(7)]
    seen = by_key(got)
    assert len(seen) == 10
    gone, back = seen["t3"], seen["t7"]
    assert gone.outcome is Outcome.NOT_FOUND and gone.http_status == 404
    assert gone.final_url == server.url(f"/by_id/{fullname(3)}.json")
    assert "batch_size" not in gone.signals  # decided by its own probe, not the batch
    assert back.outcome is Outcome.OK and back.post is not None
    assert back.post.key == fullname(7) and back.final_url == server.url(
        f"/by_id/{fullname(7)}.json")
    assert all(seen[f"t{i}"].outcome is Outcome.OK for i in range(10) if i not in (3, 7))


def test_an_unreadable_item_is_probed_alone(server):
    info = api(server, 4)
    info.posts[fullname(2)] = {**post(2), "unreadable": True}
    info.single_status[fullname(2)] = 503
    got, _ = run_crawl(InfoSpider, [probe(server, i) for i in range(4)])
    assert info.singles == [fullname(2)]
    seen = by_key(got)
    # Its single probe answered 503: transient, never a deletion.
    assert seen["t2"].outcome is Outcome.SERVER_ERROR
    assert [seen[f"t{i}"].outcome for i in (0, 1, 3)] == [Outcome.OK] * 3


@pytest.mark.parametrize(
    ("options", "outcome"),
    [({"status": 503}, Outcome.SERVER_ERROR),
     ({"status": 429}, Outcome.RATE_LIMITED),
     ({"delay": 2.0}, Outcome.TIMEOUT)],
    ids=["503", "429", "timeout"],
)
def test_a_failed_batch_makes_every_job_transient(server, options, outcome):
    info = api(server, 6, **options)
    got, _ = run_crawl(InfoSpider, [probe(server, i) for i in range(6)],
                       config=settings(download_timeout=1))
    assert len(info.batches) == 1 and info.singles == []
    seen = by_key(got)
    assert len(seen) == 6
    for obs in seen.values():
        assert obs.outcome is outcome and obs.outcome.transient
        assert obs.signals["batch_size"] == 6
        assert obs.final_url is not None and "/api/info?id=" in obs.final_url


def test_a_batch_endpoint_that_answers_404_says_nothing_about_each_post(server):
    info = api(server, 4, status=404)
    del info.posts[fullname(1)]
    got, _ = run_crawl(InfoSpider, [probe(server, i) for i in range(4)])
    assert len(info.batches) == 1
    assert sorted(info.singles) == [fullname(i) for i in range(4)]
    seen = by_key(got)
    assert seen["t1"].outcome is Outcome.NOT_FOUND
    assert seen["t1"].final_url == server.url(f"/by_id/{fullname(1)}.json")
    assert [seen[f"t{i}"].outcome for i in (0, 2, 3)] == [Outcome.OK] * 3


def test_a_hostile_answer_never_concludes_someone_elses_job(server):
    stranger = {"name": fullname(99), "selftext": "not asked"}
    info = api(server, 5, duplicate=True,
               extra=[InfoApi.child(stranger), InfoApi.child({**post(0), "selftext": "late"}),
                      "not a child", None, {"kind": "t3", "data": "text"},
                      InfoApi.child({"name": ["t3_p0001"]})])
    # The first (only) answer for p0004 is unreadable; its later duplicate must
    # not count, so it is probed alone.
    info.posts[fullname(4)] = {**post(4), "unreadable": True}
    got, _ = run_crawl(InfoSpider, [probe(server, i) for i in range(5)])
    assert len(info.batches) == 1 and info.singles == [fullname(4)]
    seen = by_key(got)
    assert set(seen) == {f"t{i}" for i in range(5)}
    for i in range(4):
        obs = seen[f"t{i}"]
        assert obs.outcome is Outcome.OK and obs.post is not None
        assert obs.post.key == fullname(i)
        assert obs.post.text == f"body of post {i}"  # the first answer wins
        assert obs.signals["item_hash"] == item_hash(InfoApi.child(post(i)))
    # Decided by its own probe (whose page is unreadable too): transient.
    assert seen["t4"].outcome is Outcome.MALFORMED
    assert seen["t4"].final_url == server.url(f"/by_id/{fullname(4)}.json")


def test_a_step_that_raises_concludes_every_open_job_as_malformed(server):
    info = api(server, 5)
    info.posts[fullname(2)] = {**post(2), "boom": True}
    got, _ = run_crawl(InfoSpider, [probe(server, i) for i in range(5)])
    assert len(info.batches) == 1 and info.singles == []
    seen = by_key(got)
    # What was concluded before the bug stands; the rest is malformed.
    assert [seen[f"t{i}"].outcome for i in range(5)] == [
        Outcome.OK, Outcome.OK, Outcome.MALFORMED, Outcome.MALFORMED, Outcome.MALFORMED]
    assert "a parser bug" in (seen["t3"].detail or "")
    assert seen["t3"].http_status == 200 and seen["t3"].signals["batch_size"] == 5


def test_an_unparseable_batch_answer_is_malformed_for_all(server):
    info = api(server, 3, body=b'{"kind": "Listing", "data": {')
    got, _ = run_crawl(InfoSpider, [probe(server, i) for i in range(3)])
    assert len(info.batches) == 1 and info.singles == []
    assert [o.outcome for o in got] == [Outcome.MALFORMED] * 3


def test_a_job_the_step_forgets_is_still_answered_at_idle(server):
    info = api(server, 3)
    info.posts[fullname(1)] = {**post(1), "forget": True}
    got, _ = run_crawl(InfoSpider, [probe(server, i) for i in range(3)])
    seen = by_key(got)
    assert seen["t1"].outcome is Outcome.CONNECTION_ERROR
    assert [seen["t0"].outcome, seen["t2"].outcome] == [Outcome.OK, Outcome.OK]


def test_grouping_does_not_wait_for_slow_work(server):
    info = api(server, 5)
    delivered = asyncio.Event()
    count = 0

    def sink(obs: Observation) -> None:
        nonlocal count
        count += 1
        if count == 3:
            delivered.set()

    async def work() -> AsyncIterator[WorkItem]:
        for i in range(3):
            yield probe(server, i)
        # More work comes only after the first three were observed: a grouper
        # that waited for a full batch would never get there.
        await asyncio.wait_for(delivered.wait(), timeout=10)
        for i in range(3, 5):
            yield probe(server, i)

    got, _ = run_crawl(InfoSpider, work(), sink=sink)
    assert info.batches == [[fullname(i) for i in range(3)], [fullname(3), fullname(4)]]
    assert len(got) == 5 and all(o.outcome is Outcome.OK for o in got)


def test_in_flight_bound_holds_items_not_batches(server):
    info = api(server, 100)
    produced = delivered = worst = 0

    def work() -> Iterator[WorkItem]:
        nonlocal produced, worst
        for i in range(100):
            worst = max(worst, produced - delivered)
            produced += 1
            yield probe(server, i)

    def sink(obs: Observation) -> None:
        nonlocal delivered
        delivered += 1

    got, _ = run_crawl(InfoSpider, work(), sink=sink, MONITOR_MAX_IN_FLIGHT=30)
    assert len(got) == 100
    assert all(len(b) <= 30 for b in info.batches) and len(info.batches) >= 4
    assert worst <= 30


def test_listings_are_never_batched_and_one_post_twice_gets_two_answers(server):
    info = api(server, 4)
    server.route("/listing", Canned(200, b"{}", {"Content-Type": "application/json"}))
    listing = WorkItem(mode="listing", platform="infotest", target_key="L",
                       url=server.url("/listing"), base_url=server.base)
    work = [probe(server, 0), listing, probe(server, 1), probe(server, 1, key="again"),
            probe(server, 2), listing, probe(server, 3)]
    got, _ = run_crawl(InfoSpider, work)
    assert server.hits["/listing"] == 2
    assert all("L" not in b for b in info.batches)
    asked = Counter(sum(info.batches, []))
    assert asked[fullname(1)] == 2 and all(max(Counter(b).values()) == 1 for b in info.batches)
    assert len(got) == 7
    again = [o for o in got if o.target_key in ("t1", "again")]
    assert [o.outcome for o in again] == [Outcome.OK, Outcome.OK]


def test_batches_do_not_mix_servers(server):
    with MockServer() as other:
        mine, theirs = api(server, 3), api(other, 3)
        work = [probe(server, 0), probe(other, 1, key="o1"), probe(server, 2),
                probe(other, 2, key="o2")]
        got, _ = run_crawl(InfoSpider, work)
    assert len(got) == 4 and all(o.outcome is Outcome.OK for o in got)
    for info in (mine, theirs):
        assert all(len(b) == 1 for b in info.batches)
    # Each server is asked for its own posts only; one-item batches may arrive in
    # either order (they are concurrent requests).
    assert sorted(sum(mine.batches, [])) == [fullname(0), fullname(2)]
    assert sorted(sum(theirs.batches, [])) == [fullname(1), fullname(2)]


# --- the Batch bookkeeping, in memory -------------------------------------------


def test_batch_take_answers_each_asked_key_once():
    from spiders.base import Job

    jobs = [Job(WorkItem(mode="probe", platform="x", target_key=str(i), url=str(i)))
            for i in range(3)]
    batch = Batch(jobs, ["a", "b", "c"])
    assert batch.take("b") is jobs[1]
    assert batch.take("b") is None  # a duplicate
    assert batch.take("z") is None and batch.take(None) is None and batch.take(["a"]) is None
    assert batch.take("a") is jobs[0]
    batch.alone(jobs[0])  # its item was unreadable
    # a: taken but unreadable; c: left out. b: taken, its step's business.
    assert batch.leftovers() == [jobs[0], jobs[2]]
    assert batch.open() == [jobs[1], jobs[2]]
    assert len(batch) == 3
    # A job set to go alone before the answer is never answered by it.
    other = Batch(jobs[:2], ["a", "b"])
    other.alone(jobs[1])
    assert other.take("b") is None and other.leftovers() == [jobs[0], jobs[1]]


def test_item_hash_is_canonical():
    assert item_hash({"b": 1, "a": "é"}) == item_hash({"a": "é", "b": 1})
    assert item_hash({"a": 1}) != item_hash({"a": 2})
    assert item_hash(b"raw") == hashlib.sha256(b"raw").hexdigest() == item_hash("raw")


# --- the base's exactly-one promise when a step fails after concluding ----------


class _Late(InfoSpider):
    """Concludes, then fails: in its main step, or in a follow-up's step."""

    name = "late"
    second_signals = ("account",)

    def parse_single(self, response, job):  # type: ignore[no-untyped-def]
        if "follow" in job.item.url:
            self.hold(job, Outcome.NOT_FOUND, response)
            yield self.follow_up(job, job.item.url + "/account", self.parse_account, "account")
            return
        yield self.conclude(job, Outcome.OK, response)
        raise RuntimeError("after the fact")

    def parse_account(self, response, job):  # type: ignore[no-untyped-def]
        yield self.finish(job)
        raise RuntimeError("after the fact")


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "http://127.0.0.1:9/follow"])
def test_a_step_that_fails_after_concluding_keeps_its_observation(driver_for, url):

    item = WorkItem(mode="probe", platform="infotest", target_key="k", url=url)
    (obs,) = driver_for(_Late).run(item, routes({"/account": (200, "{}", {}),
                                                 "/": (404 if "follow" in url else 200, "", {})}))
    if "follow" in url:
        assert obs.outcome is Outcome.NOT_FOUND
        assert obs.signals["followups"] == [{"name": "account", "url": url + "/account",
                                             "status": 200}]
    else:
        assert obs.outcome is Outcome.OK
