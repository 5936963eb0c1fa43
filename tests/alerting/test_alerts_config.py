"""The [alerts] table: a good one resolves its secrets; bad ones name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alerts.config import CHANNEL_OPTIONS, OPTIONS, from_watchlist, load_config
from monitor.errors import ConfigError, WatchlistError
from monitor.watchlist import parse_watchlist

GOOD = """
[groups.journalists]
[[groups.journalists.targets]]
platform = "mastodon"
account = "alice@example.social"

[alerts]
max_tries = 3
burst_threshold = 4
burst_window = "20m"
flap_cooldown = "2h"
alert_on_edits = true
digest_timezone = "Asia/Hong_Kong"
[alerts.channels.newsroom]
url_env = "NEWSROOM_URL"
format = "text"
digest = "hourly"
[alerts.channels.hook]
type = "webhook"
url = "https://receiver.example/hook"
secret_file = "{secret_file}"
[[alerts.routes]]
channels = ["newsroom"]
groups = ["journalists"]
kinds = ["disappeared"]
causes = ["removed_by_platform", "legal"]
[[alerts.routes]]
channels = ["hook"]
"""


def test_a_watchlist_alerts_table_loads_with_its_secrets(tmp_path: Path) -> None:
    secret = tmp_path / "hook.secret"
    secret.write_text("from-a-file\n")
    wl = parse_watchlist(GOOD.replace("{secret_file}", str(secret)))
    cfg = from_watchlist(wl, environ={"NEWSROOM_URL": "json://127.0.0.1:9/x"})
    assert (cfg.max_tries, cfg.burst_threshold, cfg.burst_window) == (3, 4, 1200.0)
    assert cfg.flap_cooldown == 7200.0 and cfg.alert_on_edits and cfg.alert_on_restorations
    assert cfg.digest_timezone == "Asia/Hong_Kong"
    news, hook = cfg.channels["newsroom"], cfg.channels["hook"]
    assert (news.type, news.format, news.digest, news.url) == ("apprise", "text", "hourly",
                                                              "json://127.0.0.1:9/x")
    assert (hook.type, hook.secret, hook.scheme) == ("webhook", "from-a-file", "https")
    assert cfg.routes[0].groups == frozenset({"journalists"})
    assert cfg.routes[0].causes == frozenset({"removed_by_platform", "legal"})
    assert cfg.routes[1].groups is None
    # Secrets never show in a repr (logs, tracebacks).
    assert "from-a-file" not in repr(hook) and "127.0.0.1:9/x" not in repr(news)


def test_defaults_without_an_alerts_table() -> None:
    cfg = load_config({}, environ={})
    assert cfg.channels == {} and cfg.routes == ()
    assert (cfg.max_tries, cfg.burst_threshold, cfg.flap_cooldown) == (8, 5, 21600.0)
    assert not cfg.alert_on_edits and cfg.alert_on_ambiguous


def hook(**kw: Any) -> dict[str, Any]:
    return {"type": "webhook", "url": "https://r.example/hook", "secret_env": "S", **kw}


ENV = {"S": "k", "EMPTY": " "}

BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown channel in a route",
     {"channels": {"hook": hook()}, "routes": [{"channels": ["hoook"]}]},
     "alerts.routes[0].channels", "unknown channel 'hoook'; did you mean 'hook'?"),
    ("route without channels",
     {"channels": {"hook": hook()}, "routes": [{"groups": ["journalists"]}]},
     "alerts.routes[0].channels", "missing"),
    ("route to a group not in the watchlist",
     {"channels": {"hook": hook()}, "routes": [{"channels": ["hook"], "groups": ["jounalists"]}]},
     "alerts.routes[0].groups", "no group 'jounalists' in the watchlist"),
    ("unknown kind", {"channels": {"hook": hook()},
                      "routes": [{"channels": ["hook"], "kinds": ["deleted"]}]},
     "alerts.routes[0].kinds", "unknown event kind 'deleted'"),
    ("unknown cause", {"channels": {"hook": hook()},
                       "routes": [{"channels": ["hook"], "causes": ["censored"]}]},
     "alerts.routes[0].causes", "unknown cause 'censored'"),
    ("unknown platform", {"channels": {"hook": hook()},
                          "routes": [{"channels": ["hook"], "platforms": ["myspace"]}]},
     "alerts.routes[0].platforms", "unknown platform 'myspace'"),
    ("bad Apprise URL", {"channels": {"news": {"url": "nosuchservice://tok3n-abcdef/x"}}},
     "alerts.channels.news.url", "not a URL Apprise can use (scheme 'nosuchservice://'"),
    ("webhook URL not http", {"channels": {"hook": hook(url="ftp://r.example/x")}},
     "alerts.channels.hook.url", "not an http(s) URL"),
    ("missing secret env", {"channels": {"hook": hook(secret_env="HOOK_SECRET")}},
     "alerts.channels.hook.secret_env", "environment variable HOOK_SECRET is not set"),
    ("empty secret env", {"channels": {"hook": hook(secret_env="EMPTY")}},
     "alerts.channels.hook.secret_env", "is not set or empty"),
    ("webhook without a secret", {"channels": {"hook": {"type": "webhook",
                                                         "url": "https://r.example/h"}}},
     "alerts.channels.hook", "no secret: set secret, secret_env or secret_file"),
    ("missing URL env", {"channels": {"news": {"url_env": "NEWSROOM_URL"}}},
     "alerts.channels.news.url_env", "NEWSROOM_URL is not set"),
    ("unreadable URL file", {"channels": {"news": {"url_file": "/nonexistent/secret"}}},
     "alerts.channels.news.url_file", "cannot read /nonexistent/secret"),
    ("two URLs", {"channels": {"news": {"url": "json://h/x", "url_env": "S"}}},
     "alerts.channels.news.url_env", "give only one of url, url_env"),
    ("secret on an Apprise channel", {"channels": {"news": {"url": "json://h/x",
                                                            "secret": "x"}}},
     "alerts.channels.news.secret", "only webhook channels are signed"),
    ("bad format", {"channels": {"hook": hook(format="html")}},
     "alerts.channels.hook.format", "'html': use one of: markdown, text"),
    ("bad digest", {"channels": {"hook": hook(digest="weekly")}},
     "alerts.channels.hook.digest", "'weekly': use one of: none, hourly, daily"),
    ("bad type", {"channels": {"x": {"type": "pigeon", "url": "json://h/x"}}},
     "alerts.channels.x.type", "unknown channel type 'pigeon'"),
    ("typo in a key", {"max_trys": 3}, "alerts.max_trys", "did you mean 'max_tries'?"),
    ("bad duration", {"burst_window": "soon"}, "alerts.burst_window", "is not a duration"),
    ("threshold of one", {"burst_threshold": 1}, "alerts.burst_threshold", "0 (no bursts)"),
    ("zero tries", {"max_tries": 0}, "alerts.max_tries", "at least 1"),
    ("toggle not a boolean", {"alert_on_edits": "yes"}, "alerts.alert_on_edits",
     "not a boolean"),
    ("bad time zone", {"digest_timezone": "Mars/Olympus"}, "alerts.digest_timezone",
     "unknown time zone"),
    ("lease shorter than a send", {"lease": "5s", "channels": {"hook": hook(timeout="10s")}},
     "alerts.lease", "longer than twice the slowest channel's timeout"),
]


@pytest.mark.parametrize(("raw", "key", "words"), [c[1:] for c in BAD],
                         ids=[c[0] for c in BAD])
def test_config_errors_name_the_key(raw: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(WatchlistError) as info:
        load_config(raw, "wl.toml", ENV, groups=["journalists"])
    assert info.value.key == key, str(info.value)
    assert words in info.value.problem
    assert str(info.value).startswith(f"wl.toml: {key}: ")
    assert isinstance(info.value, ConfigError)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(WatchlistError) as info:
        load_config({"max_tries": 0, "channels": {"hook": hook(secret_env="NOPE")},
                     "routes": [{"channels": ["nope"]}]}, "wl.toml", ENV)
    text = str(info.value)
    assert "3 problems" in text
    for key in ("alerts.max_tries", "alerts.channels.hook.secret_env",
                "alerts.routes[0].channels"):
        assert key in text


def test_a_bad_url_error_never_shows_the_url() -> None:
    token = "xoxb-123456789-secret-token"
    with pytest.raises(WatchlistError) as info:
        load_config({"channels": {"news": {"url": f"slak://{token}/C123"}}}, environ={})
    assert token not in str(info.value)
    assert "slak://" in str(info.value)


def test_channel_secrets_are_listed_for_scrubbing() -> None:
    cfg = load_config({"channels": {
        "mail": {"url": "mailtos://user:hunter2pass@mail.example.org?to=desk@example.org"},
        "hook": hook(url="https://r.example/hooks/T0123456789abcdefXYZ")}}, environ=ENV)
    mail = cfg.channels["mail"].secrets()
    assert "hunter2pass" in mail and "to=desk@example.org" in mail
    web = cfg.channels["hook"].secrets()
    assert "T0123456789abcdefXYZ" in web and "k" in web
    assert "r.example" not in web  # a web hook's host is not a secret


def test_apprise_tokens_are_secrets_as_apprise_sends_them() -> None:
    """Apprise posts slack://A/B/C to /services/A/B/C: the joined tokens are a secret,
    however short each is; a json:// path is the user's own, so all of it is."""
    cfg = load_config({"channels": {
        "slack": {"url": "slack://T000000/B000000/XXXXXXXXXXXX/#news"},
        "json": {"url": "json://hooks.example.org:8080/in/abc123"}}}, environ=ENV)
    slack = cfg.channels["slack"].secrets()
    assert "T000000/B000000/XXXXXXXXXXXX" in slack
    js = cfg.channels["json"].secrets()
    assert "in/abc123" in js and "abc123" in js
    assert not {"hooks.example.org", "8080", "hooks.example.org:8080"} & set(js)


def test_every_option_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "alerts" / "README.md").read_text()
    for name in [*OPTIONS, *CHANNEL_OPTIONS]:
        assert f"`{name}`" in readme, f"alerts/README.md does not document {name}"


def test_the_option_tables_are_read_from_the_model_and_nothing_else_is_made_up() -> None:
    """``OPTIONS`` and ``CHANNEL_OPTIONS`` come from the pydantic model when first read
    (a module ``__getattr__``); any other missing name is an AttributeError, as for any
    module: importlib's own probes (``__path__``) must not load the model."""
    import alerts.config as config

    assert set(OPTIONS) >= {"max_tries", "burst_threshold"}
    assert set(CHANNEL_OPTIONS) >= {"url", "type", "secret_env"}
    assert config.OPTIONS is OPTIONS  # read once, then a plain module attribute
    assert not hasattr(config, "__path__")
    with pytest.raises(AttributeError, match="no attribute 'NOT_AN_OPTION'"):
        config.NOT_AN_OPTION  # noqa: B018
