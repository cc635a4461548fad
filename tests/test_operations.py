"""The operator's settings (REC_METRICS, REC_LOG_FORMAT) and the pure parts of bot.metrics."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot import metrics
from bot.config import load_settings
from tests.test_config import BASE, problems


def test_metrics_and_log_format_settings():
    s = load_settings(BASE)
    assert (s.metrics, s.metrics_address, s.log_format) == ("on", None, "text")
    s = load_settings(BASE | {"REC_METRICS": "127.0.0.1:9300", "REC_LOG_FORMAT": "JSON"})
    assert (s.metrics_address, s.log_format) == (("127.0.0.1", 9300), "json")
    assert load_settings(BASE | {"REC_METRICS": "[::1]:9300"}).metrics_address == ("::1", 9300)
    assert load_settings(BASE | {"REC_METRICS": "off"}).metrics == "off"
    found = problems(BASE | {"REC_METRICS": "yes", "REC_LOG_FORMAT": "xml"})
    assert any(p.startswith("REC_METRICS: expected 'on', 'off' or a host:port") for p in found)
    assert any(p.startswith("REC_LOG_FORMAT: expected 'text' or 'json'") for p in found)
    assert any(p.startswith("REC_METRICS") for p in problems(BASE | {"REC_METRICS": "127.0.0.1:99999"}))


def test_labels_stay_bounded():
    assert metrics.operation("GET", "/recordings/0f2c-11") == "GET /recordings/{id}"
    assert metrics.operation("POST", "/meetings/m-1/active-session/kick-all") == \
        "POST /meetings/{id}/active-session/kick-all"
    assert metrics.operation("GET", "/recordings/active-recording/m-1") == "GET /recordings/active-recording/{id}"
    assert metrics.operation("GET", "/sessions/s-1/transcript?x=1") == "GET /sessions/{id}/transcript"
    assert metrics.event_label("recording.statusUpdate") == "recording.statusUpdate"
    assert metrics.event_label("made.up") == "other" and metrics.event_label(None) == "unknown"
    assert [metrics.http_outcome(c) for c in (200, 404, 429, 503)] == ["ok", "refused", "ratelimited", "server_error"]


def test_check_says_where_the_metrics_are_served():
    from bot.check import operations

    assert "beside the public routes, on port 3000" in operations(load_settings(BASE))
    assert operations(load_settings(BASE | {"REC_METRICS": "127.0.0.1:9300"})).startswith(
        "GET /metrics on 127.0.0.1:9300, apart from the public routes")
    off = operations(load_settings(BASE | {"REC_METRICS": "off", "REC_LOG_FORMAT": "json"}))
    assert off == "no /metrics (REC_METRICS=off); log lines as json (REC_LOG_FORMAT)"


DOCS = Path(__file__).resolve().parents[1] / "docs"
PANELS = {"Commands by outcome", "Clicks by action and outcome", "Webhooks by answer", "Active recordings by state",
          "Outbox pending by kind", "Outbox oldest by kind", "Slack calls by outcome", "Slack 429s by method",
          "Platform requests by status", "Platform budget used", "Ack latency", "Webhook to Slack latency",
          "Store trips by outcome", "Store trip latency", "Webhook ingest commits", "Jobs held per replica"}


def exposed() -> set[str]:
    """Every series name recbot's /metrics can carry."""
    names = {"up"}  # Prometheus' own, per target
    for metric in metrics.REGISTRY_FAMILIES:
        names |= {metric + suffix for suffix in ("", "_total", "_bucket", "_count", "_sum")}
    return names


def test_the_dashboard_loads_with_its_panels_named_and_queries_only_what_recbot_exposes():
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    assert {p["title"] for p in dashboard["panels"]} == PANELS
    used = {name for p in dashboard["panels"] for t in p["targets"] for name in re.findall(r"\brecbot_\w+", t["expr"])}
    assert used and used <= exposed(), used - exposed()
    assert all(p["targets"] and p["datasource"]["uid"] == "${datasource}" for p in dashboard["panels"])


def test_the_alert_rules_query_what_recbot_exposes_and_promtool_accepts_them():
    rules = yaml.safe_load((DOCS / "recbot-alerts.yml").read_text())["groups"][0]["rules"]
    assert {r["alert"] for r in rules} >= {"RecbotOutboxBackingUp", "RecbotPlatformBudgetHigh",
                                           "RecbotSlackRateLimitedRising", "RecbotWebhooksStopped", "RecbotJobNotHeld"}
    used = {name for r in rules for name in re.findall(r"\brecbot_\w+", r["expr"])}
    assert used <= exposed(), used - exposed()
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus): the rules' syntax was not checked")
    checked = subprocess.run([promtool, "check", "rules", str(DOCS / "recbot-alerts.yml")], capture_output=True,
                             text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
