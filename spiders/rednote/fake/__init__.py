"""RedNote (Xiaohongshu) in the sandbox: users, their notes in Chinese, what a correct
monitor reports for each action, and the platform's own anti-bot answers. The pages
are in :mod:`._http`.

Users are watched through their accounts (profile page, ``user_posted``); a demo
user is watched ``alone``, by two note URLs. Every listing hands each note a fresh
``xsec_token`` valid for the user's ``token_ttl`` seconds of world clock (the
``token_ttl`` knob; 120 s by default); a note URL's own token is valid for as
long from the start. With an expired, unknown or missing token every note
answers the generic 300031 page, whatever its state: with a valid one a removed
note says why, so a correct monitor finds each removal from the listing and its
fresh token, and never one from a stale token. Accounts can be banned
(``suspend_account``, reinstated by ``restore``) or closed (``delete_account``):
their profile says so and their notes answer the generic page.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from functools import partial

from spiders.sandbox.fake import (
    EDITED,
    RESTORED,
    Fake,
    Pick,
    Plan,
    Planner,
    Post,
    Response,
    ScenarioPart,
    ScriptedDemo,
    World,
    gone,
    html_response,
    text,
)

from ._http import PLATFORM, TOKEN_TTL, RedUser, handle, note_page, note_url, user_of

_ZH_PLACE = ["武康路", "外滩", "西湖", "鼓浪屿", "南锣鼓巷", "宽窄巷子", "洪崖洞", "太古里", "滨江"]
_ZH_THING = ["咖啡店", "小吃", "书店", "展览", "夜景", "古镇", "面包", "花市", "步道"]
_ZH_FEEL = ["好看", "好吃", "治愈", "出片", "安静", "热闹", "惊喜", "舒服"]
_ZH_SENTENCE = [
    "今天去了{place}，这家{thing}真的太{feel}了",
    "{place}附近的{thing}人不多，很{feel}",
    "周末和朋友一起逛{place}，{thing}超级{feel}",
    "第一次来{place}，没想到{thing}这么{feel}",
    "推荐大家去{place}看看{thing}，整体很{feel}",
    "{place}的{thing}排队半小时，但是值得",
]
_ZH_TITLE = [
    "{place}{thing}攻略", "{place}一日游", "私藏{thing}分享", "{place}的{thing}", "周末去哪儿",
]
_ZH_EMOJI = ["✨", "🌸", "☕️", "📍", "🍰", "😋", "🌿"]
_ZH_TOPICS = ["城市漫步", "周末去哪儿", "咖啡探店", "旅行攻略", "美食分享", "拍照打卡", "小众景点"]
_ZH_LOCATION = ["上海", "北京", "浙江", "四川", "广东", "福建", "重庆"]
ZH_NICKNAMES = ["daisy", "小鹿", "阿橙", "今天吃什么", "Momo", "一只猫", "山海", "小葵"]

_VERIFY_PAGE = (
    '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>安全验证</title>'
    '</head><body><div class="verify-container"><div class="verify-title">安全验证</div>'
    "<p>请完成下方验证后继续访问</p></div></body></html>"
)


def chinese_sentence(rng: random.Random) -> str:
    found = rng.choice(_ZH_SENTENCE).format(
        place=rng.choice(_ZH_PLACE), thing=rng.choice(_ZH_THING), feel=rng.choice(_ZH_FEEL)
    )
    return found + rng.choice(["！", "。", "～", rng.choice(_ZH_EMOJI)])


def chinese_title(rng: random.Random) -> str:
    title = rng.choice(_ZH_TITLE).format(place=rng.choice(_ZH_PLACE), thing=rng.choice(_ZH_THING))
    return title + rng.choice(_ZH_EMOJI)


def new_user(planner: Planner, alone: bool = False, token_ttl: float = TOKEN_TTL) -> RedUser:
    n = len(planner.plan.owners_of(PLATFORM))
    nickname = ZH_NICKNAMES[n % len(ZH_NICKNAMES)]
    if n >= len(ZH_NICKNAMES):
        nickname += str(n)
    rng = planner.rng
    user_id = planner.object_id()
    user = RedUser(
        platform=PLATFORM,
        username=user_id,
        id=user_id,
        display_name=nickname,
        note=chinese_sentence(rng),
        created=1_600_000_000 + rng.randint(0, 900) * 86_400,
        followers=rng.randint(10, 40_000),
        following=rng.randint(5, 400),
        red_id=str(rng.randint(100_000_000, 999_999_999)),
        alone=alone,
        token_ttl=token_ttl,
    )
    return planner.add_owner(PLATFORM, user.user_id, user)  # type: ignore[no-any-return]


def new_note(planner: Planner, user_id: str) -> Post:
    rng = planner.rng
    sentences = [chinese_sentence(rng) for _ in range(rng.randint(2, 4))]
    sentences, typo = text.with_typo(rng, sentences)
    likes = rng.choice([rng.randint(3, 900), rng.randint(10_000, 40_000)])
    user = user_of(planner.world, user_id)
    assert user is not None, user_id
    return Post(
        platform=PLATFORM,
        key=planner.object_id(),
        owner=user_id,
        author=user.nickname,
        title=chinese_title(rng),
        sentences=sentences,
        link=None,
        media=planner.media(rng.randint(2, 4)),
        tags=rng.sample(_ZH_TOPICS, rng.randint(1, 3)),
        typo=typo,
        counters={
            "liked": likes,
            "collected": rng.randint(0, likes // 3 + 1),
            "comment": rng.randint(0, 300),
            "share": rng.randint(0, 90),
        },
        token=planner.token(),
        location=rng.choice(_ZH_LOCATION),
    )


# "note:iN" is the N-th note live at start (users 0 and 1 in turn), "note:tN" the
# note published at tick N, "note:aN" a note watched alone (by its URL, whose token
# expires), "@uN" the N-th user.
_DEMO_ACTIONS: dict[int, list[tuple[str, str, str | None]]] = {
    2: [("note:i0", "edit", "redaction")],
    3: [("note:i1", "delete_by_author", None)],
    4: [("note:i2", "remove_by_platform", None), ("@u3", "suspend_account", None)],
    5: [("note:i3", "make_private", None), ("note:t3", "remove_by_platform", None)],
    6: [("note:i4", "put_under_review", None)],
    7: [("note:i3", "restore", None)],
    8: [("note:i0", "edit", "media_removed"), ("@u3", "restore", None)],
    9: [("note:i2", "restore", None), ("@u4", "delete_account", None)],
    10: [("note:i4", "restore", None)],
}
_DEMO_NOTE_TICKS = (3, 6)
_DEMO_ROUNDS = 5


class _Demo(ScriptedDemo):
    """Five users: two whose notes are acted on (one posts a note at tick 3 that the
    platform removes two ticks later), one watched only by two note URLs, one banned
    and reinstated, one that closes its account."""

    actions = _DEMO_ACTIONS

    def __init__(self) -> None:
        super().__init__()
        self.users: list[RedUser] = []

    def setup(self, planner: Planner) -> None:
        self.users = [new_user(planner, alone=(i == 2)) for i in range(5)]

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        if round_ < _DEMO_ROUNDS:
            user = self.users[round_ % 2].user_id
            return [self.named(f"note:i{round_}", partial(new_note, planner, user))]
        if round_ == _DEMO_ROUNDS:
            return [self.named("note:a0", partial(new_note, planner, self.users[2].user_id)),
                    self.named("note:a1", partial(new_note, planner, self.users[2].user_id)),
                    partial(new_note, planner, self.users[3].user_id),
                    partial(new_note, planner, self.users[4].user_id)]
        return []

    def publish(self, planner: Planner, tick: int) -> None:
        if tick in _DEMO_NOTE_TICKS:
            user = self.users[tick % 2].user_id
            self.refs[f"note:t{tick}"] = planner.publish(new_note(planner, user))

    def act_owner(self, planner: Planner, owner: str, action: str) -> None:
        planner.act_account(self.users[int(owner[1:])], action)


class _Random(ScenarioPart):
    """Users watched through their accounts; notes come and go, accounts are banned
    or closed. Listings hand out tokens valid for the ``token_ttl`` knob."""

    def __init__(self, knobs: Mapping[str, float]) -> None:
        self.notes = int(knobs["notes"])
        self.token_ttl = float(knobs.get("token_ttl", TOKEN_TTL))
        self.users: list[RedUser] = []

    def setup(self, planner: Planner) -> None:
        if self.notes:
            self.users = [new_user(planner, token_ttl=self.token_ttl)
                          for _ in range(max(1, (self.notes + 2) // 3))]

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        return [partial(new_note, planner, self.users[i % len(self.users)].user_id)
                for i in range(self.notes)]

    def publish(self, planner: Planner, tick: int) -> None:
        for user in self.users:
            live = user_of(planner.world, user.user_id)
            if live is not None and live.state == "normal" and planner.rng.random() < 0.15:
                planner.publish(new_note(planner, user.user_id))


_ACCOUNT_STATE = {"suspended": "account_suspended", "deleted": "account_deleted"}


class RednoteFake(Fake):
    name = PLATFORM
    paths = ("/explore/", "/discovery/", "/user/profile/", "/404", "/img/", "/api/sns/")
    action_states = {
        "delete_by_author": "deleted_by_author",
        "remove_by_platform": "removed_by_platform",
        "make_private": "private",
        "put_under_review": "under_review",
        "restore": "live",
    }
    restorable = frozenset({"removed_by_platform", "private", "under_review"})
    # With the listing's fresh token every removal shows its own notice page; only
    # "该笔记已被删除" leaves open who deleted it.
    expect = {
        "edit": EDITED,
        "delete_by_author": gone(
            "ambiguous", candidates=["deleted_by_author", "removed_by_platform"],
        ),
        "remove_by_platform": gone("removed_by_platform", detail="policy"),
        "make_private": gone("hidden_by_author"),
        "put_under_review": gone("restricted"),
        "suspend_account": gone("account_suspended"),
        "delete_account": gone("account_deleted"),
        "restore": RESTORED,
    }
    media_floor = 1  # a note keeps at least one image
    knobs = {"notes": 5, "token_ttl": TOKEN_TTL}

    def handle(self, world: World, base: str, path: str, query: Mapping[str, str],
               headers: Mapping[str, str]) -> Response | None:
        return handle(world, base, path, query)

    def fault(self, fault: str, pick: Pick) -> Response | None:
        """Anti-bot: the API's 461 with a verify header, or the captcha page."""
        if fault != "anti_bot":
            return None
        if pick((0, 1)) == 0:
            return Response(
                461,
                b'{"code":461,"success":false,"msg":"\\u9700\\u8981\\u9a8c\\u8bc1"}',
                [
                    ("Content-Type", "application/json; charset=utf-8"),
                    ("Verifytype", "102"),
                    ("Verifyuuid", f"sandbox-{pick(range(10**6)):06d}"),
                ],
                reason="Verify",
            )
        return html_response(200, _VERIFY_PAGE)

    def visible(self, world: World, post: Post) -> bool:
        user = user_of(world, post.owner)
        return post.state == "live" and (user is None or user.state == "normal")

    def describe(self, world: World, post: Post) -> str:
        """The account's state wins when it is not in good standing."""
        user = user_of(world, post.owner)
        if user is not None and user.state in _ACCOUNT_STATE and post.state == "live":
            return _ACCOUNT_STATE[user.state]
        return post.state

    def why_not(self, planner: Planner, post: Post, action: str) -> str | None:
        user = user_of(planner.world, post.owner)
        if user is not None and user.state != "normal":
            return "its account is not in good standing"
        if user is not None and user.alone:
            return "watched alone: its URL's token expires, so a removal cannot be told"
        return None

    def rewrite(self, planner: Planner, post: Post) -> tuple[str, list[str]]:
        rng = planner.rng
        sentences = [chinese_sentence(rng) for _ in range(max(2, len(post.sentences)))]
        return chinese_title(rng), sentences

    def post_url(self, base: str, world: World, post: Post) -> str:
        return note_url(base, post)

    def target(self, base: str, world: World, post: Post) -> str:
        user = user_of(world, post.owner)
        return note_url(base, post) if user is None or user.alone else post.owner

    def watch_targets(self, base: str, plan: Plan) -> list[dict[str, str]]:
        """An account target for every user, but a user watched ``alone``: its notes
        are watched by their URLs, whose token the listing never refreshes."""
        users: list[RedUser] = [u for u in plan.owners_of(PLATFORM) if isinstance(u, RedUser)]
        alone = {u.user_id for u in users if u.alone}
        targets = [{"platform": PLATFORM, "account": u.user_id, "base_url": base}
                   for u in users if not u.alone]
        targets += [{"platform": PLATFORM, "post": note_url(base, spec), "base_url": base}
                    for spec, _ in plan.initial
                    if spec.platform == PLATFORM and spec.owner in alone]
        return targets

    def demo(self) -> ScenarioPart:
        return _Demo()

    def random(self, knobs: Mapping[str, float]) -> ScenarioPart:
        return _Random(knobs)

    def export_owner(self, planner: Planner, n: int) -> str:
        return new_user(planner).user_id

    def export(self, planner: Planner, owner: str, index: int,
               base: str) -> tuple[str, bytes, str]:
        """``explore/{note_id}`` (HTML; a static server ignores the URL's token)."""
        post = planner.publish(new_note(planner, owner))
        body = note_page(planner.world, base, post).encode()
        return f"explore/{post.key}", body, note_url(base, post)


FAKE = RednoteFake()
