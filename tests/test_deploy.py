"""The files in deploy/: Prometheus rules and their unit tests, Alertmanager routing,
the Grafana dashboard, docker-compose.yml, the systemd unit and the example watchlist.

promtool, amtool and systemd-analyze come from Debian packages. A test that needs
one fails, and says which package to install, when it is missing; it never skips.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.events import CAUSES, EVENT_KINDS
from monitor.observation import TRANSIENT, Outcome
from monitor.watchlist import load_watchlist

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the environment
    yaml = None  # type: ignore[assignment]

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
RULES = DEPLOY / "prometheus" / "rules" / "takedown.rules.yml"
RULE_TESTS = sorted((DEPLOY / "prometheus" / "tests").glob("*.yml"))
PROMETHEUS_YML = DEPLOY / "prometheus" / "prometheus.yml"
ALERTMANAGER_YML = DEPLOY / "alertmanager" / "alertmanager.yml"
DASHBOARD = DEPLOY / "grafana" / "takedown-dashboard.json"
COMPOSE = DEPLOY / "docker-compose.yml"
UNIT = DEPLOY / "systemd" / "takedown-monitor.service"

# The metrics monitor/metrics.py exports (test_metric_list_matches_the_code keeps this in
# step with it); names in rules and dashboards must be among them.
COUNTERS = {
    "takedown_checks_total",
    "takedown_events_total",
    "takedown_alert_delivery_attempts_total",
    "takedown_collector_paused_observations_total",
}
HISTOGRAMS = {"takedown_check_duration_seconds", "takedown_time_to_takedown_seconds"}
GAUGES = {
    "takedown_tracked_targets",
    "takedown_targets_needing_attention",
    "takedown_tracked_posts",
    "takedown_checks_overdue",
    "takedown_workers_live",
    "takedown_group_last_success_timestamp_seconds",
    "takedown_platform_error_streak",
    "takedown_alert_delivery_queue",
    "takedown_alert_dead_letters",
    "takedown_collector_up",
    "takedown_collector_block_ratio",
    "takedown_collector_last_success_timestamp_seconds",
    "takedown_build_info",
    "takedown_collector_paused",
}
SERIES = (
    COUNTERS
    | GAUGES
    | {h + suffix for h in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
)
METRIC_NAME = re.compile(r"takedown_[a-z_]+")

# Label values that rules and panels may match on, from the code that produces them.
LABEL_VALUES = {
    "outcome": {o.value for o in Outcome},
    "kind": set(EVENT_KINDS),
    "cause": set(CAUSES),
    "result": {"sent", "resent", "failed", "dead"},
    "mode": {"listing", "probe"},
    "state": {"pending", "sending", "failed"},
}
MATCHER = re.compile(r'\b(outcome|kind|cause|result|mode|state)\s*(?:=~|!~|=|!=)\s*"([^"]*)"')

INSTALL = {
    "promtool": "apt-get install -y --no-install-recommends prometheus",
    "amtool": "apt-get install -y --no-install-recommends prometheus-alertmanager",
    "systemd-analyze": "apt-get install -y --no-install-recommends systemd",
}


def tool(name: str) -> str:
    """Path of a Debian-packaged tool; fails the test, with the install line, if absent."""
    found = shutil.which(name)
    if found is None and Path(f"/usr/bin/{name}").exists():
        found = f"/usr/bin/{name}"
    if found is None:
        pytest.fail(f"{name} is not installed; install it with `{INSTALL[name]}` (.ci/run does)")
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


@functools.cache
def load_yaml(path: Path) -> Any:
    if yaml is None:
        pytest.fail("PyYAML is not installed; add pyyaml to the [test] extras")
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def rules() -> list[dict[str, Any]]:
    return [r for g in load_yaml(RULES)["groups"] for r in g["rules"]]


def alert_rules() -> list[dict[str, Any]]:
    return [r for r in rules() if "alert" in r]


def metric_names(expr: str) -> set[str]:
    """Every ``takedown_*`` name in a PromQL expression, recording-rule names taken out."""
    for recorded in (r["record"] for r in rules() if "record" in r):
        expr = expr.replace(recorded, " ")
    return set(METRIC_NAME.findall(expr))


def unknown_label_values(expr: str) -> list[str]:
    wrong = []
    for label, value in MATCHER.findall(expr):
        for alternative in value.split("|"):
            if alternative not in LABEL_VALUES[label]:
                wrong.append(f'{label}="{alternative}"')
    return wrong


def test_metric_list_matches_the_code() -> None:
    from monitor import metrics

    assert COUNTERS | HISTOGRAMS | GAUGES == set(metrics.METRICS)
    assert LABEL_VALUES["result"] == set(metrics.DELIVERY_RESULTS)
    assert LABEL_VALUES["mode"] == set(metrics.MODES)
    assert LABEL_VALUES["state"] == set(metrics.QUEUE_STATES)


# --- Prometheus --------------------------------------------------------------


def test_promtool_check_config_and_rules() -> None:
    promtool = tool("promtool")
    result = run(promtool, "check", "config", str(PROMETHEUS_YML))
    assert result.returncode == 0, result.stdout + result.stderr
    result = run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    promtool = tool("promtool")
    assert RULE_TESTS, "no promtool test files in deploy/prometheus/tests/"
    result = run(promtool, "test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def rule_test_cases() -> Iterator[dict[str, Any]]:
    for path in RULE_TESTS:
        doc = load_yaml(path)
        assert [str((path.parent / f).resolve()) for f in doc["rule_files"]] == [str(RULES)], path
        for case in doc["tests"]:
            yield from case.get("alert_rule_test", [])


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    names = {r["alert"] for r in alert_rules()}
    firing = {c["alertname"] for c in rule_test_cases() if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in rule_test_cases() if not c.get("exp_alerts")}
    assert names - firing == set(), "alerts without a test where they fire"
    assert names - quiet == set(), "alerts without a test where they stay quiet"
    assert (firing | quiet) - names == set(), "tests of alerts that do not exist"


def test_alert_rules_have_for_severity_and_annotations() -> None:
    for rule in alert_rules():
        name = rule["alert"]
        assert rule.get("for"), f"{name}: give it a `for:`"
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["labels"]["category"] in {"operations", "content"}, name
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), name
        anchor = rule["annotations"]["runbook"].removeprefix("deploy/README.md#")
        readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
        assert f"### {name}" in readme and anchor == name.lower(), f"{name}: document it"


def test_rules_use_known_metrics_and_label_values() -> None:
    for rule in rules():
        expr = rule["expr"]
        name = rule.get("alert") or rule["record"]
        assert metric_names(expr) <= SERIES, f"{name}: unknown metric"
        assert unknown_label_values(expr) == [], name


def error_rate_rules(all_rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in all_rules
            if r.get("record", "").startswith("platform:takedown_check_failures:")]


def check_error_rate(all_rules: list[dict[str, Any]]) -> None:
    found = error_rate_rules(all_rules)
    assert found, "no platform:takedown_check_failures:* recording rule: the error-rate " \
        "alert has nothing to read"
    for rule in found:
        matched = re.search(r'outcome=~"([^"]+)"', rule["expr"])
        assert matched, rule["record"]
        assert set(matched.group(1).split("|")) == {o.value for o in TRANSIENT}


def test_error_rate_counts_exactly_the_transient_outcomes() -> None:
    check_error_rate(rules())
    # The check cannot pass on nothing: without the recording rules, it fails.
    with pytest.raises(AssertionError, match="no platform:takedown_check_failures"):
        check_error_rate([r for r in rules() if r not in error_rate_rules(rules())])


def test_prometheus_scrapes_the_job_the_rules_name() -> None:
    config = load_yaml(PROMETHEUS_YML)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    # One target per worker replica: Docker's DNS gives the service name's addresses.
    sd = jobs["takedown-monitor"]["dns_sd_configs"]
    assert sd == [{"names": ["monitor"], "type": "A", "port": 9464, "refresh_interval": "30s"}]
    assert "static_configs" not in jobs["takedown-monitor"]
    compose = load_yaml(COMPOSE)["services"]["monitor"]
    assert compose["environment"]["TAKEDOWN_METRICS_ADDRESS"].endswith(":9464")
    down = next(r for r in alert_rules() if r["alert"] == "TakedownMonitorDown")
    assert 'job="takedown-monitor"' in down["expr"]


# --- Alertmanager ------------------------------------------------------------


def test_amtool_check_config() -> None:
    result = run(tool("amtool"), "check-config", str(ALERTMANAGER_YML))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (
            ["alertname=TakedownMonitorDown", "severity=critical", "category=operations"],
            "oncall-webhook,operators-email",
        ),
        (
            ["alertname=TakedownCheckBacklogGrowing", "severity=warning", "category=operations"],
            "operators-email",
        ),
        (
            ["alertname=TakedownDeletionSpike", "severity=warning", "category=content",
             "group=ngos"],
            "researchers-email",
        ),
        (
            ["alertname=TakedownDeletionSpike", "severity=warning", "category=content",
             "group=journalists"],
            "press-freedom-desk-email",
        ),
    ],
)
def test_alertmanager_routes(labels: list[str], receivers: str) -> None:
    result = run(
        tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER_YML}",
        f"--verify.receivers={receivers}", *labels,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def check_inhibitions(inhibit_rules: list[dict[str, Any]]) -> set[str]:
    """The alert names the inhibitions' source matchers name, each checked to exist."""
    names = {r["alert"] for r in alert_rules()}
    assert inhibit_rules, "alertmanager.yml has no inhibit_rules"
    sources: set[str] = set()
    for inhibit in inhibit_rules:
        assert inhibit.get("source_matchers") and inhibit.get("target_matchers"), inhibit
        for side in ("source_matchers", "target_matchers"):
            for matcher in inhibit[side]:
                value = re.fullmatch(r'alertname=~?"([^"]+)"', matcher)
                assert value, matcher
                named = set(value.group(1).split("|"))
                assert named <= names, matcher
                if side == "source_matchers":
                    sources |= named
    return sources


def test_inhibition_names_real_alerts() -> None:
    inhibit_rules = load_yaml(ALERTMANAGER_YML).get("inhibit_rules") or []
    # MonitorDown silences the alerts it causes: the check really read that rule.
    assert "TakedownMonitorDown" in check_inhibitions(inhibit_rules)
    # And it cannot pass on nothing: with no rules, or a rule with no matchers, it fails.
    with pytest.raises(AssertionError, match="no inhibit_rules"):
        check_inhibitions([])
    with pytest.raises(AssertionError):
        check_inhibitions([{"source_matchers": [], "target_matchers": []}])


# --- Grafana -----------------------------------------------------------------


def dashboard_panels() -> list[dict[str, Any]]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # panels inside collapsed rows
    return panels


def test_dashboard_structure() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    for key in ("uid", "title", "schemaVersion", "panels", "templating", "time"):
        assert key in dashboard, key
    assert dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dashboard_panels()]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_dashboard_panels_have_datasource_and_targets() -> None:
    for panel in dashboard_panels():
        if panel["type"] == "row":
            continue
        title = panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, title
        assert panel["targets"], f"{title}: no query"
        for target in panel["targets"]:
            assert target["expr"].strip(), title
            assert target.get("datasource", panel["datasource"]) == panel["datasource"], title


def test_dashboard_uses_known_metrics_and_label_values() -> None:
    used: set[str] = set()
    for panel in dashboard_panels():
        for target in panel.get("targets", []):
            names = set(METRIC_NAME.findall(target["expr"]))
            assert names <= SERIES, f"{panel['title']}: unknown {sorted(names - SERIES)}"
            assert unknown_label_values(target["expr"]) == [], panel["title"]
            used |= names
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    for variable in dashboard["templating"]["list"]:
        assert set(METRIC_NAME.findall(json.dumps(variable))) <= SERIES, variable["name"]
    # Each family of metrics has at least one panel.
    for family in COUNTERS | GAUGES | HISTOGRAMS:
        assert any(name.startswith(family) for name in used), f"no panel shows {family}"


#: Gauges every worker reads from the one database: the same figure from each replica.
DATABASE_GAUGES = {
    "takedown_tracked_targets", "takedown_tracked_posts", "takedown_checks_overdue",
    "takedown_workers_live", "takedown_targets_needing_attention", "takedown_alert_delivery_queue",
    "takedown_alert_dead_letters",
}


def test_dashboard_counts_a_database_gauge_once_whatever_the_number_of_workers() -> None:
    """With N workers (compose replicas), a ``sum`` over a database gauge shows N times
    the figure: every sum over one first takes one value per series across instances."""
    checked = 0
    for panel in dashboard_panels():
        for target in panel.get("targets", []):
            expr = target["expr"]
            for gauge in DATABASE_GAUGES & set(METRIC_NAME.findall(expr)):
                if "by (instance)" in expr:
                    continue  # a figure per worker, on purpose
                checked += 1
                assert re.search(r"max without \(instance\) \(" + gauge, expr), (
                    f"{panel['title']}: {expr}")
    assert checked >= len(DATABASE_GAUGES)


def test_grafana_provisioning() -> None:
    sources = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    assert sources["datasources"][0]["type"] == "prometheus"
    providers = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "takedown.yml")
    path = providers["providers"][0]["options"]["path"]
    mounts = load_yaml(COMPOSE)["services"]["grafana"]["volumes"]
    assert f"./grafana/takedown-dashboard.json:{path}/takedown-dashboard.json:ro" in mounts


# --- docker compose, Dockerfile, example watchlist ----------------------------


def bind_sources(service: dict[str, Any]) -> list[str]:
    sources = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume["type"] == "bind":
                sources.append(volume["source"])
        elif volume.startswith((".", "/")):
            sources.append(volume.split(":", 1)[0])
    return sources


def test_compose_references_files_that_exist() -> None:
    compose = load_yaml(COMPOSE)
    services = compose["services"]
    assert set(services) == {"postgres", "monitor", "prometheus", "alertmanager", "grafana"}
    assert services["postgres"]["image"].startswith("postgres:16")
    assert "healthcheck" in services["postgres"]
    monitor = services["monitor"]
    assert (DEPLOY / monitor["build"]["context"] / monitor["build"]["dockerfile"]).resolve() == (
        DEPLOY / "Dockerfile"
    )
    # Workers scale with TAKEDOWN_WORKERS: nothing may pin one container (a fixed
    # name, a published host port), or a second replica could not start.
    assert monitor["deploy"]["replicas"] == "${TAKEDOWN_WORKERS:-1}"
    assert "container_name" not in monitor and "ports" not in monitor
    assert monitor["expose"] == ["9464"]
    assert "\nTAKEDOWN_WORKERS=1\n" in (DEPLOY / ".env.example").read_text(encoding="utf-8")
    env = monitor["environment"]
    assert env["TAKEDOWN_WATCHLIST"] == "/config/watchlist.toml"
    assert env["TAKEDOWN_METRICS_ADDRESS"] == "0.0.0.0:9464"
    assert env["TAKEDOWN_DATABASE_URL"].startswith("postgresql://")
    for name, service in services.items():
        for source in bind_sources(service):
            if source == "./watchlist.toml":  # the user's copy of watchlist.example.toml
                source = "./watchlist.example.toml"
            assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
    for volume in compose.get("volumes", {}):
        assert any(
            str(v).startswith(f"{volume}:") for s in services.values() for v in s.get("volumes", [])
        ), f"volume {volume} is unused"


def test_dockerfile_runs_the_daemon() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "pip install ." in text
    assert 'CMD ["takedown", "run"]' in text


def test_smoke_script_parses_and_stays_on_loopback() -> None:
    """deploy/smoke.sh (run by hand where a Docker engine is) is valid bash, and every
    container it starts uses the host's network, every address it names is 127.0.0.1."""
    script = DEPLOY / "smoke.sh"
    result = run("bash", "-n", str(script))
    assert result.returncode == 0, result.stderr
    text = script.read_text(encoding="utf-8")
    runs = re.findall(r"\$DOCKER run [^\n]*", text)
    assert len(runs) == 2  # the sandbox and the workers
    assert all("--network host" in line for line in runs), runs
    hosts = set(re.findall(r"(?:https?|postgresql)://(?:[^@/\s]*@)?([^:/\s\"]+)", text))
    assert hosts == {"127.0.0.1"}, hosts


def test_example_watchlist_loads() -> None:
    watchlist = load_watchlist(DEPLOY / "watchlist.example.toml")
    assert {t.platform for t in watchlist.targets} == {"mastodon", "rss"}
    watchlist.settings(environ={})  # every setting in it is known and valid


# --- systemd -----------------------------------------------------------------


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    text = UNIT.read_text(encoding="utf-8")
    exec_start = "ExecStart=/opt/takedown/.venv/bin/takedown run"
    assert exec_start in text
    for directive in (
        "DynamicUser=yes", "StateDirectory=takedown-monitor", "Restart=on-failure",
        "ProtectSystem=strict", "NoNewPrivileges=yes",
    ):
        assert directive in text, directive
    # verify checks that ExecStart exists: point it at this environment's takedown.
    takedown = Path(sys.executable).parent / "takedown"
    assert takedown.exists(), "install the package (pip install -e .) first"
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace(exec_start, f"ExecStart={takedown} run"), encoding="utf-8")
    result = run(analyze, "verify", str(unit))
    assert result.returncode == 0 and not result.stderr.strip(), result.stdout + result.stderr
