"""The RedNote / Xiaohongshu platform declaration (Scrapy-free; the core imports it).

The note id is read from a URL here and only here (:func:`note_id`).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from monitor.platform import Kind, Platform

from .words import WORDS

BASE_URL = "https://www.xiaohongshu.com"
#: The note segment at the end of a path, after any prefix (a mirror's ``/mirror/xhs``).
NOTE_PATH = re.compile(r"/(?:explore|discovery/item)/(?P<id>[^/]+)/?\Z")
NOTE_ID = re.compile(r"[0-9a-fA-F]{24}")
URL_HINT = f"{BASE_URL}/explore/<24 hex id>?xsec_token=…"
#: RedNote topics are written ``#话题[话题]#``; the web shows them as ``#话题``.
TOPIC = re.compile(r"#([^#\[\]\n]{1,64})\[话题\]#")


def note_id(url: str) -> str | None:
    """The note id segment of a note page's URL (any case, unchecked), or None."""
    match = NOTE_PATH.search(urlsplit(url).path)
    return match["id"] if match else None


def check_note(value: str, has_base_url: bool) -> tuple[str, str | None]:
    from monitor.platform import url_check

    url, implied = url_check(value, has_base_url)
    found = note_id(url)
    if found is None:
        raise ValueError("not a RedNote note URL; copy the note's address from the browser, "
                         f"like {URL_HINT}")
    if not NOTE_ID.fullmatch(found):
        raise ValueError(f"note id {found!r} is not 24 hex characters; check the URL is "
                         f"complete, like {URL_HINT}")
    return url, implied


def note_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    """A note is its id, whatever host, token or case its URL carries."""
    found = note_id(value)
    return (found.lower(), BASE_URL) if found else (value, BASE_URL)


def note_ref(url: str, base_url: str | None) -> tuple[str, str]:
    found = note_id(url)
    if found is None or not NOTE_ID.fullmatch(found):
        raise ValueError(f"{url!r} is not a RedNote note URL (…/explore/<24 hex id>)")
    return found, url


def check_user(value: str, has_base_url: bool) -> tuple[str, str | None]:
    if not NOTE_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a RedNote user id; give the 24 hex characters "
                         "after /user/profile/ in the profile's address")
    return value, BASE_URL


def user_identity(value: str, base_url: str | None) -> tuple[str, str | None]:
    return value, BASE_URL


def fold_topics(text: str) -> str:
    return TOPIC.sub(r"#\1 ", text)


PLATFORM = Platform(
    name="rednote",
    title="RedNote / Xiaohongshu note pages",
    aliases=("xiaohongshu", "xhs"),
    kinds={
        "post": Kind("post", check=check_note, identity=note_identity, post_ref=note_ref,
                     example=URL_HINT),
        "account": Kind("account", check=check_user, identity=user_identity,
                        example="<24 hex user id>"),
    },
    spider="spiders.rednote.spider.RednoteSpider",
    fake="spiders.rednote.fake.FAKE",
    default_base_url=BASE_URL,
    normalise_text=fold_topics,
    words=WORDS,
    probe_token="xsec_token",
    token_notices=frozenset({"unavailable_generic"}),
)
