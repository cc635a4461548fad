"""`recbot check` and `recbot setup-webhook`: reach Slack and the platform with the settings, say what is wrong."""

from __future__ import annotations

import asyncio
import os

from bot.config import Settings
from bot.platform.client import WEBHOOK_EVENTS, PlatformClient
from bot.platform.errors import PlatformError, Unauthorized
from bot.platform.webhooks import fetch_public_key
from bot.store import Store
from bot.store.databases import read_schema_version
from bot.store.dialects import is_postgres, without_password
from bot.store.schema import MIGRATIONS

OK, BAD, WARN = "ok  ", "FAIL", "warn"


async def run_check(settings: Settings, *, out=print) -> int:
    """One line per check, each with what to fix. Returns 0 when everything needed works."""
    failures = 0

    def line(status: str, what: str, detail: str) -> None:
        nonlocal failures
        failures += status == BAD
        out(f"[{status}] {what}: {detail}")

    mode = "Socket Mode" if settings.socket_mode else "HTTP"
    line(OK, "settings", f"{settings.platform} at {settings.api_base}, Slack over {mode}")
    line(OK, "operations", operations(settings))

    from slack_sdk.web.async_client import AsyncWebClient

    if settings.oauth:
        await _check_installs(settings, line)
    else:
        slack = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
        try:
            who = await slack.auth_test()
            line(OK, "Slack", f"token works for bot {who.get('user_id')} in team "
                              f"{who.get('team') or who.get('team_id')}")
        except Exception as exc:
            error = getattr(getattr(exc, "response", None), "get", lambda _k: None)("error") or type(exc).__name__
            line(BAD, "Slack", f"auth.test failed ({error}); check SLACK_BOT_TOKEN and SLACK_API_URL")

    platform = PlatformClient.from_settings(settings, retries=1)
    try:
        await platform.list_meetings(per_page=1)
        line(OK, "platform", "credentials accepted (GET /meetings)")
        hooks = await platform.list_webhooks()
        mine = [h for h in hooks if set(WEBHOOK_EVENTS) <= set(h.events) and h.enabled]
        if mine:
            line(OK, "webhooks", "subscribed: " + ", ".join(h.url for h in mine))
        else:
            line(WARN, "webhooks", "no webhook has every event recbot needs; run "
                                   "`recbot setup-webhook --url https://YOUR-HOST/webhooks`")
        budget = "; ".join(f"{b['name']} {b['allowed']} per {b['window_s']:.0f} s" for b in
                           platform.limiter.usage()["buckets"])
        line(OK, "rate limits", f"recbot keeps under {budget} (90% of each documented limit; /healthz shows what "
                                "the running recbot has used)")
    except Unauthorized as exc:
        line(BAD, "platform", f"credentials refused ({exc.message}); check {settings.platform_variables}")
    except PlatformError as exc:
        line(BAD, "platform", f"{exc.message}; check the API URL ({settings.api_base})")
    finally:
        await platform.aclose()

    if settings.webhook_public_key is not None:
        line(OK, "webhook key", "REC_WEBHOOK_PUBLIC_KEY is a valid RSA public key")
    else:
        try:
            await fetch_public_key(settings.webhook_key_url)
            line(OK, "webhook key", f"fetched from {settings.webhook_key_url}")
        except Exception as exc:
            line(BAD, "webhook key", f"could not fetch {settings.webhook_key_url} ({type(exc).__name__}); set "
                                     "REC_WEBHOOK_KEY_URL or REC_WEBHOOK_PUBLIC_KEY")

    status, detail = await asyncio.to_thread(_database, settings)
    line(status, "database", detail)

    out("all checks passed" if not failures else f"{failures} check(s) failed")
    return 0 if not failures else 1


def _database(settings: Settings) -> tuple[str, str]:
    """Read only: a check never creates the database, nor upgrades its schema; it says what `serve` would do."""
    where, latest = without_password(settings.database), len(MIGRATIONS)
    engine = "PostgreSQL" if is_postgres(settings.database) else "SQLite"
    try:
        version = read_schema_version(settings.database)
    except Exception as exc:
        return BAD, f"cannot open {where} ({exc}); check REC_DATABASE (its folder, or its server)"
    folder = os.path.dirname(os.path.abspath(settings.database))
    if version is None and engine == "SQLite" and settings.database != ":memory:" and not os.path.isdir(folder):
        return BAD, f"cannot open {where}: its folder {folder} does not exist; check REC_DATABASE"
    if version is None:
        return WARN, f"{engine} {where} holds no recbot database yet: `recbot serve` will create it (this check " \
                     "created nothing)"
    if version < latest:
        return WARN, f"{engine} {where} (schema version {version}): `recbot serve` will upgrade it to {latest}"
    if version > latest:
        return BAD, f"{engine} {where} has schema version {version}, newer than this recbot's ({latest}): run " \
                    "the recbot that upgraded it"
    return OK, f"{engine} {where} (schema version {version}, opened read-only)"


def operations(settings: Settings) -> str:
    """Where an operator reads recbot: its metrics and its log lines (docs/operations.md)."""
    if settings.metrics == "off":
        where = "no /metrics (REC_METRICS=off)"
    elif (address := settings.metrics_address) is not None:
        where = f"GET /metrics on {address[0]}:{address[1]}, apart from the public routes"
    else:
        where = (f"GET /metrics beside the public routes, on port {settings.port} (REC_METRICS=HOST:PORT serves "
                 "it apart, REC_METRICS=off not at all)")
    return f"{where}; log lines as {settings.log_format} (REC_LOG_FORMAT)"


async def _check_installs(settings: Settings, line) -> None:
    """Many workspaces: the OAuth settings, then each install's token (refreshed if it rotates)."""
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.models import Team
    from bot.slack.installs import SPENT, NotInstalled, RefreshFailed, Tokens
    from bot.store.sealed import SealError

    line(OK, "Slack", f"installs into any number of workspaces (OAuth v2, client id {settings.slack_client_id}); "
                      "people add recbot at https://YOUR-HOST/slack/install")
    # oauth.v2.access with no code: Slack answers invalid_code for a good client id and secret
    try:
        await AsyncWebClient(base_url=settings.slack_api_url).oauth_v2_access(
            client_id=settings.slack_client_id or "", client_secret=settings.slack_client_secret or "",
            code="recbot-check")
        error = None
    except SlackApiError as exc:
        error = exc.response.get("error")
    except Exception as exc:
        error = None
        line(BAD, "Slack", f"cannot reach {settings.slack_api_url} ({type(exc).__name__}); check SLACK_API_URL")
    if error in ("invalid_client_id", "bad_client_secret"):
        line(BAD, "Slack", f"Slack refused the app's credentials ({error}); check SLACK_CLIENT_ID and "
                           "SLACK_CLIENT_SECRET (Basic Information page)")
    try:
        if await asyncio.to_thread(read_schema_version, settings.database) is None:
            line(WARN, "installs", "no workspace has installed recbot yet (there is no database yet)")
            return  # and the check creates none
        store = await asyncio.to_thread(Store, settings.database, secret_key=settings.secret_key)
    except Exception as exc:
        line(BAD, "installs", f"cannot open {without_password(settings.database)} ({exc})")
        return
    tokens = Tokens(settings.slack_api_url, store=store, client_id=settings.slack_client_id,
                    client_secret=settings.slack_client_secret)
    try:
        installs = await store.read(lambda tx: tx.workspaces.installs())
        if not installs:
            line(WARN, "installs", "no workspace has installed recbot yet")
        for i in installs:
            where = f"org {i['enterprise_id']} (org-wide)" if i["is_enterprise_install"] else i["team_id"]
            if i["spent_at"] is not None:
                line(BAD, "install", f"{where}: Slack refused its refresh token as spent ({SPENT}), so recbot cannot "
                                     "renew its token: someone who can add apps there must install recbot again "
                                     "(https://YOUR-HOST/slack/install); what waits for it is sent then")
                continue
            try:
                client = await tokens.client(Team(i["team_id"], i["enterprise_id"]))
                await client.auth_test()
                line(OK, "install", f"{where}: the token works")
            except SealError:
                line(BAD, "install", f"{where}: sealed with another REC_SECRET_KEY; set the key it was made with")
            except (NotInstalled, RefreshFailed, SlackApiError) as exc:
                line(WARN, "install", f"{where}: the token does not work ({exc}); the workspace may have "
                                      "uninstalled recbot (`recbot forget TEAM_ID` deletes what is kept of it)")
    finally:
        await asyncio.to_thread(store.close)


async def setup_webhook(settings: Settings, url: str, *, out=print) -> int:
    """Register `url` for the events recbot needs, or bring an existing subscription up to date."""
    if not url.startswith(("https://", "http://")):
        out("recbot: --url must be the http(s) URL of this bot's /webhooks route")
        return 2
    platform = PlatformClient.from_settings(settings, retries=1)
    try:
        hooks = await platform.list_webhooks()
        same_url = [h for h in hooks if h.url == url]
        named = [h for h in hooks if h.name == "recbot"]
        existing = next(iter(same_url or named), None)
        if existing is None:
            hook = await platform.register_webhook(url)
            out(f"registered webhook {hook.id} for {url}: {', '.join(hook.events)}")
        elif existing.url == url and set(WEBHOOK_EVENTS) <= set(existing.events) and existing.enabled:
            out(f"webhook {existing.id} already sends {', '.join(WEBHOOK_EVENTS)} to {url}; nothing to do")
        else:
            events = sorted(set(existing.events) | set(WEBHOOK_EVENTS))
            hook = await platform.update_webhook(existing.id, url=url, events=events)
            out(f"updated webhook {hook.id}: now sends {', '.join(hook.events)} to {hook.url}")
        return 0
    except PlatformError as exc:
        out(f"recbot: could not register the webhook: {exc.message}")
        return 1
    finally:
        await platform.aclose()
