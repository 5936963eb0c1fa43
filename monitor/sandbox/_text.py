"""Seeded text for sandbox posts: English for Mastodon and feeds, Chinese for RedNote.

Every function takes the caller's ``random.Random`` so a seed fixes the words.
Each post carries one deliberate typo (see :func:`with_typo`) so that a
"minor typo fix" edit is always possible.
"""

from __future__ import annotations

import random

_ADJ = [
    "quiet",
    "crowded",
    "rainy",
    "bright",
    "narrow",
    "local",
    "hidden",
    "early",
    "late",
    "strange",
    "careful",
    "sudden",
    "public",
    "small",
    "curious",
    "familiar",
    "distant",
]
_NOUN = [
    "council",
    "market",
    "library",
    "bridge",
    "harbour",
    "school",
    "festival",
    "river",
    "station",
    "garden",
    "museum",
    "bakery",
    "committee",
    "newspaper",
    "tram",
    "archive",
]
_VERB = [
    "postponed",
    "announced",
    "reopened",
    "questioned",
    "published",
    "rejected",
    "approved",
    "cancelled",
    "discussed",
    "revealed",
    "moved",
    "renamed",
    "repaired",
    "investigated",
]
_OBJ = [
    "the budget",
    "the new timetable",
    "its opening hours",
    "the survey results",
    "the building permit",
    "an open letter",
    "the annual report",
    "the rent increase",
    "the street closure",
    "the audit",
    "the photo exhibition",
    "the night schedule",
]
_PLACE = [
    "the old town",
    "the riverside",
    "the north district",
    "the square",
    "the harbour",
    "the university quarter",
    "the east side",
    "the central station",
]
_TAIL = [
    "Nobody expected it.",
    "More details tomorrow.",
    "Residents were not consulted.",
    "The minutes are public.",
    "Officials declined to comment.",
    "It happened quietly.",
    "Several people confirmed it independently.",
    "The decision can still be appealed.",
]
_HASHTAGS = ["localnews", "transparency", "city", "photography", "openaccess", "community"]

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
    "{place}{thing}攻略",
    "{place}一日游",
    "私藏{thing}分享",
    "{place}的{thing}",
    "周末去哪儿",
]
_ZH_EMOJI = ["✨", "🌸", "☕️", "📍", "🍰", "😋", "🌿"]
_ZH_TOPICS = ["城市漫步", "周末去哪儿", "咖啡探店", "旅行攻略", "美食分享", "拍照打卡", "小众景点"]
_ZH_LOCATION = ["上海", "北京", "浙江", "四川", "广东", "福建", "重庆"]

ACCOUNT_NAMES = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
]
SITE_NAMES = ["news", "blog", "daily", "chronicle", "gazette", "notes", "review", "digest"]
SITE_AUTHORS = [
    "Ann Writer",
    "Ben Reporter",
    "Chloe Columnist",
    "Dan Correspondent",
    "Eve Analyst",
    "Farid Stringer",
    "Gia Photographer",
]
ZH_NICKNAMES = ["daisy", "小鹿", "阿橙", "今天吃什么", "Momo", "一只猫", "山海", "小葵"]


def english_sentence(rng: random.Random) -> str:
    """One plain English sentence."""
    return (
        f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)} {rng.choice(_VERB)} "
        f"{rng.choice(_OBJ)} near {rng.choice(_PLACE)}."
    )


def english_sentences(rng: random.Random, low: int, high: int) -> list[str]:
    """Between ``low`` and ``high`` sentences; the last one is a short remark."""
    n = rng.randint(low, high)
    out = [english_sentence(rng) for _ in range(max(1, n - 1))]
    out.append(rng.choice(_TAIL))
    return out


def english_title(rng: random.Random) -> str:
    noun = rng.choice(_NOUN)
    return f"{rng.choice(_ADJ).capitalize()} {noun} {rng.choice(_VERB)} {rng.choice(_OBJ)}"


def hashtags(rng: random.Random) -> list[str]:
    return rng.sample(_HASHTAGS, rng.randint(0, 2))


def chinese_sentence(rng: random.Random) -> str:
    text = rng.choice(_ZH_SENTENCE).format(
        place=rng.choice(_ZH_PLACE), thing=rng.choice(_ZH_THING), feel=rng.choice(_ZH_FEEL)
    )
    return text + rng.choice(["！", "。", "～", rng.choice(_ZH_EMOJI)])


def chinese_sentences(rng: random.Random, low: int, high: int) -> list[str]:
    return [chinese_sentence(rng) for _ in range(rng.randint(low, high))]


def chinese_title(rng: random.Random) -> str:
    title = rng.choice(_ZH_TITLE).format(place=rng.choice(_ZH_PLACE), thing=rng.choice(_ZH_THING))
    return title + rng.choice(_ZH_EMOJI)


def chinese_topics(rng: random.Random) -> list[str]:
    return rng.sample(_ZH_TOPICS, rng.randint(1, 3))


def ip_location(rng: random.Random) -> str:
    return rng.choice(_ZH_LOCATION)


def with_typo(rng: random.Random, sentences: list[str]) -> tuple[list[str], tuple[int, str] | None]:
    """Put one typo into ``sentences``; return them and ``(index, correct sentence)``."""
    order = list(range(len(sentences)))
    rng.shuffle(order)
    for index in order:
        correct = sentences[index]
        wrong = _misspell(rng, correct)
        if wrong != correct:
            out = list(sentences)
            out[index] = wrong
            return out, (index, correct)
    return list(sentences), None


def _misspell(rng: random.Random, sentence: str) -> str:
    if "的" in sentence:
        return sentence.replace("的", "得", 1)
    words = sentence.split(" ")
    candidates = [i for i, w in enumerate(words) if w.isalpha() and len(w) >= 5]
    if not candidates:
        return sentence
    i = rng.choice(candidates)
    word = words[i]
    j = rng.randint(1, len(word) - 3)
    swapped = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    if swapped == word:
        return sentence
    words[i] = swapped
    return " ".join(words)


def rewrite(rng: random.Random, chinese: bool, count: int) -> list[str]:
    """Entirely new sentences for a "major rewrite" edit."""
    if chinese:
        return [chinese_sentence(rng) for _ in range(max(2, count))]
    return [english_sentence(rng) for _ in range(max(2, count))]
