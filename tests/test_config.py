import pytest

from bot.config import ConfigError, load_settings, parse_duration
from tests.platform.keys import PUBLIC_PEM

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "DYTE_ORG_ID": "o", "DYTE_API_KEY": "k"}
RTK = {"RTK_ACCOUNT_ID": "a", "RTK_APP_ID": "b" * 32, "RTK_API_TOKEN": "t"}


def problems(env) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    return info.value.problems


def test_dyte_settings_with_defaults():
    s = load_settings(BASE)
    assert s.platform == "dyte"
    assert s.api_base == "https://api.dyte.io/v2"
    assert s.webhook_key_url == "https://api.dyte.io/.well-known/webhooks.json"
    assert s.slack_api_url == "https://slack.com/api/"
    assert (s.host, s.port, s.database) == ("0.0.0.0", 3000, "./recbot.sqlite3")
    assert not s.socket_mode


def test_realtimekit_paths_are_built_from_account_and_app():
    env = {**{k: v for k, v in BASE.items() if not k.startswith("DYTE")}, **RTK}
    s = load_settings(env)
    assert s.platform == "realtimekit"
    assert s.api_base == f"https://api.cloudflare.com/client/v4/accounts/a/realtime/kit/{'b' * 32}"
    assert s.webhook_key_url == "https://api.realtime.cloudflare.com/.well-known/webhooks.json"


def test_a_rotating_bot_token_is_a_bot_token():
    """With token rotation on, Slack's bot tokens start `xoxe.xoxb-` (oauth.v2.access, Slack's method reference)."""
    assert load_settings({**BASE, "SLACK_BOT_TOKEN": "xoxe.xoxb-1-abc"}).slack_bot_token == "xoxe.xoxb-1-abc"
    assert any(p.startswith("SLACK_BOT_TOKEN: expected a bot token")
               for p in problems({**BASE, "SLACK_BOT_TOKEN": "xoxe.xoxp-1-abc"}))


def test_local_platform_url_moves_the_key_url_with_it():
    s = load_settings({**BASE, "DYTE_API_URL": "http://127.0.0.1:9/v2"})
    assert s.webhook_key_url == "http://127.0.0.1:9/.well-known/webhooks.json"


@pytest.mark.parametrize(("env", "expected"), [
    ({**BASE, "REC_PLATFORM": "zoom"}, "REC_PLATFORM: expected 'dyte' or 'realtimekit'"),
    ({**BASE, **RTK}, "REC_PLATFORM: both Dyte"),
    ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, "REC_PLATFORM: no platform credentials"),
    ({**BASE, "DYTE_API_URL": "api.dyte.io"}, "DYTE_API_URL: expected an http(s) URL"),
    ({**BASE, "REC_WEBHOOK_PUBLIC_KEY": "not a key"}, "REC_WEBHOOK_PUBLIC_KEY: expected the PEM text"),
    ({**BASE, "SLACK_BOT_TOKEN": ""}, "SLACK_BOT_TOKEN: required"),
    ({**BASE, "SLACK_BOT_TOKEN": "xoxp-1"}, "SLACK_BOT_TOKEN: expected a bot token"),
    ({**BASE, "SLACK_SIGNING_SECRET": ""}, "SLACK_SIGNING_SECRET: required in HTTP mode"),
    ({**BASE, "SLACK_APP_TOKEN": "xoxb-2"}, "SLACK_APP_TOKEN: expected an app-level token"),
    ({**BASE, "PORT": "http"}, "PORT: expected a port number"),
    ({**BASE, "DYTE_API_KEY": ""}, "DYTE_API_KEY: required for REC_PLATFORM=dyte"),
    ({**BASE, "REC_PAUSE_REMINDER": "soon"}, "REC_PAUSE_REMINDER: expected a duration"),
    ({**BASE, "REC_RECONCILE_SHARE": "half"}, "REC_RECONCILE_SHARE: expected a fraction"),
    ({**BASE, "REC_RECONCILE_SHARE": "1.5"}, "REC_RECONCILE_SHARE: expected a fraction"),
    ({**BASE, "REC_RECONCILE_SHARE": "nan"}, "REC_RECONCILE_SHARE: expected a fraction"),
])
def test_each_problem_is_one_line_naming_the_variable(env, expected):
    found = problems(env)
    assert any(line.startswith(expected) for line in found), found
    assert all("\n" not in line for line in found)


def test_a_reconcile_share_in_range_is_taken():
    assert load_settings({**BASE, "REC_RECONCILE_SHARE": "0.25"}).guardrails.reconcile_share == 0.25


def test_all_problems_are_reported_at_once():
    assert len(problems({"PORT": "x", "REC_PLATFORM": "zoom"})) == 4


def test_socket_mode_needs_no_signing_secret():
    env = {**BASE, "SLACK_SIGNING_SECRET": "", "SLACK_APP_TOKEN": "xapp-1"}
    assert load_settings(env).socket_mode


def test_pem_with_literal_backslash_n_is_accepted():
    escaped = PUBLIC_PEM.strip().replace("\n", "\\n")
    assert load_settings({**BASE, "REC_WEBHOOK_PUBLIC_KEY": escaped}).webhook_public_key is not None


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("10m", 600), ("1h30m", 5400), ("1h", 3600), ("45", 45), ("2m5s", 125),
    ("", None), ("m", None), ("10x", None), ("-5m", None), ("1.5m", None),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds
