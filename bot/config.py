"""Settings from the environment.

Every problem is collected and reported as one line naming the variable and what is expected,
so that a misconfigured bot never starts half-configured (README, "Settings").
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from bot.errors import RecbotError

DYTE_API_URL = "https://api.dyte.io/v2"
RTK_API_URL = "https://api.cloudflare.com/client/v4"
DYTE_KEY_URL = "https://api.dyte.io/.well-known/webhooks.json"
RTK_KEY_URL = "https://api.realtime.cloudflare.com/.well-known/webhooks.json"
SLACK_API_URL = "https://slack.com/api/"
# A bot token, and the same with token rotation on ("xoxe.xoxb-1-…", oauth.v2.access's answer in Slack's
# method reference); a rotating token set here expires after 12 hours: rotation wants the install flow.
BOT_TOKEN_PREFIXES = ("xoxb-", "xoxe.xoxb-")

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class ConfigError(RecbotError):
    """One or more settings are missing or malformed; `problems` holds one line each."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Guardrails:
    """Tunable timings, in seconds: the guardrails that keep paused recordings from being forgotten (0 turns
    one off), reconciliation, and the platform call timeout."""

    pause_reminder_after: float = 600.0
    pause_reminder_every: float = 1800.0
    ended_paused_grace: float = 900.0
    timed_resume_heads_up: float = 30.0
    time_limit_heads_up: float = 1800.0  # before the platform's 24-hour limit stops a recording
    keep_alive: float = 0.0  # session_keep_alive_time_in_secs for /rec new (RealtimeKit); 0 = the platform's 60 s
    reconcile_after: float = 45.0
    reconcile_share: float = 0.5
    platform_timeout: float = 10.0
    transcript_days: float = 90  # REC_TRANSCRIPT_DAYS: whole days recorded transcript lines are kept for /rec find


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str
    slack_signing_secret: str | None
    slack_app_token: str | None
    slack_api_url: str
    platform: str  # "dyte" | "realtimekit"
    api_base: str  # base URL including the flavour's prefix, no trailing slash
    dyte_org_id: str | None
    dyte_api_key: str | None
    rtk_account_id: str | None
    rtk_app_id: str | None
    rtk_api_token: str | None
    webhook_public_key: RSAPublicKey | None
    webhook_key_url: str
    database: str
    host: str
    port: int
    guardrails: Guardrails = field(default_factory=Guardrails)
    slack_client_id: str | None = None  # with the secret: OAuth v2, any number of workspaces
    slack_client_secret: str | None = None
    secret_key: str | None = None  # REC_SECRET_KEY: seals the tokens and credentials recbot stores
    dyte_api_url: str = DYTE_API_URL  # where a workspace's own account (`/rec connect`) is reached
    rtk_api_url: str = RTK_API_URL
    metrics: str = "on"  # REC_METRICS: "on", "off", or "host:port" (GET /metrics on a listener of its own)
    log_format: str = "text"  # REC_LOG_FORMAT: "text" or "json"
    join_url: str | None = None  # REC_JOIN_URL: where people join a meeting, with {meeting_id}; shows calls

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """Where /metrics is served apart from the public routes, when REC_METRICS names a host:port."""
        if self.metrics in ("on", "off"):
            return None
        host, _, port = self.metrics.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def oauth(self) -> bool:
        return bool(self.slack_client_id and self.slack_client_secret)

    @property
    def platform_variables(self) -> str:
        """The settings that hold the platform's credentials, named as an operator fixes them."""
        if self.platform == "dyte":
            return "DYTE_ORG_ID and DYTE_API_KEY"
        return "RTK_ACCOUNT_ID, RTK_APP_ID and RTK_API_TOKEN"

    @property
    def slack_oauth_url(self) -> str | None:
        """Where "Add to Slack" sends the installer: Slack's own page, or a stand-in's (the workbench)."""
        return None if self.slack_api_url == SLACK_API_URL else _origin(self.slack_api_url) + "/oauth/v2/authorize"

    def secrets(self) -> list[str]:
        """Values that must never appear in a log line."""
        return [s for s in (self.slack_bot_token, self.slack_signing_secret, self.slack_app_token,
                            self.dyte_api_key, self.rtk_api_token, self.slack_client_secret, self.secret_key,
                            urlsplit(self.database).password) if s]


def parse_duration(text: str) -> float | None:
    """`90s`, `10m`, `1h30m`, or a bare number of seconds; None when it is not one."""
    text = text.strip().lower()
    if text.isdigit():
        return float(text)
    m = _DURATION.match(text)
    if not text or not m or not any(m.groups()):
        return None
    h, mi, s = (int(g or 0) for g in m.groups())
    return float(h * 3600 + mi * 60 + s)


def load_public_key(pem: str) -> RSAPublicKey:
    """Load a PEM public key, accepting newlines that arrive as literal `\\n` (CF-wh)."""
    text = pem.strip().strip('"').replace("\\n", "\n").strip()
    key = load_pem_public_key(text.encode())
    if not isinstance(key, RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def _url(env: Mapping[str, str], name: str, default: str, problems: list[str]) -> str:
    value = env.get(name) or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        problems.append(f"{name}: expected an http(s) URL such as {default!r}, got {value!r}")
    return value.rstrip("/")


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    problems: list[str] = []

    def opt(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    client_id, client_secret = opt("SLACK_CLIENT_ID"), opt("SLACK_CLIENT_SECRET")
    if bool(client_id) != bool(client_secret):
        problems.append("SLACK_CLIENT_ID, SLACK_CLIENT_SECRET: set both (from the app's Basic Information page) "
                        "to install into many workspaces, or neither")
    secret_key = opt("REC_SECRET_KEY")
    if secret_key and len(secret_key) < 32:
        problems.append("REC_SECRET_KEY: expected at least 32 characters (for example `openssl rand -hex 32`)")
    elif client_id and not secret_key:
        problems.append("REC_SECRET_KEY: required with SLACK_CLIENT_ID, to encrypt the tokens recbot stores; "
                        "at least 32 characters (for example `openssl rand -hex 32`)")
    bot_token = opt("SLACK_BOT_TOKEN")
    if not bot_token and not client_id:
        problems.append("SLACK_BOT_TOKEN: required, the bot token (xoxb-…) from the Slack app's OAuth page "
                        "(or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to install into many workspaces)")
    elif bot_token and not bot_token.startswith(BOT_TOKEN_PREFIXES):
        problems.append("SLACK_BOT_TOKEN: expected a bot token starting with 'xoxb-' (or 'xoxe.xoxb-', a rotating one)")
    app_token = opt("SLACK_APP_TOKEN")
    if app_token and not app_token.startswith("xapp-"):
        problems.append("SLACK_APP_TOKEN: expected an app-level token starting with 'xapp-' (or unset it)")
    signing_secret = opt("SLACK_SIGNING_SECRET")
    if not signing_secret and not app_token:
        problems.append("SLACK_SIGNING_SECRET: required in HTTP mode (set SLACK_APP_TOKEN for Socket Mode)")
    slack_api_url = _url(env, "SLACK_API_URL", SLACK_API_URL, problems) + "/"

    dyte = {n: opt(n) for n in ("DYTE_ORG_ID", "DYTE_API_KEY")}
    rtk = {n: opt(n) for n in ("RTK_ACCOUNT_ID", "RTK_APP_ID", "RTK_API_TOKEN")}
    platform = (opt("REC_PLATFORM") or "").lower()
    if platform and platform not in ("dyte", "realtimekit"):
        problems.append(f"REC_PLATFORM: expected 'dyte' or 'realtimekit', got {platform!r}")
    elif not platform:
        has_dyte, has_rtk = any(dyte.values()), any(rtk.values())
        if has_dyte and has_rtk:
            problems.append("REC_PLATFORM: both Dyte (DYTE_*) and RealtimeKit (RTK_*) credentials are set; "
                            "set REC_PLATFORM=dyte or REC_PLATFORM=realtimekit, or remove one set")
        elif not has_dyte and not has_rtk:
            problems.append("REC_PLATFORM: no platform credentials; set DYTE_ORG_ID and DYTE_API_KEY, "
                            "or RTK_ACCOUNT_ID, RTK_APP_ID and RTK_API_TOKEN")
        else:
            platform = "dyte" if has_dyte else "realtimekit"
    needed = dyte if platform == "dyte" else rtk if platform == "realtimekit" else {}
    for name, value in needed.items():
        if not value:
            problems.append(f"{name}: required for REC_PLATFORM={platform}")

    root = _url(env, "RTK_API_URL", RTK_API_URL, problems)
    dyte_root = _url(env, "DYTE_API_URL", DYTE_API_URL, problems)
    if platform == "realtimekit":
        api_base = rtk_base(root, rtk["RTK_ACCOUNT_ID"] or "", rtk["RTK_APP_ID"] or "")
    else:
        api_base = dyte_root
    key_default = key_url_for(platform, root if platform == "realtimekit" else dyte_root)
    key_url = _url(env, "REC_WEBHOOK_KEY_URL", key_default, problems)

    public_key = None
    if pem := opt("REC_WEBHOOK_PUBLIC_KEY"):
        try:
            public_key = load_public_key(pem)
        except ValueError:
            problems.append("REC_WEBHOOK_PUBLIC_KEY: expected the PEM text of an RSA public key "
                            "('-----BEGIN PUBLIC KEY-----…'); it could not be read")

    port_text = opt("PORT") or "3000"
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else 0
    if not port:
        problems.append(f"PORT: expected a port number 1-65535, got {port_text!r}")

    guard_values: dict[str, float] = {}
    for name, attr in (("REC_PAUSE_REMINDER", "pause_reminder_after"),
                       ("REC_PAUSE_REMINDER_REPEAT", "pause_reminder_every"),
                       ("REC_ENDED_PAUSED_GRACE", "ended_paused_grace"),
                       ("REC_TIME_LIMIT_HEADS_UP", "time_limit_heads_up"),
                       ("REC_KEEP_ALIVE", "keep_alive"),
                       ("REC_RECONCILE_AFTER", "reconcile_after"),
                       ("REC_PLATFORM_TIMEOUT", "platform_timeout")):
        if (text := opt(name)) is not None:
            seconds = parse_duration(text)
            if seconds is None:
                problems.append(f"{name}: expected a duration such as 90s, 10m or 1h30m (0 turns it off)")
            else:
                guard_values[attr] = seconds
    if guard_values.get("keep_alive") and not 60 <= guard_values["keep_alive"] <= 600:
        problems.append("REC_KEEP_ALIVE: expected a duration from 1m to 10m (RealtimeKit's range), or 0")
    if (share := opt("REC_RECONCILE_SHARE")) is not None:
        try:
            fraction = float(share)
        except ValueError:
            fraction = 0.0
        if 0 < fraction <= 1:  # NaN is not: every comparison with it is false
            guard_values["reconcile_share"] = fraction
        else:
            problems.append("REC_RECONCILE_SHARE: expected a fraction of the platform's rate limit, 0 < x <= 1")

    metrics = (opt("REC_METRICS") or "on").lower()
    if metrics not in ("on", "off"):
        host, _, metrics_port = metrics.rpartition(":")
        if not host or not metrics_port.isdigit() or not 0 < int(metrics_port) < 65536:
            problems.append(f"REC_METRICS: expected 'on', 'off' or a host:port to serve /metrics on apart from the "
                            f"public routes (for example 127.0.0.1:9300), got {metrics!r}")
    log_format = (opt("REC_LOG_FORMAT") or "text").lower()
    if log_format not in ("text", "json"):
        problems.append(f"REC_LOG_FORMAT: expected 'text' or 'json', got {log_format!r}")
    join_url = opt("REC_JOIN_URL")
    if join_url and ("{meeting_id}" not in join_url or not join_url.startswith(("https://", "http://"))):
        problems.append("REC_JOIN_URL: expected an http(s) URL with {meeting_id} in it, for example "
                        "https://meet.example.com/m/{meeting_id} (or unset it)")
    if (days := opt("REC_TRANSCRIPT_DAYS")) is not None:
        if days.isdigit() and int(days) <= 36500:
            guard_values["transcript_days"] = float(days)
        else:
            problems.append("REC_TRANSCRIPT_DAYS: expected a whole number of days (0 keeps no transcript lines)")

    if problems:
        raise ConfigError(problems)
    return Settings(
        slack_bot_token=bot_token or "",
        slack_signing_secret=signing_secret,
        slack_app_token=app_token,
        slack_api_url=slack_api_url,
        platform=platform,
        api_base=api_base,
        dyte_org_id=dyte["DYTE_ORG_ID"],
        dyte_api_key=dyte["DYTE_API_KEY"],
        rtk_account_id=rtk["RTK_ACCOUNT_ID"],
        rtk_app_id=rtk["RTK_APP_ID"],
        rtk_api_token=rtk["RTK_API_TOKEN"],
        webhook_public_key=public_key,
        webhook_key_url=key_url,
        database=opt("REC_DATABASE") or "./recbot.sqlite3",
        host=opt("HOST") or "0.0.0.0",
        port=port,
        guardrails=Guardrails(**guard_values),
        slack_client_id=client_id,
        slack_client_secret=client_secret,
        secret_key=secret_key,
        dyte_api_url=dyte_root,
        rtk_api_url=root,
        metrics=metrics,
        log_format=log_format,
        join_url=join_url,
    )


def rtk_base(root: str, account_id: str, app_id: str) -> str:
    return f"{root}/accounts/{account_id}/realtime/kit/{app_id}"


def key_url_for(flavour: str, root: str) -> str:
    """The flavour's webhook key: the official one, or the same path at a stand-in's origin."""
    if flavour == "realtimekit":
        return RTK_KEY_URL if root == RTK_API_URL else _origin(root) + "/.well-known/webhooks.json"
    return DYTE_KEY_URL if root == DYTE_API_URL else _origin(root) + "/.well-known/webhooks.json"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
