"""Settings: a typed, frozen model; priority env > file > default; messages that say where."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import ValidationError

from monitor.errors import ConfigError
from monitor.settings import SETTINGS, Settings, format_duration, main, settings_table


def test_defaults_are_typed() -> None:
    s = Settings.load(environ={})
    assert s.CONFIRM_PROBES == 2 and isinstance(s.CONFIRM_PROBES, int)
    assert s.CONFIRM_SPACING == 300.0 and isinstance(s.CONFIRM_SPACING, float)
    assert s.ROBOTSTXT_OBEY is True and s.DATABASE_URL == ""
    assert s.RECHECK_SCHEDULE == (120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0,
                                  43200.0, 86400.0)
    assert s == Settings()  # load with nothing given is the model's defaults


def test_priority_is_environment_then_file_then_default() -> None:
    s = Settings.load({"confirm_spacing": "10s", "tick": "1m"},
                      {"TAKEDOWN_CONFIRM_SPACING": "20s", "TAKEDOWN_LEASE": "1h",
                       "TAKEDOWN_NOT_A_SETTING": "x"})
    assert s["CONFIRM_SPACING"] == 20.0  # environment beats the file
    assert s["TICK"] == 60.0  # the file beats the default
    assert s["LEASE"] == 3600.0  # the environment beats the default
    assert s["CONFIRM_RETRY"] == 120.0  # the default


def test_file_names_may_be_in_any_case() -> None:
    assert Settings.load({"Confirm_Probes": 3}, environ={})["CONFIRM_PROBES"] == 3


@pytest.mark.parametrize(("name", "raw", "value"), [
    ("TICK", 90, 90.0),
    ("TICK", "90", 90.0),
    ("TICK", "90s", 90.0),
    ("TICK", "5m", 300.0),
    ("TICK", " 2H ", 7200.0),
    ("TICK", "1d", 86400.0),
    ("TICK", 0.5, 0.5),
    ("RECHECK_SCHEDULE", "1s, 2m,,1h", (1.0, 120.0, 3600.0)),
    ("RECHECK_SCHEDULE", ["1s", 30], (1.0, 30.0)),
    ("ROBOTSTXT_OBEY", "yes", True),
    ("ROBOTSTXT_OBEY", "no", False),
    ("ROBOTSTXT_OBEY", "1", True),
    ("ROBOTSTXT_OBEY", "0", False),
    ("ROBOTSTXT_OBEY", "False", False),
    ("ROBOTSTXT_OBEY", False, False),
    ("CONFIRM_PROBES", "3", 3),
    ("CONFIRM_PROBES", 3.0, 3),
    ("RETRY_TIMES", 0, 0),
    ("DOWNLOAD_DELAY", "0.25", 0.25),
    ("VANTAGE", "hk-1", "hk-1"),
    ("VANTAGE", 7, "7"),
])
def test_values_are_read_like_a_user_writes_them(name: str, raw: Any, value: Any) -> None:
    from_file = Settings.load({name.lower(): raw}, environ={})
    assert from_file[name] == value
    if not isinstance(raw, list):
        assert Settings.load(environ={f"TAKEDOWN_{name}": str(raw)})[name] == value


@pytest.mark.parametrize(("file_values", "environ", "said"), [
    ({"tick": "soon"}, {}, "w.toml: tick: 'soon' is not a duration; write it like 90s, 5m"),
    ({}, {"TAKEDOWN_TICK": "soon"}, "TAKEDOWN_TICK: 'soon' is not a duration"),
    ({}, {"TAKEDOWN_TICK": "-5s"}, "TAKEDOWN_TICK: a duration cannot be negative"),
    ({}, {"TAKEDOWN_TICK": "inf"}, "TAKEDOWN_TICK: 'inf' is not a finite duration"),
    ({}, {"TAKEDOWN_TICK": "nan"}, "TAKEDOWN_TICK: a duration cannot be negative"),
    ({"autothrottle": "maybe"}, {}, "w.toml: autothrottle: 'maybe' is not a boolean; use true"),
    ({"confirm_probes": "two"}, {}, "w.toml: confirm_probes: 'two' is not a whole number"),
    ({"confirm_probes": 2.5}, {}, "w.toml: confirm_probes: 2.5 is not a whole number"),
    ({"confirm_probes": True}, {}, "w.toml: confirm_probes: True is not a whole number"),
    ({"confirm_probes": 0}, {}, "w.toml: confirm_probes: must be at least 1"),
    ({}, {"TAKEDOWN_BATCH_SIZE": "0"}, "TAKEDOWN_BATCH_SIZE: must be at least 1"),
    ({"recheck_schedule": ","}, {}, "w.toml: recheck_schedule: give at least one duration"),
    ({"vantage": ["a"]}, {}, "w.toml: vantage: ['a'] is not text; write it in quotes"),
    ({"confirm_spacin": "1s"}, {},
     "w.toml: unknown setting 'confirm_spacin'; did you mean 'confirm_spacing'? known settings: "
     "database_url, data_dir"),
])
def test_a_bad_value_names_where_it_came_from(
    file_values: dict[str, Any], environ: dict[str, str], said: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load(file_values, environ, source="w.toml")
    assert str(caught.value).startswith(said), str(caught.value)


def test_every_bad_setting_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load({"tick": "soon", "lease": "1h", "flap_versons": 2},
                      {"TAKEDOWN_LEASE": "later", "TAKEDOWN_CONFIRM_PROBES": "x"},
                      source="w.toml")
    lines = str(caught.value).splitlines()
    assert lines[0] == "4 problems with the settings:"
    assert sorted(line.split(":")[0].strip() for line in lines[1:]) == [
        "TAKEDOWN_CONFIRM_PROBES", "TAKEDOWN_LEASE", "w.toml", "w.toml"]
    text = str(caught.value)
    assert "did you mean 'flap_versions'?" in text
    assert "w.toml: tick: 'soon'" in text and "TAKEDOWN_LEASE: 'later'" in text
    assert "w.toml: lease" not in text  # the environment's value is the one that counts


def test_settings_are_frozen() -> None:
    s = Settings.load(environ={})
    with pytest.raises(TypeError, match=r"frozen; use settings.replace\(TICK=…\)"):
        s["TICK"] = 1.0  # type: ignore[index]
    with pytest.raises(TypeError, match="frozen"):
        del s["TICK"]  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="frozen"):
        s.TICK = 1.0  # type: ignore[misc]
    assert s.TICK == 5.0
    with pytest.raises(AttributeError):
        s.RECHECK_SCHEDULE.append(1.0)  # type: ignore[attr-defined]  # a tuple, not a list
    assert hash(s) == hash(Settings.load(environ={}))


def test_replace_makes_a_validated_variant() -> None:
    s = Settings.load({"tick": "1s"}, environ={})
    t = s.replace(CONFIRM_PROBES="3", CONFIRM_SPACING="1m")
    assert (t.CONFIRM_PROBES, t.CONFIRM_SPACING, t.TICK) == (3, 60.0, 1.0)
    assert (s.CONFIRM_PROBES, s.CONFIRM_SPACING) == (2, 300.0)  # the original is untouched
    with pytest.raises(ConfigError, match="replace: CONFIRM_PROBES: must be at least 1"):
        s.replace(CONFIRM_PROBES=0)
    with pytest.raises(ConfigError, match="unknown setting 'TIKC'; did you mean 'TICK'"):
        s.replace(TIKC=1)


def test_settings_read_as_a_mapping() -> None:
    s = Settings.load(environ={"TAKEDOWN_VANTAGE": "hk"})
    assert isinstance(s, Mapping)
    assert list(s) == list(SETTINGS) == list(s.keys()) and len(s) == len(SETTINGS)
    assert "VANTAGE" in s and "vantage" not in s and "NOPE" not in s
    assert s.get("VANTAGE") == "hk" and s.get("NOPE", 1) == 1
    assert dict(s)["VANTAGE"] == {**s}["VANTAGE"] == dict(s.items())["VANTAGE"] == "hk"
    with pytest.raises(KeyError):
        s["NOPE"]
    # A variant for code that wants a plain dict: it is a copy, not the settings.
    variant = {**s, "CONFIRM_PROBES": 3}
    assert variant["CONFIRM_PROBES"] == 3 and s["CONFIRM_PROBES"] == 2


def test_the_table_keeps_name_default_help_and_parser() -> None:
    tick = SETTINGS["TICK"]
    assert (tick.name, tick.default, tick.shown) == ("TICK", 5.0, "5s")
    assert tick.help == Settings.model_fields["TICK"].description
    assert tick.parse("2m") == 120.0
    with pytest.raises(ValueError, match="is not a duration"):
        tick.parse("soon")
    assert SETTINGS["RECHECK_SCHEDULE"].shown == "2m,5m,10m,30m,1h,2h,6h,12h,1d"
    assert SETTINGS["DOWNLOAD_DELAY"].shown == "0" and SETTINGS["DATA_DIR"].shown == ""
    assert all(s.help for s in SETTINGS.values())


@pytest.mark.parametrize(("seconds", "shown"), [
    (0.5, "0.5s"), (20.0, "20s"), (90.0, "90s"), (120.0, "2m"), (3600.0, "1h"),
    (5400.0, "90m"), (86400.0, "1d"), (30 * 86400.0, "30d")])
def test_durations_are_shown_in_their_largest_even_unit(seconds: float, shown: str) -> None:
    assert format_duration(seconds) == shown


def test_markdown_table_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--markdown"]) == 0
    out = capsys.readouterr().out
    assert out == settings_table()
    assert "| `CONFIRM_SPACING` | `5m` | Minimum time between" in out
    assert "| `DATABASE_URL` | (empty) |" in out
    assert main([]) == 2


def test_platform_settings_reach_their_spider_and_secrets_do_not() -> None:
    """An operator's BLUESKY_* or X_* setting (file or environment) is in the crawl's
    Scrapy settings under its own name, where the spider reads it; a secret is not (Scrapy
    logs its overridden settings), and an unset one leaves the spider's default."""
    from spiders.bluesky.spider import BlueskySpider
    from spiders.settings import scrapy_settings

    settings = Settings.load({"bluesky_labelers": "did:plc:lab1, https://labeler.example"},
                             environ={"TAKEDOWN_X_SYNDICATION_TOKEN": "abc123",
                                      "TAKEDOWN_REDDIT_CLIENT_SECRET": "s3cret"})
    crawl = scrapy_settings(settings)
    BlueskySpider.update_settings(crawl)
    assert [v.strip() for v in crawl.getlist("BLUESKY_LABELERS")] == [
        "did:plc:lab1", "https://labeler.example"]
    assert crawl.get("X_SYNDICATION_TOKEN") == "abc123"
    assert crawl.get("REDDIT_CLIENT_SECRET") is None
    assert "s3cret" not in repr(dict(crawl))
    assert crawl.getint("BLUESKY_MAX_PAGES") == 2  # the spider's own default


def test_recorder_priority_is_normal_or_idle_and_a_wrong_one_says_which() -> None:
    assert Settings.load(environ={}).RECORDER_PRIORITY == "normal"
    assert Settings.load(environ={"TAKEDOWN_RECORDER_PRIORITY": "idle"}).RECORDER_PRIORITY == "idle"
    with pytest.raises(ConfigError, match="RECORDER_PRIORITY is 'low'; use normal or idle"):
        Settings.load({"recorder_priority": "low"}, environ={})
