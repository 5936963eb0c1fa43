"""What the Telegram fake serves right after a scripted action, checked over HTTP (the
embed widget and the channel preview under ``/telegram/``), for ``tests/test_sandbox.py``."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

_TIMEOUT = 5


def _get(url: str) -> tuple[int, str, str]:
    """(status, body, final URL), following redirects; HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as r:
            return r.status, r.read().decode("utf-8", "replace"), r.url
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), e.url


def observe(sb: Any, action: dict[str, Any]) -> None:
    """Check the embed and the channel page of the post ``action`` acted on."""
    kind, key = action["action"], action["post_key"]
    channel, _, ident = key.partition("/")
    base = f"{sb.base_url}/telegram"
    status, embed, _ = _get(f"{base}/{channel}/{ident}?embed=1&mode=tme")
    assert status == 200, (kind, key, status)
    status, preview, final = _get(f"{base}/s/{channel}")
    assert status == 200, (kind, key, status)
    listed = f'data-post="{channel}/{ident}"' in preview
    if kind == "suspend_account" or "/s/" not in final:
        # The channel is blocked (by this action, or by a later one of the same tick).
        assert "tgme_widget_message_error" in embed and "Terms of Service" in embed, embed
        assert final.rstrip("/").endswith(f"/telegram/{channel}"), final
        assert "tgme_page_description" in preview and "Terms of Service" in preview
    elif kind == "restore":  # the channel unblocked
        assert f'data-post="{key}"' in embed and listed, (kind, key)
    elif kind == "edit":
        assert f'data-post="{key}"' in embed and "edited&nbsp;" in embed, (kind, embed)
        assert listed
    elif kind in ("delete_by_author", "delete_original"):
        assert "tgme_widget_message_error" in embed and "Post not found" in embed, embed
        assert not listed and "tgme_channel_info" in preview
    elif kind == "restrict_copyright":
        assert "copyright infringement" in embed and "message_media_not_supported_label" in embed
        assert listed
    else:
        raise AssertionError(f"telegram has no scripted action {kind!r}")
