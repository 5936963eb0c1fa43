"""The rows of a large synthetic history, in COPY's text format (``bench/_analyst_data.py``
loads them).

The shape follows a real history (the demo scenario run through the pipeline,
``demo_sample``): six platforms, a few groups, account/feed/subreddit targets and
some single-post targets, posts with 1-3 versions, a few observation runs per
post (first listing, probes, the failing probes of a removal with the platform's
words), and events whose kinds and causes come in the demo's mix (about half
``disappeared``, a fifth ``edited``, a fifth ``restored``, a tenth ``hidden``).
Events spread over two years, denser lately; weibo and rednote posts are in
Chinese, a few others too; words follow Zipf's law, so a searched word matches a
few percent of posts.

Each post gets a story (quiet, edited, removed, removed and restored, hidden...)
and rows for its four tables. Posts come in time order, so ids grow with time as
in a real database.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DAY = 86400.0
#: Platforms and their share of targets (close to the demo's share of events).
PLATFORMS = {"mastodon": 30, "reddit": 21, "rss": 20, "weibo": 11, "rednote": 11,
             "webpage": 7}
#: The listing kind of each platform; webpage targets are single posts.
LISTING_KIND = {"mastodon": "account", "reddit": "subreddit", "rss": "feed",
                "weibo": "account", "rednote": "account", "webpage": "post"}
CHINESE_PLATFORMS = frozenset({"weibo", "rednote"})
#: Causes of a disappearance, weighted as in the demo history.
DISAPPEARED_CAUSES = {"ambiguous": 17, "removed_by_platform": 12, "account_suspended": 10,
                      "deleted_by_author": 5, "removed_by_moderator": 4, "restricted": 1,
                      "account_deleted": 1, "geo_blocked": 1}
#: What the platform said when a post went (the words analysts search for).
WORDS = {
    "mastodon": ["This account is suspended", "The page you are looking for isn't here.",
                 "This post has been removed by moderators"],
    "reddit": ["removed_spam", "[removed]", "[deleted]", "removed_by_moderator",
               "This community has been banned"],
    "rss": ["Not Found", "This article is no longer available", "Gone"],
    "weibo": ["该微博因被投诉违反微博社区公约的相关规定，已经被删除。",
              "抱歉，此微博已被作者删除。", "根据相关法律法规和政策，此内容无法显示。",
              "该账号因被投诉违反法律法规，已被暂停使用。"],
    "rednote": ["当前笔记暂时无法浏览", "该笔记已被删除", "内容违反社区规范，暂不可见"],
    "webpage": ["404 Not Found", "Page removed at the request of the authorities",
                "Access denied"],
}
OUTCOMES = {"deleted_by_author": ("not_found", 404), "removed_by_platform": ("legal", 451),
            "removed_by_moderator": ("gone", 410), "account_suspended": ("unavailable", 403),
            "account_deleted": ("not_found", 404), "restricted": ("unavailable", 200),
            "geo_blocked": ("legal", 451), "ambiguous": ("not_found", 404),
            "hidden_from_feed": ("ok", 200)}
#: Post stories: (weight, events in order). Mean about 0.96 events a post.
STORIES: list[tuple[int, tuple[str, ...]]] = [
    (30, ()), (12, ("edited",)), (4, ("edited", "edited")), (26, ("disappeared",)),
    (4, ("edited", "disappeared")),
    (10, ("disappeared", "restored")), (4, ("disappeared", "restored", "disappeared")),
    (6, ("hidden",)), (4, ("hidden", "restored")),
]
FAILED_BODY = hashlib.sha256(b"an error page").hexdigest()
EVENTS_PER_POST = sum(w * len(s) for w, s in STORIES) / sum(w for w, _ in STORIES)
GROUP_NAMES = [
    "hongkong-media", "weibo-censored", "rednote-health", "reddit-moderation", "ngo-press",
    "election-2026", "labour-rights", "uyghur-diaspora", "climate-protest", "tibet-news",
    "journalists", "public-health", "universities", "lawyers", "feminism", "lgbtq",
    "local-news", "tech-policy", "minority-languages", "sandbox",
]
EN_WORDS = (
    "the a of to and in is for on that with as was by this are from at be it have an not or "
    "has were will but their which been its more after about also other new than first "
    "government police protest court election minister report city students workers health "
    "hospital vaccine school university river building permit audit library council budget "
    "union strike march rally video photo interview statement investigation corruption "
    "journalist editor newspaper article censorship removed deleted account suspended "
    "moderator community rules policy lawyer arrest detention border village flood fire "
    "factory wage rent housing water climate energy coal solar bridge train airport "
    "festival music film book poem history museum archive memorial anniversary petition "
    "letter open public secret leaked document evidence witness victim family mother "
    "friends neighbours market price inflation loan bank tax reform law bill vote"
).split()
ZH_WORDS = (
    "的 了 在 是 我们 他们 这个 没有 因为 所以 但是 已经 今天 昨天 "
    "政府 警察 抗议 法院 选举 部长 报告 城市 学生 工人 健康 医院 疫苗 学校 大学 河流 建筑 "
    "审计 图书馆 预算 工会 罢工 游行 视频 照片 采访 声明 调查 腐败 记者 编辑 报纸 文章 审查 "
    "删除 账号 封禁 社区 规则 政策 律师 逮捕 拘留 边境 村庄 洪水 火灾 工厂 工资 房租 住房 "
    "水 气候 能源 煤炭 桥梁 火车 机场 音乐 电影 书 诗歌 历史 博物馆 档案 纪念 周年 请愿 "
    "公开信 秘密 泄露 文件 证据 证人 受害者 家人 母亲 朋友 邻居 市场 价格 通胀 银行 税 改革 "
    "法律 投票"
).split()
_SYLLABLES = ("ka", "lo", "mi", "ren", "tu", "sa", "vel", "dor", "pi", "qua", "ny", "bre")
_HAN = "山水木火土金日月风雨花草书画茶米车船门窗星云海林石田"


def _vocabulary(words: list[str], extra: list[str]) -> tuple[list[str], list[float]]:
    """Words in Zipf's proportions (frequency ~ 1/rank): the listed ones first, then a
    long tail, so a searched word matches a realistic few posts, not a fifth of them."""
    vocab = words + extra
    return vocab, list(itertools.accumulate(1.0 / (rank + 2) for rank in range(len(vocab))))


EN_VOCAB = _vocabulary(EN_WORDS, ["".join(p) for p in itertools.product(_SYLLABLES,
                                                                         repeat=3)])
ZH_VOCAB = _vocabulary(ZH_WORDS, [a + b for a in _HAN for b in _HAN])


@dataclass
class Plan:
    """How much to make. Targets and groups shrink with small ``events`` so that a
    test database keeps the big database's proportions per target."""

    events: int = 1_000_000
    targets: int = 5000
    groups: int = 20
    days: float = 730.0
    seed: int = 1
    chunk_posts: int = 20_000
    #: The newest event's time; defaults to now.
    now: datetime | None = None

    def scaled(self) -> Plan:
        targets = min(self.targets, max(12, self.events // 200))
        groups = min(self.groups, max(3, targets // 10))
        return Plan(self.events, targets, groups, self.days, self.seed, self.chunk_posts,
                    self.now or datetime.now(UTC).replace(microsecond=0))


# --- COPY text format ---------------------------------------------------------------

NULL = "\\N"


def _esc(value: str) -> str:
    # str.replace runs in C; str.translate with a dict is ten times slower here.
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def _t(value: str | None) -> str:
    return NULL if value is None else _esc(value)


def _j(value: Any) -> str:
    if value is None:
        return NULL
    return _esc(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _ts(epoch: float | None) -> str:
    if epoch is None:
        return NULL
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def _n(value: int | None) -> str:
    return NULL if value is None else str(value)


COLUMNS: dict[str, tuple[str, ...]] = {
    "targets": ("id", "key", "group_name", "platform", "kind", "value", "base_url",
                "interval_s", "tags", "active", "next_due", "last_checked_at", "last_ok_at",
                "last_outcome", "error_streak", "account_state", "created_at", "single_post"),
    "posts": ("id", "target_id", "platform", "post_key", "url", "probe_url", "author",
              "published_at", "first_seen", "last_listed_at", "state", "state_since",
              "gone_cause", "transitions", "current_version_id", "current_hash",
              "recent_hashes", "known", "next_check", "last_visible_at", "first_gone_at"),
    "versions": ("id", "post_id", "content_hash", "content", "raw_text", "title",
                 "first_seen"),
    "observations": ("id", "target_id", "post_id", "mode", "first_at", "last_at", "repeats",
                     "outcome", "http_status", "version_id", "body_hash", "message", "url",
                     "vantage", "signals", "counters"),
    "events": ("id", "dedupe_key", "kind", "cause", "cause_detail", "candidates", "post_id",
               "target_id", "platform", "group_name", "post_key", "detected_at",
               "last_seen_visible", "first_seen_gone", "published_at", "version_id", "edit",
               "evidence"),
}
#: The order tables are loaded in (references point backwards).
TABLE_ORDER = ("targets", "posts", "versions", "observations", "events")


# --- the generator ------------------------------------------------------------------


@dataclass
class _Target:
    id: int
    platform: str
    group: str
    kind: str
    handle: str
    base: str


class Generator:
    """Rows of the four big tables, chunk by chunk, in time order."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        assert plan.now is not None
        self.end = plan.now.timestamp()
        self.start = self.end - plan.days * DAY
        self.groups = GROUP_NAMES[:plan.groups]
        self.targets = self._make_targets()
        # Zipf-like: a few accounts post (and lose) much more than the rest.
        weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(self.targets))]
        self.rng.shuffle(weights)
        self._target_cum = list(itertools.accumulate(weights))
        self._story_cum = list(itertools.accumulate(w for w, _ in STORIES))
        self._cause_names = list(DISAPPEARED_CAUSES)
        self._cause_cum = list(itertools.accumulate(DISAPPEARED_CAUSES.values()))
        self.expected_posts = max(1, round(plan.events / EVENTS_PER_POST))
        self.ids = {name: 0 for name in TABLE_ORDER}
        self.events_made = 0
        self._authors = [f"user{n:05d}" for n in range(20_000)]

    def _make_targets(self) -> list[_Target]:
        rng = self.rng
        names = list(PLATFORMS)
        cum = list(itertools.accumulate(PLATFORMS.values()))
        out = []
        for n in range(1, self.plan.targets + 1):
            platform = names[bisect.bisect(cum, rng.random() * cum[-1])]
            group = self.groups[min(int(rng.paretovariate(1.2)) - 1, len(self.groups) - 1)]
            handle = (f"用户{n:05d}" if platform in CHINESE_PLATFORMS and n % 3 == 0
                      else f"acct{n:05d}")
            out.append(_Target(n, platform, group, LISTING_KIND[platform], handle,
                               f"https://{platform}.example.org"))
        return out

    def target_lines(self) -> Iterator[str]:
        created = _ts(self.start - 30 * DAY)
        last = _ts(self.end)
        for t in self.targets:
            single = t.kind == "post"
            value = f"{t.base}/page/{t.id}" if single else t.handle
            yield "\t".join((
                str(t.id), _t(f"{t.platform}:{t.kind}:{value}"), _t(t.group), t.platform,
                t.kind, _t(value), _t(t.base), "600", "{bench}", "t",
                NULL if single else _ts(self.end + self.rng.random() * 600), last, last, "ok",
                "0", NULL, created, "t" if single else "f",
            )) + "\n"
        self.ids["targets"] = len(self.targets)

    def listing_lines(self) -> Iterator[str]:
        """Target-level observation runs (no post): a listing's own history."""
        for t in self.targets:
            if t.kind == "post":
                continue
            for k in range(8):
                at = self.start + (k + self.rng.random()) * (self.end - self.start) / 8
                outcome, status = ("ok", 200) if k % 4 else ("rate_limited", 429)
                self.ids["observations"] += 1
                yield "\t".join((
                    str(self.ids["observations"]), str(t.id), NULL, "listing", _ts(at),
                    _ts(at + 3600), "6", outcome, str(status), NULL, NULL, NULL,
                    _t(f"{t.base}/{t.handle}"), "local", NULL, NULL,
                )) + "\n"

    def _text(self, chinese: bool) -> tuple[str, str]:
        rng = self.rng
        if chinese:
            words, cum = ZH_VOCAB
            title = "".join(rng.choices(words, cum_weights=cum, k=rng.randint(3, 6)))
            body = "。".join("".join(rng.choices(words, cum_weights=cum,
                                                k=rng.randint(6, 14)))
                            for _ in range(rng.randint(1, 4))) + "。"
        else:
            words, cum = EN_VOCAB
            title = " ".join(rng.choices(words, cum_weights=cum, k=rng.randint(4, 8)))
            body = ". ".join(" ".join(rng.choices(words, cum_weights=cum,
                                                  k=rng.randint(8, 18))).capitalize()
                             for _ in range(rng.randint(1, 4))) + "."
        return title, body

    def _post_time(self, index: int) -> float:
        # More monitoring lately: first sightings' density grows linearly with time.
        u = min(1.0, (index + self.rng.random()) / self.expected_posts)
        return self.start + (self.end - self.start) * (u ** 0.5) * 0.999

    def chunk(self) -> dict[str, list[str]]:
        """The next chunk of posts with their versions, observations and events."""
        out: dict[str, list[str]] = {"posts": [], "versions": [], "observations": [],
                                     "events": []}
        for _ in range(self.plan.chunk_posts):
            if self.events_made >= self.plan.events:
                break
            self._post(out)
        return out

    def done(self) -> bool:
        return self.events_made >= self.plan.events

    def _post(self, out: dict[str, list[str]]) -> None:  # noqa: PLR0915 - one story, linear
        rng = self.rng
        ids = self.ids
        ids["posts"] += 1
        pid = ids["posts"]
        target = self.targets[bisect.bisect(self._target_cum,
                                            rng.random() * self._target_cum[-1])]
        story = STORIES[bisect.bisect(self._story_cum, rng.random() * self._story_cum[-1])][1]
        story = story[:max(1, self.plan.events - self.events_made)] if story else story
        platform = target.platform
        seen = self._post_time(pid - 1)
        published = seen - rng.expovariate(1 / 1800)
        key = f"{platform[:2]}{pid:09d}"
        url = f"{target.base}/{target.handle}/{key}"
        author = (target.handle if target.kind != "subreddit"
                  else self._authors[int(rng.random() * len(self._authors))])
        chinese = platform in CHINESE_PLATFORMS or rng.random() < 0.03
        title, body = self._text(chinese)

        versions: list[tuple[int, str]] = []

        def version(at: float, text: str) -> int:
            ids["versions"] += 1
            vid = ids["versions"]
            digest = hashlib.sha256(f"{pid}:{text}".encode()).hexdigest()
            content = {"text": text, "links": [url], "media": [], "title": title,
                       "warning": ""}
            out["versions"].append("\t".join((
                str(vid), str(pid), digest, _j(content), _t(f"<p>{text}</p>"), _t(title),
                _ts(at))) + "\n")
            versions.append((vid, digest))
            return vid

        def observe(mode: str, first: float, last: float, outcome: str, status: int,
                    vid: int | None, message: str | None) -> int:
            ids["observations"] += 1
            out["observations"].append("\t".join((
                str(ids["observations"]), str(target.id), str(pid), mode, _ts(first),
                _ts(last), str(max(1, int((last - first) / 600))), outcome, str(status),
                _n(vid), versions[-1][1] if vid else FAILED_BODY, _t(message),
                _t(url), "local", "{}" if message is None else _j({"notice": message}), "{}",
            )) + "\n")
            return ids["observations"]

        now = seen
        vid = version(seen, body)
        observe("listing", seen, seen + rng.uniform(60, 7200), "ok", 200, vid, None)
        state, cause, last_visible, first_gone = "visible", None, seen, None
        n = 0
        for kind in story:
            # Half of all removals come within the hour (the Velocity-of-Censorship shape).
            gap = rng.expovariate(1 / 3600) if rng.random() < 0.5 else rng.expovariate(1 / DAY)
            before = now + gap
            last_visible = before
            observe("probe", now, before, "ok", 200, vid, None)
            detected = before + rng.uniform(60, 900)
            n += 1
            ev_cause: str | None = None
            detail: str | None = None
            candidates = "{}"
            edit = None
            gone_at: float | None = None
            if kind == "edited":
                body = body + (" 更新。" if chinese else " Update: corrected.")
                prev = vid
                vid = version(detected, body)
                edit = {"classes": ["addition"], "similarity": round(rng.uniform(70, 99), 2),
                        "word_diff": [["equal", body[:40]], ["insert", body[-12:]]],
                        "previous_version": prev}
                observed = {"outcome": "ok", "http_status": 200, "message": None}
            elif kind == "restored":
                observe("probe", detected - 60, detected, "ok", 200, vid, None)
                state, cause, first_gone = "visible", None, None
                observed = {"outcome": "ok", "http_status": 200, "message": None}
            else:
                if kind == "hidden":
                    ev_cause = "hidden_from_feed"
                else:
                    ev_cause = self._cause_names[bisect.bisect(
                        self._cause_cum, rng.random() * self._cause_cum[-1])]
                    if ev_cause == "removed_by_platform":
                        detail = rng.choice(("policy", "legal", "copyright", "spam"))
                    if ev_cause == "ambiguous":
                        candidates = "{deleted_by_author,removed_by_platform}"
                outcome, status = OUTCOMES[ev_cause]
                words = rng.choice(WORDS[platform]) if kind == "disappeared" else None
                gone_at = before + rng.uniform(1, 600)
                observe("probe", gone_at, detected, outcome, status, None, words)
                state = "gone" if kind == "disappeared" else "hidden"
                cause, first_gone = ev_cause, gone_at
                observed = {"outcome": outcome, "http_status": status, "message": words}
            ids["events"] += 1
            self.events_made += 1
            evidence = {"observed": {"at": _ts(detected), "obs": ids["observations"],
                                     "url": url, "mode": "probe", "vantage": "local",
                                     "final_url": url, **observed},
                        "reason": f"{kind} after {len(versions)} version(s)"}
            out["events"].append("\t".join((
                str(ids["events"]), f"{pid}:{n}:{kind}", kind, _t(ev_cause), _t(detail),
                candidates, str(pid), str(target.id), platform, _t(target.group), key,
                _ts(detected), _ts(last_visible),
                _ts(gone_at) if kind in ("disappeared", "hidden") else NULL, _ts(published),
                str(vid), _j(edit), _j(evidence),
            )) + "\n")
            now = detected
        checked = min(self.end, now + rng.uniform(600, 3 * DAY))
        if state == "visible":
            observe("probe", now, checked, "ok", 200, vid, None)
        hashes = "{" + ",".join(h for _, h in versions[-3:]) + "}"
        out["posts"].append("\t".join((
            str(pid), str(target.id), platform, key, _t(url), _t(url), _t(author),
            _ts(published), _ts(seen), _ts(checked), state, _ts(now), _t(cause),
            str(len(story)), str(vid), versions[-1][1], hashes, "{}",
            _ts(checked + 6 * 3600) if state == "visible" else NULL, _ts(last_visible),
            _ts(first_gone),
        )) + "\n")
