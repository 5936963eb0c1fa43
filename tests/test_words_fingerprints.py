"""Platform words as fingerprints: every built-in rule, the matching, and ``json:`` paths.

(Helper C2's file; ``tests/test_tokenise.py`` tests the word tokeniser of the diff.)
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from monitor import platforms
from monitor.classify import ACCOUNT_STATES, NOTICES, classify_disappearance
from monitor.observation import BLOCKED, TRANSIENT, Outcome
from monitor.observation import NOTICES as NOTICE_TEXTS
from monitor.platform import (
    MATCH_TYPES,
    MAX_JSON_VALUES,
    Rule,
    answer_said,
    json_path,
    json_said,
    json_values,
    match_words,
    normalise_words,
    scope_problem,
)

ROOT = Path(__file__).resolve().parent.parent
BUILT_INS = ("bluesky", "mastodon", "reddit", "rednote", "rss", "telegram", "tiktok", "webpage",
             "weibo", "x", "youtube")
ALL_RULES = [(name, rule) for name in BUILT_INS for rule in platforms.PLATFORMS[name].words]


@pytest.mark.parametrize(("platform", "rule"), ALL_RULES,
                         ids=[rule.name for _, rule in ALL_RULES])
def test_every_built_in_rule_is_a_well_formed_fingerprint(platform: str, rule: Rule) -> None:
    assert rule.name.startswith(f"{platform}."), "name it <platform>.<scope>.<what>"
    assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", rule.name), rule.name
    assert rule.outcome in {o.value for o in Outcome}, rule
    assert rule.notice is None or (rule.notice in NOTICES and rule.notice in NOTICE_TEXTS), rule
    assert rule.match in MATCH_TYPES, rule
    assert scope_problem(rule.scope) is None, scope_problem(rule.scope)
    assert rule.account_state is None or rule.account_state in ACCOUNT_STATES, rule
    # unavailable needs a notice (or account state) to say which
    assert rule.notice or rule.account_state or rule.outcome != "unavailable", rule
    if rule.match == "regex":
        re.compile(rule.pattern)
    if Outcome(rule.outcome) in BLOCKED:
        assert rule.notice is None, "a block says nothing about the item"


def test_built_in_rule_names_are_unique() -> None:
    names = [rule.name for _, rule in ALL_RULES]
    assert len(ALL_RULES) > 30
    assert sorted(n for n in names if names.count(n) > 1) == []


def test_the_checks_above_can_fail() -> None:
    assert scope_problem("pagetext") is not None
    assert scope_problem("json:a..b") is not None
    assert scope_problem("header.") is not None
    assert all(scope_problem(s) is None for s in ("status", "body", "final_url", "header.Server",
                                                  "json:data.children[].data.x", "page_text"))
    with pytest.raises(re.error):
        re.compile(Rule("body", "(", "anti_bot", match="regex").pattern)


def _literals(path: Path) -> set[str]:
    """String constants of a module, docstrings and field names left out (comments are
    not in the AST). A field name is a key read with ``x.get("author")`` or
    ``x["author"]``: reading a field is not deciding on its value."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef |
                          ast.AsyncFunctionDef)
            and node.body and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)}
    keys = {id(node.slice) for node in ast.walk(tree) if isinstance(node, ast.Subscript)}
    keys |= {id(node.args[0]) for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr == "get" and node.args}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docs and id(node) not in keys}


def _numbers(path: Path) -> set[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and type(node.value) is int}


@pytest.mark.parametrize("platform", BUILT_INS)
def test_a_platform_s_patterns_live_only_in_its_words_file(platform: str) -> None:
    """No spider (or other module of the package) hard-codes what its words say:
    a text pattern in a string literal, or a platform code as a number."""
    words = platforms.PLATFORMS[platform].words
    # The sandbox fake plays the platform, so it says the platform's words; it is
    # not a place that reads them.
    others = [p for p in (ROOT / "spiders" / platform).rglob("*.py")
              if p.name != "words.py" and not any(part.startswith("fake") for part in
                                                  p.relative_to(ROOT).parts)]
    assert others, platform
    generic = {"403", "404", "410", "0"}  # HTTP statuses every spider reads via responses.py
    for path in others:
        # Its declaration names itself; notice codes are the core's vocabulary.
        literals = _literals(path) - {platform} - NOTICES
        numbers = _numbers(path)
        for rule in words:
            if rule.pattern in generic:
                continue
            # An exact-match pattern leaks as itself ("reddit" is in "subreddit").
            leaks = [lit for lit in literals if (rule.pattern == lit if rule.match == "equal"
                                                 else rule.pattern in lit)]
            assert not leaks, f"{rule.name}: {rule.pattern!r} also in {path.name}: {leaks}"
            if rule.pattern.lstrip("-").isdigit():
                assert int(rule.pattern) not in numbers, f"{rule.name} also in {path.name}"


def test_the_leak_check_finds_a_leak(tmp_path: Path) -> None:
    spider = tmp_path / "spider.py"
    spider.write_text('"""Docstring 安全验证 is fine."""\nCODES = {461}\nX = "页 安全验证 x"\n',
                      encoding="utf-8")
    assert "页 安全验证 x" in _literals(spider) and 461 in _numbers(spider)
    assert not any("Docstring" in lit for lit in _literals(spider))


# --- matching ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("it\u2019s  gone", "it's gone"),
    ("\n\t whoa   there,\u00a0pardner! \r\n", "whoa there, pardner!"),
    ("\u2018quoted\u2019", "'quoted'"),
    ("", ""),
])
def test_normalise_words(text: str, expected: str) -> None:
    assert normalise_words(text) == expected


def test_text_matches_are_made_on_normalised_text() -> None:
    rules = (Rule("body", "This post isn't available", "unavailable", "deleted",
                  match="contains", name="x.deleted"),
             Rule("body", "whoa  there, pardner!", "collector_blocked", match="contains",
                  name="x.pardner"),
             Rule("title", "Removed", "unavailable", "removed_by_moderator", match="prefix",
                  name="x.removed"))
    hit = match_words(rules, {"body": "<p>This post\nisn\u2019t   available.</p>"})
    assert hit is not None and hit.rule.name == "x.deleted"
    assert hit.text == "<p>This post\nisn\u2019t   available.</p>"  # as said
    hit = match_words(rules, {"body": "Whoa there, pardner! whoa there,\n pardner!"})
    assert hit is not None and hit.rule.name == "x.pardner"
    hit = match_words(rules, {"title": "  Removed by mods"})
    assert hit is not None and hit.rule.name == "x.removed"
    assert match_words(rules, {"title": "Not Removed"}) is None
    assert match_words(rules, {"body": "this post isn't available"}) is None  # case counts


def test_a_rule_without_a_name_gets_a_stable_one() -> None:
    assert Rule("status", "432", "collector_blocked").name == "status.equal.432"
    assert Rule("status", "432", "collector_blocked", name="weibo.http432",
                source="platform notes: weibo.md").name == "weibo.http432"


def test_blocked_outcomes_are_transient_and_never_absent() -> None:
    assert BLOCKED == {Outcome.ANTI_BOT, Outcome.AUTH_REQUIRED, Outcome.TOKEN_EXPIRED,
                       Outcome.COLLECTOR_BLOCKED}
    assert BLOCKED <= TRANSIENT
    for outcome in Outcome:
        assert outcome.blocked is (outcome in BLOCKED)
        assert not (outcome.blocked and outcome.absent)


# --- json: paths ---------------------------------------------------------------------------

REDDIT_INFO = {"kind": "Listing", "data": {"children": [
    {"kind": "t3", "data": {"id": "a1", "selftext": "[removed]",
                            "removed_by_category": "moderator", "over_18": False,
                            "score": 12, "ratio": 0.5}},
    {"kind": "t3", "data": {"id": "a2", "selftext": "hello", "removed_by_category": None}},
    "odd", 7, None, {"data": "not an object"},
]}}


@pytest.mark.parametrize(("path", "values"), [
    ("data.children[].data.removed_by_category", ["moderator"]),
    ("data.children[].data.selftext", ["[removed]", "hello"]),
    ("data.children[].data.over_18", ["false"]),
    ("data.children[].data.score", ["12"]),
    ("data.children[].data.ratio", ["0.5"]),
    ("data.children[1].data.id", ["a2"]),
    ("data.children[9].data.id", []),
    ("data.children", []),  # a list is not a value
    ("kind", ["Listing"]),
    ("nothing.here[]", []),
    ("data.children[].kind", ["t3", "t3"]),
])
def test_json_values(path: str, values: list[str]) -> None:
    assert json_values(REDDIT_INFO, path) == values


def test_json_paths_with_quoted_keys_and_a_list_root() -> None:
    state = {"__DEFAULT_SCOPE__": {"webapp.video-detail": {"statusCode": 10204}}}
    path = '__DEFAULT_SCOPE__["webapp.video-detail"].statusCode'
    assert json_path(path) == ("__DEFAULT_SCOPE__", "webapp.video-detail", "statusCode")
    assert json_values(state, path) == ["10204"]
    assert json_values([{"a": 1}, {"a": "x"}], "[].a") == ["1", "x"]
    assert json_values("a string", "a.b") == [] and json_values(None, "[]") == []


@pytest.mark.parametrize("path", ["", "a.", ".a", "a..b", "a[x]", "a[", 'a["b', "a[-1]"])
def test_bad_json_paths_say_why(path: str) -> None:
    with pytest.raises(ValueError, match="json path"):
        json_path(path)


def test_json_paths_are_bounded_on_hostile_data() -> None:
    # Deep nesting off the path costs nothing; a huge fan-out is cut at MAX_JSON_VALUES.
    deep: object = "x"
    for _ in range(100_000):
        deep = [deep]
    huge = {"a": [{"b": [{"c": i} for i in range(50)]} for _ in range(2000)], "deep": deep}
    got = json_values(huge, "a[].b[].c")
    assert len(got) == MAX_JSON_VALUES
    assert json_values(huge, "deep[][][][][][][][][]") == []
    assert json_values({"a": list(range(10))}, "a[]", limit=3) == ["0", "1", "2"]


def test_answer_said_builds_every_location_a_table_reads() -> None:
    rules = (Rule("json:data.children[].data.removed_by_category", "moderator", "unavailable",
                  "removed_by_moderator", name="forum.removed.moderator"),
             Rule("header.X-Block", "yes", "collector_blocked", name="forum.block.header"),
             Rule("body", "whoa there, pardner!", "collector_blocked", match="contains",
                  name="forum.block.pardner"))
    body = json.dumps(REDDIT_INFO)
    said = answer_said(rules, status=200, headers={"x-block": "no"}, body=body,
                       final_url="http://127.0.0.1/api/info", data=REDDIT_INFO)
    assert said["json:data.children[].data.removed_by_category"] == ["moderator"]
    assert said["header.X-Block"] == "no" and said["status"] == 200
    assert json_said(REDDIT_INFO, rules) == {
        "json:data.children[].data.removed_by_category": ["moderator"]}
    hit = match_words(rules, said)
    assert hit is not None and hit.rule.name == "forum.removed.moderator"
    verdict = classify_disappearance("mastodon", [{"outcome": "unavailable", "signals": {
        "notice": hit.rule.notice, "fingerprint": hit.rule.name}}])
    assert (verdict.cause, verdict.detail) == ("removed_by_moderator", None)
    # Table order is precedence: the same answer with a blocking header still says
    # moderator; the header alone says blocked.
    assert match_words(rules, {**said, "header.X-Block": "yes"}).rule is rules[0]  # type: ignore[union-attr]
    blocked = match_words(rules, {"header.X-Block": "yes"})
    assert blocked is not None and blocked.rule.name == "forum.block.header"
