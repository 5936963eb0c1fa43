"""The mutations of :mod:`bench.fuzz`: whole documents, and one entry of a listing.

Document mutations: truncation, byte flips, inserted runs of hostile bytes,
UTF-16 with a BOM, wrong content types, duplicated slices. Entry mutations make
1-3 fields of one entry odd (null, strings where objects belong, numbers out of
range, NUL, lone surrogates, broken URLs, deep nesting, huge text and
attributes). Two families of entry mutator:

- :data:`MUTATE_ENTRY` returns the keys the *other* entries are listed under
  (Mastodon statuses, RSS/Atom/RDF items, RedNote profile cards);
- :data:`MUTATE_NESTED` returns every string the mutated entry held (the keys
  the listing may lose with it); the fuzz run compares with the keys the clean
  fixture lists (Weibo ``data.cards[].mblog``, Reddit ``data.children[].data``,
  a Reddit thread's two Listings, Reddit's Atom feed, RedNote ``user_posted``).
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from typing import Any

from lxml import etree

#: Values put where an entry's fields were.
ODD_VALUES: list[Any] = [
    None, "", "x", "\u0000", "a\u0000b", "\ud800", "12", "-1", "1.2万", "NaN", 0, -1,
    2**63, -(2**63) - 1, 10**40, 1e308, -0.0, True, [], [None], {}, {"id": None},
    {"id": "\u0000"}, "http://[x", "file:///etc/passwd", "2026-13-45T99:99:99Z",
    "9999-12-31T23:59:59+23:59", "<a href=\"http://[x\">x</a>", "a" * 100_000,
]
#: Byte runs inserted into whole documents.
INSERTS = [
    b"\x00", b"\xff\xfe\xfd", b"\xc3", b"\xed\xa0\x80", b"[" * 5000, b"{" * 5000,
    b"<a>" * 2000, b" " * 100_000, b'"' * 5000, b"\\" * 5000, b"undefined", b"</script>",
    b"<script>" * 1000, b"window.__INITIAL_STATE__=", b"]]>", b"&x;", b"<!--",
    b'<a href="http://[x">', b"99999999999999999999999999",
]
TEXT_FIELDS = ("title", "description", "link", "guid", "pubDate", "author", "id", "updated",
               "published", "content", "summary")
Mutator = Callable[[random.Random, bytes], tuple[bytes, set[str]]]


def mutate_document(rng: random.Random, body: bytes, headers: dict[str, str]) -> tuple[
        str, bytes, dict[str, str]]:
    kind = rng.choice(["truncate", "flip", "insert", "utf16", "ctype", "duplicate"])
    if kind == "truncate":
        return kind, body[:rng.randrange(len(body))], headers
    if kind == "flip":
        data = bytearray(body)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return kind, bytes(data), headers
    if kind == "insert":
        at = rng.randrange(len(body) + 1)
        return kind, body[:at] + rng.choice(INSERTS) * rng.randint(1, 3) + body[at:], headers
    if kind == "utf16":
        return kind, body.decode("utf-8", "replace").encode("utf-16"), headers
    if kind == "ctype":
        ctype = rng.choice(["text/html", "application/json", "image/png", "text/plain; "
                            "charset=utf-16", "application/xml; charset=nonsense", ""])
        return kind, body, {"Content-Type": ctype}
    a, b = sorted(rng.randrange(len(body) + 1) for _ in range(2))
    return kind, body[:b] + body[a:b] * rng.randint(2, 50) + body[b:], headers


def odd_value(rng: random.Random) -> Any:
    if rng.random() < 0.1:
        depth = rng.choice([50, 500, 5000])
        return json.loads("[" * depth + "]" * depth) if depth < 900 else "[" * depth
    return copy.deepcopy(rng.choice(ODD_VALUES))


def mutate_json_object(rng: random.Random, obj: Any) -> Any:
    """``obj`` with 1-3 of its fields (or its nested objects' fields) made odd."""
    if not isinstance(obj, dict) or rng.random() < 0.1:
        return odd_value(rng)
    for _ in range(rng.randint(1, 3)):
        target = obj
        while True:
            key = rng.choice([*target.keys(), "id", "account", "media_attachments"])
            inner = target.get(key)
            if isinstance(inner, dict) and inner and rng.random() < 0.5:
                target = inner
                continue
            if isinstance(inner, list) and inner and rng.random() < 0.5:
                inner[rng.randrange(len(inner))] = odd_value(rng)
            else:
                target[key] = odd_value(rng)
            break
    return obj


def _entry_key(entry: Any) -> str | None:
    value = entry.get("id") if isinstance(entry, dict) else None
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def mutate_json_listing(rng: random.Random, body: bytes) -> tuple[bytes, set[str]]:
    page = json.loads(body)
    i = rng.randrange(len(page))
    others = {k for j, e in enumerate(page) if j != i and (k := _entry_key(e))}
    page[i] = mutate_json_object(rng, page[i])
    return json.dumps(page).encode(), others


def mutate_profile(rng: random.Random, body: bytes) -> tuple[bytes, set[str]]:
    from spiders.rednote.state import initial_state

    state = initial_state(body.decode())
    assert state is not None
    cards = state["user"]["notes"][0]
    i = rng.randrange(len(cards))
    others = {k for j, c in enumerate(cards) if j != i and (k := _entry_key(c))}
    cards[i] = mutate_json_object(rng, cards[i])
    html = ("<html><body><script>window.__INITIAL_STATE__=" + json.dumps(state)
            + "</script></body></html>")
    return html.encode("utf-8", "surrogatepass"), others


def _xml_safe(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)[:100_000]
    return "".join(c for c in text if c in "\t\n\r" or (" " <= c and not 0xD800 <= ord(c)
                                                          <= 0xDFFF and c not in "\ufffe\uffff"))


def _mutate_feed_item(rng: random.Random, body: bytes) -> tuple[bytes, int, set[str]]:
    """One item of a feed made odd: the document, the item's index, and every text
    and attribute value the item had (what the listing may lose with it)."""
    root = etree.fromstring(body)
    items = [el for el in root.iter() if etree.QName(el).localname in ("item", "entry")]
    i = rng.randrange(len(items))
    item = items[i]
    had = {t.strip() for el in item.iter() for t in (el.text or "", *el.attrib.values())}
    for _ in range(rng.randint(1, 3)):
        action = rng.choice(["text", "attribute", "nest", "link", "drop"])
        children = list(item)
        child = rng.choice(children) if children else item
        if action == "text":
            name = rng.choice(TEXT_FIELDS)
            found = [c for c in children if etree.QName(c).localname == name] or [child]
            found[0].text = _xml_safe(odd_value(rng))
        elif action == "attribute":
            child.set(rng.choice(["href", "rel", "type", "about", "x"]), "a" * 1_000_000)
        elif action == "nest":
            parent = child
            for _ in range(rng.choice([10, 100, 200])):
                parent = etree.SubElement(parent, "div")
        elif action == "link":
            child.set("href", rng.choice(["http://[x", "javascript:1", "//[::1", ""]))
        elif children:
            item.remove(child)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), i, had


def mutate_feed(rng: random.Random, body: bytes) -> tuple[bytes, set[str]]:
    from spiders.rss.spider import parse_feed

    keys = [e.key for e in parse_feed(body, "https://news.example.org/feed").entries]
    mutated, i, _ = _mutate_feed_item(rng, body)
    return mutated, {k for j, k in enumerate(keys) if j != i}


def mutate_feed_item(rng: random.Random, body: bytes) -> tuple[bytes, set[str]]:
    """Any feed: one item made odd; the values it held (keys the listing may lose)."""
    mutated, _, had = _mutate_feed_item(rng, body)
    return mutated, had


def strings(value: Any) -> set[str]:
    """Every string and number in ``value``, nested."""
    if isinstance(value, dict):
        return set().union(*map(strings, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(strings, value)) if value else set()
    if isinstance(value, str | int) and not isinstance(value, bool):
        return {str(value)}
    return set()


def at(doc: Any, *path: str) -> Any:
    """``doc[path[0]][path[1]]…``, None where an object is missing."""
    for name in path:
        doc = doc.get(name) if isinstance(doc, dict) else None
    return doc


def nested_entries(locate: Callable[[Any], list[Any]], inner: str | None = None) -> Mutator:
    """A mutator for entries nested in a JSON answer (``locate`` finds the lists):
    one entry, or (mostly) its ``inner`` object, made odd. It returns the strings
    the entry held: the keys the listing may lose with it."""
    def mutate(rng: random.Random, body: bytes) -> tuple[bytes, set[str]]:
        doc = json.loads(body)
        lists = [found for found in locate(doc) if isinstance(found, list) and found]
        entries = rng.choice(lists)
        i = rng.randrange(len(entries))
        entry = entries[i]
        had = strings(entry)
        if inner and isinstance(entry, dict) and isinstance(entry.get(inner), dict) \
                and rng.random() < 0.8:
            entry[inner] = mutate_json_object(rng, entry[inner])
        else:
            entries[i] = mutate_json_object(rng, entry)
        return json.dumps(doc).encode(), had
    return mutate


#: Entry mutators that return the keys the other entries are listed under.
MUTATE_ENTRY: dict[str, Mutator] = {
    "json": mutate_json_listing, "feed": mutate_feed, "profile": mutate_profile}
#: Entry mutators that return what the mutated entry held.
MUTATE_NESTED: dict[str, Mutator] = {
    "posted": nested_entries(lambda d: [at(d, "data", "notes")]),
    "cards": nested_entries(lambda d: [at(d, "data", "cards")], "mblog"),
    "children": nested_entries(lambda d: [at(d, "data", "children")], "data"),
    "batch": nested_entries(lambda d: [at(d, "data", "children")], "data"),
    "thread": nested_entries(lambda d: [at(p, "data", "children") for p in d], "data"),
    "reddit_feed": mutate_feed_item,
}
