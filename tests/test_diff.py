"""The diff step: normalisation, hashing, edit classes, word diffs, flaps, counters."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from typing import Any

import pytest

from monitor.diff import (
    EDIT_CLASSES,
    MAJOR_MAX_SIMILARITY,
    EditDiff,
    Normalised,
    Unparsed,
    compare,
    counters,
    is_flap,
    normalise,
    parse_count,
)
from monitor.observation import PostContent


def post(text: str = "", **kw: Any) -> PostContent:
    return PostContent(key="1", text=text, **kw)


def norm(text: str = "", title: str = "", **kw: Any) -> Normalised:
    """A Normalised built by hand: compare() tests bypass normalise()."""
    return Normalised(title=title, text=text, **kw)


MASTODON = (
    '<p>Read <a href="https://example.org/news" rel="nofollow noopener" target="_blank">'
    '<span class="invisible">https://</span><span class="">example.org/news</span>'
    '<span class="invisible"></span></a> <a href="https://m.example/tags/press" '
    'class="mention hashtag" rel="tag">#<span>press</span></a></p><p>Second paragraph</p>'
)
MASTODON_ELLIPSIS = (
    '<p><a href="https://www.example.com/a-very-long-path"><span class="invisible">'
    'https://www.</span><span class="ellipsis">example.com/a-very-lo</span>'
    '<span class="invisible">ng-path</span></a></p>'
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello world", "Hello world"),
        ("", ""),
        ("Tom &amp; Jerry &lt;3 &quot;hi&quot; &#128512;", 'Tom & Jerry <3 "hi" 😀'),
        ("a&nbsp;&nbsp;b", "a b"),
        ("line one<br>line two<br/>line three", "line one\nline two\nline three"),
        ("<p>First</p><p>Second</p>", "First\n\nSecond"),
        ("<p>Hello <b>bold</b> <i>world</i></p>", "Hello bold world"),
        ("<p>hi</p><script>alert(1)</script><style>p{}</style>", "hi"),
        ("  a \t b\n\n\n\n c  \r\n", "a b\n\nc"),
        ("Cafe\u0301", "Caf\u00e9"),  # NFD → NFC
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("x<y and y>z", "x<y and y>z"),  # no known tag: not parsed as HTML
        (MASTODON, "Read https://example.org/news #press\n\nSecond paragraph"),
        (MASTODON_ELLIPSIS, "https://www.example.com/a-very-long-path"),
        ("  مرحبا   بالعالم ", "مرحبا بالعالم"),
        ("👨\u200d👩\u200d👧 family", "👨\u200d👩\u200d👧 family"),  # ZWJ kept
    ],
)
def test_normalise_text(raw: str, expected: str) -> None:
    assert normalise(post(raw)).text == expected


RED_TOPICS = "今天好开心#旅行[话题]#去北京#美食[话题]# 😀[笑哭R]"


def test_normalise_applies_the_platforms_markup_hook() -> None:
    """RedNote's topic markup is folded by RedNote's declaration, not by the diff."""
    assert normalise(post(RED_TOPICS), "rednote").text == "今天好开心#旅行 去北京#美食 😀[笑哭R]"
    # Another platform's text is left as it was written.
    assert normalise(post(RED_TOPICS), "mastodon").text == RED_TOPICS
    assert normalise(post(RED_TOPICS)).text == RED_TOPICS


def test_normalise_takes_the_warning_from_the_platforms_field() -> None:
    from monitor.platform import Kind, Platform

    cw = {"spoiler_text": "CW", "summary": "Summary CW"}
    assert normalise(post("x", extra=cw), "mastodon").warning == "CW"
    assert normalise(post("x", extra=cw), "rss").warning == ""  # rss declares none
    custom = Platform("custom", "Custom", {"feed": Kind("feed")}, spider="x.Y",
                      warning_field="summary", normalise_text=str.upper)
    n = normalise(post("shout", extra=cw), custom)
    assert (n.text, n.warning) == ("SHOUT", "Summary CW")


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({}, Normalised("", "", (), (), "")),
        ({"title": None, "text": "x"}, Normalised("", "x", (), (), "")),
        ({"title": "  A &amp; B <b>x</b>\n y "}, Normalised("A & B x y", "", (), (), "")),
        ({"media": ["m1", " m2 ", "m1", ""]}, Normalised("", "", ("m1", "m2"), (), "")),
        (
            {"links": ["HTTPS://Example.ORG/Path", "https://example.org/Path", " ", "x"]},
            Normalised("", "", (), ("https://example.org/Path", "x"), ""),
        ),
        ({"extra": {"spoiler_text": "  CW: <b>politics</b> "}},
         Normalised("", "", (), (), "CW: politics")),
        ({"extra": {"spoiler_text": None, "xsec_token": "abc"}}, Normalised("", "", (), (), "")),
    ],
)
def test_normalise_fields(kw: dict[str, Any], expected: Normalised) -> None:
    assert normalise(PostContent(key="1", **kw), "mastodon") == expected


def test_normalised_json_round_trip() -> None:
    n = normalise(post("<p>a</p><p>b</p>", title="T", media=["m"], links=["https://x.org/"],
                       extra={"spoiler_text": "cw"}), "mastodon")
    d = n.to_json()
    assert d == {"title": "T", "text": "a\n\nb", "media": ["m"], "links": ["https://x.org/"],
                 "warning": "cw"}
    assert Normalised.from_json(json.loads(json.dumps(d))) == n
    assert Normalised.from_json({}) == Normalised("", "")


def test_content_hash_is_the_documented_canonical_form() -> None:
    n = Normalised("T", "a\n\nb  c", ("m2", "m1"), ("https://x.org/",), "cw")
    canon = json.dumps([1, "T", "a b c", ["m1", "m2"], ["https://x.org/"], "cw"],
                       ensure_ascii=False, separators=(",", ":"))
    assert n.content_hash == hashlib.sha256(canon.encode()).hexdigest()
    assert len(n.content_hash) == 64


def test_content_hash_is_computed_once_and_is_no_part_of_equality(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A reading's hash is read three or four times as it is recorded; the canonical
    form is built and hashed the first time only. Whether it was read yet changes
    neither equality, nor ``hash()``, nor the repr, nor a pickled copy's hash."""
    import pickle

    from monitor import diff

    built: list[str] = []
    real = diff._fold
    monkeypatch.setattr(diff, "_fold", lambda text: built.append(text) or real(text))
    read = Normalised("T", "a  b", ("m",), (), "cw")
    fresh = Normalised("T", "a  b", ("m",), (), "cw")
    first = read.content_hash
    assert len(built) == 3  # title, text and warning folded, once
    assert read.content_hash == first and len(built) == 3
    assert read == fresh and hash(read) == hash(fresh) and repr(read) == repr(fresh)
    assert "_hash" not in repr(read)
    assert fresh.content_hash == first and len(built) == 6
    copy = pickle.loads(pickle.dumps(read))
    assert copy == read and copy.content_hash == first
    assert Unparsed("", "", known_hash="k" * 64).content_hash == "k" * 64


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"text": "<p>Hello <b>world</b></p>"}, {"text": "Hello world"}, True),
        ({"text": "<p>a</p><p>b</p>"}, {"text": "a<br>b"}, True),
        ({"text": "Hello   world\n"}, {"text": " Hello\nworld"}, True),
        ({"text": "Caf\u00e9"}, {"text": "Cafe\u0301"}, True),
        ({"text": "x", "counters": {"likes": 1}}, {"text": "x", "counters": {"likes": "1.2万"}},
         True),
        ({"text": "x", "extra": {"xsec_token": "a", "ip_location": "北京", "edited_at": "1"}},
         {"text": "x", "extra": {"xsec_token": "b", "ip_location": "上海", "edited_at": "2"}},
         True),
        ({"media": ["a", "b"]}, {"media": ["b", "a"]}, True),
        ({"title": None}, {"title": ""}, True),
        ({"text": "Hello world"}, {"text": "Hello world!"}, False),
        ({"text": "Hello world"}, {"text": "Hello World"}, False),
        ({"title": "A"}, {"title": "B"}, False),
        ({"text": "x"}, {"text": "x", "extra": {"spoiler_text": "CW"}}, False),
        ({"media": ["a", "b"]}, {"media": ["a"]}, False),
        ({"links": ["https://a.org/"]}, {"links": []}, False),
    ],
)
def test_content_hash_stability(a: dict[str, Any], b: dict[str, Any], same: bool) -> None:
    ha = normalise(PostContent(key="1", **a), "mastodon").content_hash
    hb = normalise(PostContent(key="2", **b), "mastodon").content_hash
    assert (ha == hb) is same


TYPO = ("The quick brown fox jumsp over the lazy dog.",
        "The quick brown fox jumps over the lazy dog.")
SENTENCES = [
    "The council met on Tuesday to discuss the new bridge across the river.",
    "The mayor said the plan was approved by a large majority of the members.",
    "Critics called the vote a scandal and promised to take the matter to the court.",
    "Construction is expected to begin next spring and to last for two years.",
    "The budget for the project has grown by a third since it was first proposed.",
    "Residents of the east bank have complained about noise from the test drilling.",
    "A spokesperson for the contractor declined to comment on the delays.",
    "The regional government is expected to publish its review next month.",
    "Local businesses hope that the bridge will bring more visitors to the old town.",
    "The next council meeting is scheduled for the first week of June.",
]
LONG = " ".join(SENTENCES)
LONG_TYPOS = LONG.replace("discuss", "discus").replace("majority", "majorty")
LONG_DROPPED = " ".join(SENTENCES[:2] + SENTENCES[3:])
LONG_REPLACED = " ".join(SENTENCES[:2] + ["Opponents described the decision as deeply unfair "
                                          "and said they would appeal it."] + SENTENCES[3:])
ARTICLE = ("The council met on Tuesday to discuss the new bridge. The mayor said the plan "
           "was approved by a large majority. Critics called the vote a scandal and "
           "promised to take the matter to court.")


@pytest.mark.parametrize(
    ("old", "new", "classes"),
    [
        (norm(TYPO[0]), norm(TYPO[1]), ("minor_fix",)),
        (norm("Hello world"), norm("Hello world!"), ("minor_fix",)),
        (norm("The meeting is on Monday at the town hall."),
         norm("The meeting is on Friday at the old library."), ("text_changed",)),
        (norm("The mayor said the plan was approved."),
         norm("Bananas are an excellent source of potassium today."), ("major_rewrite",)),
        (norm("The mayor said the plan was approved. Critics called it a scandal."),
         norm("The mayor said the plan was approved. [removed]"), ("text_removed",)),
        (norm("The official's name is Wang Wei and he took bribes."),
         norm("The official's name is ███ and he took bribes."), ("text_removed",)),
        (norm("Everything here is true."), norm("[deleted]"), ("text_removed",)),
        (norm("市长说计划已经批准。批评者称之为丑闻。"), norm("市长说计划已经批准。[已删除]"),
         ("text_removed",)),
        (norm(ARTICLE), norm(ARTICLE.split(" Critics")[0]), ("text_removed",)),  # no marker
        (norm(LONG), norm(LONG_TYPOS), ("minor_fix",)),
        (norm(LONG), norm(LONG_DROPPED), ("text_removed",)),  # 1/10 of it, no marker
        (norm(LONG), norm(LONG_REPLACED), ("text_changed",)),  # similarity 94, 100+ changed
        (norm("Some text"), norm(""), ("text_removed",)),
        (norm("Hello"), norm("Hello world, this is a long addition to the post"),
         ("text_added",)),
        (norm(""), norm("x"), ("text_added",)),
        (norm(ARTICLE, title="Old title"), norm(ARTICLE, title="New title"),
         ("minor_fix", "title_changed")),
        (norm("x", links=("https://a.example/x", "https://b.example/y")),
         norm("x", links=("https://a.example/x",)), ("link_removed",)),
        (norm("x"), norm("x", links=("https://a.example/x",)), ("link_added",)),
        (norm("x", media=("m1", "m2")), norm("x", media=("m2",)), ("media_removed",)),
        (norm("x", media=("m1",)), norm("x", media=("m1", "m2")), ("media_added",)),
        (norm("x"), norm("x", warning="Misinformation (moderator)"), ("warning_added",)),
        (norm("x", warning="cw"), norm("x"), ("warning_removed",)),
        (norm("x", warning="cw"), norm("x", warning="cw: politics"), ("warning_changed",)),
        (norm("x", media=("a", "b")), norm("x", media=("b", "a")), ("unchanged",)),
        (norm("a\n\nb"), norm("a b"), ("unchanged",)),
        (norm(""), norm(""), ("unchanged",)),
        (norm(ARTICLE, media=("m1",)), norm("[removed]", warning="removed by moderators"),
         ("text_removed", "warning_added", "media_removed")),
    ],
)
def test_compare_classes(old: Normalised, new: Normalised, classes: tuple[str, ...]) -> None:
    diff = compare(old, new)
    assert diff.classes == classes
    assert set(diff.classes) <= set(EDIT_CLASSES)


def test_compare_details() -> None:
    old = norm(TYPO[0], media=("m1", "m2"), links=("https://a.example/", "https://b.example/"))
    new = norm(TYPO[1], media=("m2", "m3"), links=("https://b.example/",), warning="CW")
    diff = compare(old, new)
    assert diff.similarity == 97.73  # round(fuzz.ratio(old text, new text), 2)
    assert diff.removed_media == ("m1",)
    assert diff.added_media == ("m3",)
    assert diff.removed_links == ("https://a.example/",)
    assert diff.added_links == ()
    assert diff.warning == ("", "CW")
    assert diff.classes == ("minor_fix", "warning_added", "media_removed", "media_added",
                            "link_removed")
    assert compare(norm(""), norm("")).similarity == 100.0


FAMILY_GIRL = "👨\u200d👩\u200d👧"
FAMILY_BOY = "👨\u200d👩\u200d👦"


@pytest.mark.parametrize(
    ("old", "new", "word_diff"),
    [
        (TYPO[0], TYPO[1],
         [("equal", "The quick brown fox"), ("delete", " jumsp"), ("insert", " jumps"),
          ("equal", " over the lazy dog.")]),
        ("Hello world", "Hello world!", [("equal", "Hello world"), ("insert", "!")]),
        ("I don't know", "I do not know",
         [("equal", "I"), ("delete", " don't"), ("insert", " do not"), ("equal", " know")]),
        ("one two three", "zero one two three", [("insert", "zero "), ("equal", "one two three")]),
        ("zero one two", "one two", [("delete", "zero "), ("equal", "one two")]),
        ("a b c", "x y b c", [("delete", "a "), ("insert", "x y "), ("equal", "b c")]),
        ("a b c", "a c", [("equal", "a"), ("delete", " b"), ("equal", " c")]),
        ("one two\n\nthree", "one two", [("equal", "one two"), ("delete", "\n\nthree")]),
        ("我们今天去公园玩", "我们明天去公园玩",
         [("equal", "我们"), ("delete", "今"), ("insert", "明"), ("equal", "天去公园玩")]),
        ("我们今天去公园玩。", "我们今天在家休息。",
         [("equal", "我们今天"), ("delete", "去公园玩"), ("insert", "在家休息"), ("equal", "。")]),
        ("مرحبا بالعالم الجميل", "مرحبا بالعالم القبيح",
         [("equal", "مرحبا بالعالم"), ("delete", " الجميل"), ("insert", " القبيح")]),
        ("שָׁלוֹם עוֹלָם", "שָׁלוֹם חָבֵר",  # niqqud stays inside its word
         [("equal", "שָׁלוֹם"), ("delete", " עוֹלָם"), ("insert", " חָבֵר")]),
        ("I love 🍕 and 🍺", "I love 🍕 and 🍷",
         [("equal", "I love 🍕 and"), ("delete", " 🍺"), ("insert", " 🍷")]),
        (f"family {FAMILY_GIRL} here", f"family {FAMILY_BOY} here",
         [("equal", "family"), ("delete", f" {FAMILY_GIRL}"), ("insert", f" {FAMILY_BOY}"),
          ("equal", " here")]),
        ("flag 🇨🇳 👍🏽 ok", "flag 🇺🇸 👍🏿 ok",
         [("equal", "flag"), ("delete", " 🇨🇳 👍🏽"), ("insert", " 🇺🇸 👍🏿"), ("equal", " ok")]),
        ("Meeting 会议 at 3pm مرحبا", "Meeting 会谈 at 4pm مرحبا",
         [("equal", "Meeting 会"), ("delete", "议"), ("insert", "谈"), ("equal", " at"),
          ("delete", " 3pm"), ("insert", " 4pm"), ("equal", " مرحبا")]),
        ("", "new", [("insert", "new")]),
        ("old", "", [("delete", "old")]),
        ("", "", []),
    ],
)
def test_word_diff(old: str, new: str, word_diff: list[tuple[str, str]]) -> None:
    diff = compare(norm(old), norm(new))
    assert diff.word_diff == word_diff
    assert "".join(w for op, w in diff.word_diff if op != "delete") == new
    assert "".join(w for op, w in diff.word_diff if op != "insert") == old


def test_word_diff_covers_the_title() -> None:
    diff = compare(norm("body text", title="Old"), norm("body text", title="New"))
    assert diff.word_diff == [("delete", "Old\n\n"), ("insert", "New\n\n"), ("equal", "body text")]
    assert diff.render() == "[-Old-]{+New+}\n\nbody text"


@pytest.mark.parametrize(
    ("old", "new", "rendered"),
    [
        (norm("the old words"), norm("the new words"), "the [-old-]{+new+} words"),
        (norm("one two"), norm("one two three"), "one two {+three+}"),
        (norm("one two three"), norm("one three"), "one [-two-] three"),
        (norm("one two three"), norm("two three"), "[-one-] two three"),
        (norm("one two three"), norm("zero one two three"), "{+zero+} one two three"),
        (norm("a b c"), norm("x y b c"), "[-a-]{+x y+} b c"),
        (norm("我们今天去公园玩"), norm("我们明天去公园玩"), "我们[-今-]{+明+}天去公园玩"),
        (norm("x", media=("m1", "m2"), links=("https://a.org/",)),
         norm("x", media=("m3",), warning="CW"),
         "x\ncontent warning: {+CW+}\nmedia removed: m1 m2\nmedia added: m3\n"
         "links removed: https://a.org/"),
        (norm("x", warning="a"), norm("x", warning="b"), "x\ncontent warning: [-a-]{+b+}"),
        (norm(""), norm(""), "(no change)"),
    ],
)
def test_render(old: Normalised, new: Normalised, rendered: str) -> None:
    assert compare(old, new).render() == rendered


def test_render_elides_long_unchanged_stretches() -> None:
    words = " ".join(f"w{i}" for i in range(200))
    diff = compare(norm(f"{words} old {words}"), norm(f"{words} new {words}"))
    assert diff.render(context=12) == "… w198 w199 [-old-]{+new+} w0 w1 w2 …"
    assert diff.render(context=None) == f"{words} [-old-]{{+new+}} {words}"


def test_edit_diff_json_round_trip() -> None:
    diff = compare(norm(TYPO[0], media=("m1",), warning="a"), norm(TYPO[1], warning="b"))
    d = json.loads(json.dumps(diff.to_json()))
    assert d == {
        "similarity": diff.similarity,
        "classes": ["minor_fix", "warning_changed", "media_removed"],
        "word_diff": [["equal", "The quick brown fox"], ["delete", " jumsp"],
                      ["insert", " jumps"], ["equal", " over the lazy dog."]],
        "removed_media": ["m1"], "removed_links": [], "added_media": [], "added_links": [],
        "warning": ["a", "b"],
    }
    assert EditDiff.from_json(d) == diff


def test_edit_classes_are_documented() -> None:
    required = {"minor_fix", "major_rewrite", "text_removed", "media_removed", "link_removed",
                "title_changed", "warning_added", "media_added", "text_added"}
    assert required <= set(EDIT_CLASSES)
    assert all(help_text.strip() for help_text in EDIT_CLASSES.values())


A, B, C = (normalise(post(t)).content_hash for t in ("version A", "version B", "version C"))


@pytest.mark.parametrize(
    ("new", "recent", "flap"),
    [
        (A, [A, B], True),  # flipped back to A
        (B, [A, B], True),  # unchanged
        (C, [A, B], False),
        (A, [], False),
        ("", [""], False),
    ],
)
def test_is_flap(new: str, recent: list[str], flap: bool) -> None:
    assert is_flap(new, recent) is flap


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("1.2万", 12_000),
        ("10万+", "10万+"),  # a floor, not a number
        ("3,456", 3_456),
        ("12,345,678", 12_345_678),
        ("12 345", 12_345),
        (12, 12),
        ("12", 12),
        (" 7 ", 7),
        ("1.5k", 1_500),
        ("2.3w", 23_000),
        ("2亿", 200_000_000),
        ("1.23456万", "1.23456万"),  # not a whole number
        ("3.456", "3.456"),  # German thousands or a decimal: ambiguous
        ("1,2345", "1,2345"),
        ("赞", "赞"),  # RedNote's label when there are no likes yet
        ("", ""),
        (3.0, 3),
        (2.5, "2.5"),
        (None, ""),
    ],
)
def test_parse_count(raw: object, parsed: int | str) -> None:
    assert parse_count(raw) == parsed


def test_counters_are_parsed_and_kept_apart() -> None:
    p = post("x", counters={"likes": "1.2万", "shares": "10万+", "comments": "3,456", "saves": 12})
    assert counters(p) == {"likes": 12_000, "shares": "10万+", "comments": 3_456, "saves": 12}
    assert counters(post("x")) == {}


def test_huge_text_with_one_edit() -> None:
    base = "\n\n".join(" ".join(f"word{p}_{w}" for w in range(100)) for p in range(110))
    assert len(base) > 100_000
    new = base.replace("word50_50 ", "word50_50 EDIT ", 1)
    old_n, new_n = normalise(post(f"<p>{base}</p>")), normalise(post(new))
    diff = compare(old_n, new_n)
    assert diff.classes == ("minor_fix",)
    assert [op for op, _ in diff.word_diff] == ["equal", "insert", "equal"]
    assert diff.word_diff[1] == ("insert", " EDIT")
    assert diff.render(context=10) == "… word50_50 {+EDIT+} word50_51 …"


def test_huge_texts_wholly_different() -> None:
    old = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(100_000))
    new = "".join(chr(0x4E00 + (i * 104729) % 20000) for i in range(100_000))
    diff = compare(normalise(post(old)), normalise(post(new)))
    assert diff.classes == ("major_rewrite",)
    assert diff.similarity < MAJOR_MAX_SIMILARITY
    assert "".join(w for op, w in diff.word_diff if op != "delete") == new


def test_huge_single_paragraph_with_edits_at_both_ends() -> None:
    text = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(100_000))
    edited = text[:100] + "改" + text[101:-100] + "改" + text[-99:]
    diff = compare(normalise(post(text)), normalise(post(edited)))
    assert diff.classes == ("minor_fix",)
    assert [op for op, _ in diff.word_diff] == ["equal", "delete", "insert", "equal",
                                                "delete", "insert", "equal"]
    assert diff.similarity == 100.0  # 4 edits in 200,000 characters rounds to 100



def test_nfc_applies_before_hashing() -> None:
    nfd = unicodedata.normalize("NFD", "Ça coûte très cher")
    assert normalise(post(nfd)).text == "Ça coûte très cher"
