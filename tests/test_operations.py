"""The operator's settings (REC_METRICS, REC_LOG_FORMAT) and the pure parts of bot.metrics."""

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
