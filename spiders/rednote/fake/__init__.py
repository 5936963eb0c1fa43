"""RedNote (Xiaohongshu) in the sandbox: users, their notes in Chinese, what a correct
monitor reports for each action, and the platform's own anti-bot answers. The pages
are in :mod:`._http`."""

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

from ._http import PLATFORM, RedUser, handle, note_page, note_url, user_of

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


def new_user(planner: Planner) -> RedUser:
    n = len(planner.plan.owners_of(PLATFORM))
    nickname = ZH_NICKNAMES[n % len(ZH_NICKNAMES)]
    if n >= len(ZH_NICKNAMES):
        nickname += str(n)
    user = RedUser(
        user_id=planner.object_id(),
        nickname=nickname,
        red_id=str(planner.rng.randint(100_000_000, 999_999_999)),
        desc=chinese_sentence(planner.rng),
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


# "note:iN" is the N-th note live at start.
_DEMO_ACTIONS: dict[int, list[tuple[str, str, str | None]]] = {
    2: [("note:i0", "edit", "redaction")],
    3: [("note:i1", "delete_by_author", None)],
    4: [("note:i2", "remove_by_platform", None)],
    5: [("note:i3", "make_private", None)],
    6: [("note:i4", "put_under_review", None)],
    7: [("note:i3", "restore", None)],
    8: [("note:i0", "edit", "media_removed")],
    9: [("note:i2", "restore", None)],
    10: [("note:i4", "restore", None)],
}
_DEMO_NOTE_TICKS = (3, 6)


class _Demo(ScriptedDemo):
    """Two users with five notes live at start, and two more notes later."""

    actions = _DEMO_ACTIONS

    def __init__(self) -> None:
        super().__init__()
        self.users: list[RedUser] = []

    def setup(self, planner: Planner) -> None:
        self.users = [new_user(planner), new_user(planner)]

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        if round_ >= 5:
            return []
        user = self.users[round_ % 2].user_id
        return [self.named(f"note:i{round_}", partial(new_note, planner, user))]

    def publish(self, planner: Planner, tick: int) -> None:
        if tick in _DEMO_NOTE_TICKS:
            planner.publish(new_note(planner, self.users[tick % 2].user_id))


class _Random(ScenarioPart):
    def __init__(self, knobs: Mapping[str, float]) -> None:
        self.notes = int(knobs["notes"])
        self.users: list[RedUser] = []

    def setup(self, planner: Planner) -> None:
        if self.notes:
            self.users = [new_user(planner) for _ in range(max(1, (self.notes + 2) // 3))]

    def initial(self, planner: Planner, round_: int) -> list[Callable[[], Post]]:
        return [partial(new_note, planner, self.users[i % len(self.users)].user_id)
                for i in range(self.notes)]

    def publish(self, planner: Planner, tick: int) -> None:
        for user in self.users:
            if planner.rng.random() < 0.15:
                planner.publish(new_note(planner, user.user_id))


class RednoteFake(Fake):
    name = PLATFORM
    paths = ("/explore/", "/discovery/", "/user/profile/", "/404", "/img/")
    action_states = {
        "delete_by_author": "deleted_by_author",
        "remove_by_platform": "removed_by_platform",
        "make_private": "private",
        "put_under_review": "under_review",
        "restore": "live",
    }
    restorable = frozenset({"removed_by_platform", "private", "under_review"})
    expect = {
        "edit": EDITED,
        "delete_by_author": gone(
            "ambiguous",
            candidates=["deleted_by_author", "removed_by_platform", "hidden_by_author"],
        ),
        "remove_by_platform": gone("removed_by_platform", detail="policy"),
        "make_private": gone("hidden_by_author"),
        "put_under_review": gone("restricted"),
        "restore": RESTORED,
    }
    media_floor = 1  # a note keeps at least one image
    knobs = {"notes": 5}

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

    def why_not(self, planner: Planner, post: Post, action: str) -> str | None:
        if post.published_tick != 0:
            return "only notes live at start are in the watchlist"
        return None

    def rewrite(self, planner: Planner, post: Post) -> tuple[str, list[str]]:
        rng = planner.rng
        sentences = [chinese_sentence(rng) for _ in range(max(2, len(post.sentences)))]
        return chinese_title(rng), sentences

    def post_url(self, base: str, world: World, post: Post) -> str:
        return note_url(base, post)

    def watch_targets(self, base: str, plan: Plan) -> list[dict[str, str]]:
        return [{"platform": PLATFORM, "post": note_url(base, spec), "base_url": base}
                for spec, _ in plan.initial if spec.platform == PLATFORM]

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
