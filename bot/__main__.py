"""recbot's command line: serve | emulator | demo | check | setup-webhook | forget | migrate."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import glob
import logging
import os
import shutil
import sys
import tempfile

from bot import logs
from bot.config import ConfigError, load_settings


def _settings_or_exit():
    try:
        return load_settings()
    except ConfigError as exc:
        for line in exc.problems:
            print(f"recbot: {line}", file=sys.stderr)
        raise SystemExit(2) from None


def metrics_directory() -> str:
    """A directory for prometheus_client's multiprocess mode, made before prometheus_client is imported (it
    picks how it keeps values at import), so that the ingest process `recbot serve` starts counts into it
    too and /metrics adds both up (bot/metrics.py). The deployer's PROMETHEUS_MULTIPROC_DIR, emptied of a
    last run's files (it must be this replica's alone), or a fresh one removed at exit."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):
            os.remove(stale)
    else:
        path = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="recbot-metrics-")
        atexit.register(shutil.rmtree, path, True)
    return path


def cmd_serve(args) -> int:
    settings = _settings_or_exit()
    if settings.metrics != "off":
        metrics_directory()

    from bot.asgi_server import claim_port
    from bot.web import serve

    claim_port(settings.host, settings.port, "set PORT (or HOST) to another")
    if address := settings.metrics_address:
        metrics_host, metrics_port = address
        claim_port(metrics_host, metrics_port, "set REC_METRICS to another host:port")
    serve(settings)
    return 0


def cmd_emulator(args) -> int:
    import uvicorn

    from bot.asgi_server import claim_port
    from bot.emulator.app import Credentials, Emulator
    from bot.emulator.delivery import Signer
    from bot.emulator.records import Timing

    creds = Credentials(args.org_id, args.api_key, args.account_id, args.app_id, args.token)
    timing = Timing(start_delay=args.start_delay, upload_delay=args.upload_delay,
                    empty_stop=args.empty_stop, session_end=args.session_end)
    signer = Signer(open(args.key, "rb").read()) if args.key else None
    public = args.public_url or f"http://{args.host}:{args.port}"
    emulator = Emulator(credentials=creds, timing=timing, public_url=public, signer=signer,
                        webhook_url=args.webhook_url)
    print(f"recbot emulator on {public}\n"
          f"  Dyte v2:     DYTE_API_URL={public}/v2  DYTE_ORG_ID={creds.org_id}  DYTE_API_KEY={creds.api_key}\n"
          f"  RealtimeKit: RTK_API_URL={public}/client/v4  RTK_ACCOUNT_ID={creds.account_id}  "
          f"RTK_APP_ID={creds.app_id}  RTK_API_TOKEN={creds.token}\n"
          f"  webhook key: {public}/.well-known/webhooks.json   controls: {public}/_emulator/", flush=True)
    claim_port(args.host, args.port, "choose another with --port")
    uvicorn.run(emulator.app, host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_demo(args) -> int:
    from bot.workbench.demo import run_demo

    return run_demo(host=args.host, port=args.port, database=args.database, socket_mode=args.socket_mode)


def cmd_check(args) -> int:
    from bot.check import run_check

    return asyncio.run(run_check(_settings_or_exit()))


def cmd_setup_webhook(args) -> int:
    from bot.check import setup_webhook

    return asyncio.run(setup_webhook(_settings_or_exit(), args.url))


def cmd_forget(args) -> int:
    from bot.store import Store

    settings = _settings_or_exit()
    store = Store(settings.database, secret_key=settings.secret_key)
    try:
        if not args.yes:
            links, recs = store.workspaces.held_by(args.team_id)
            print(f"recbot forget: {args.team_id} has {links} link(s) and {recs} recording(s) here; run again with "
                  "--yes to delete them with their history, people, settings and tokens")
            return 1
        counts = store.workspaces.forget(args.team_id)
    finally:
        store.close()
    kept = ", ".join(f"{n} {table}" for table, n in counts.items() if n) or "nothing (no such workspace here)"
    print(f"recbot forget: deleted {kept} of {args.team_id}")
    return 0


def cmd_migrate(args) -> int:
    from bot.store import Store, StoreBusy
    from bot.store.copy import check_copy, copy_store
    from bot.store.dialects import is_postgres

    source_path = args.source or _settings_or_exit().database
    if is_postgres(source_path) or not is_postgres(args.to):
        print("recbot migrate: copies a SQLite file (REC_DATABASE, or --from) into PostgreSQL (--to postgresql://…)",
              file=sys.stderr)
        return 2
    try:
        source, target = Store(source_path), Store(args.to)
    except StoreBusy as exc:
        print(f"recbot migrate: {exc}", file=sys.stderr)
        return 1
    try:
        copied = copy_store(source, target)
        differ = check_copy(source, target)
    except ValueError as exc:
        print(f"recbot migrate: {exc}", file=sys.stderr)
        return 1
    finally:
        source.close()
        target.close()
    if differ:
        print(f"recbot migrate: the copy differs from the source in {', '.join(differ)}; do not switch to it",
              file=sys.stderr)
        return 1
    print(f"recbot migrate: copied {sum(copied.values())} rows in {len(copied)} tables and checked each one; "
          "now set REC_DATABASE to that URL and start recbot")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recbot", description="Control a meeting's cloud recording from Slack.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the Slack app (HTTP, or Socket Mode when SLACK_APP_TOKEN is set)",
                           description="Run the Slack app. Settings come from the environment (see README).")
    serve.set_defaults(func=cmd_serve)

    emu = sub.add_parser("emulator", help="run the local recording platform (Dyte v2 and RealtimeKit)",
                         description="A Dyte v2 / RealtimeKit compatible platform with real state transitions, "
                                     "signed webhooks and a stitched output file.")
    emu.add_argument("--host", default="127.0.0.1", help="listen address, loopback (default: %(default)s)")
    emu.add_argument("--port", type=int, default=8090, help="listen port (default: %(default)s)")
    emu.add_argument("--public-url", help="base URL used in download links (default: http://HOST:PORT)")
    emu.add_argument("--org-id", default="emulator-org", help="valid Dyte organization id (default: %(default)s)")
    emu.add_argument("--api-key", default="emulator-key", help="valid Dyte API key (default: %(default)s)")
    emu.add_argument("--account-id", default="emulator-account",
                     help="valid RealtimeKit account id (default: %(default)s)")
    emu.add_argument("--app-id", default="emulatorapp00000000000000000000a",
                     help="valid RealtimeKit app id (default: %(default)s)")
    emu.add_argument("--token", default="emulator-token", help="valid RealtimeKit API token (default: %(default)s)")
    emu.add_argument("--webhook-url", help="register this URL for every event at start (Dyte flavour)")
    emu.add_argument("--key", help="PEM file of the webhook signing private key (default: a new key)")
    emu.add_argument("--start-delay", type=float, default=2.0,
                     help="seconds from INVOKED to RECORDING (default: %(default)s)")
    emu.add_argument("--upload-delay", type=float, default=3.0,
                     help="seconds from UPLOADING to UPLOADED (default: %(default)s)")
    emu.add_argument("--empty-stop", type=float, default=60.0,
                     help="seconds after the last participant leaves before a RECORDING recording stops "
                          "(default: %(default)s)")
    emu.add_argument("--session-end", type=float, default=60.0,
                     help="seconds after the last participant leaves before the session ends (default: %(default)s)")
    emu.set_defaults(func=cmd_emulator)

    demo = sub.add_parser("demo", help="everything on this machine: emulator, bot and a Slack workbench")
    demo.add_argument("--host", default="127.0.0.1", help="listen address, loopback (default: %(default)s)")
    demo.add_argument("--port", type=int, default=8080,
                      help="workbench port (default: %(default)s); the local Slack, the bot and the emulator use "
                           "the next three")
    demo.add_argument("--database", default="./recbot-demo.sqlite3",
                      help="the demo's SQLite file, made anew at each start (default: %(default)s)")
    demo.add_argument("--socket-mode", action="store_true",
                      help="Slack traffic over Socket Mode (a WebSocket the bot opens) instead of HTTP requests")
    demo.set_defaults(func=cmd_demo)

    check = sub.add_parser("check", help="check the settings and reach Slack and the platform with them")
    check.set_defaults(func=cmd_check)

    hook = sub.add_parser("setup-webhook", help="register the bot's webhook URL with the platform")
    hook.add_argument("--url", required=True, help="the public URL of this bot's /webhooks route")
    hook.set_defaults(func=cmd_setup_webhook)

    forget = sub.add_parser("forget", help="delete everything recbot keeps of a workspace (after it uninstalled)",
                            description="Delete a workspace's links, recordings with their history and notes, "
                                        "people, settings, audit, queued posts, platform account and tokens.")
    forget.add_argument("team_id", help="the workspace's team id (T…)")
    forget.add_argument("--yes", action="store_true", help="delete; without it, only say what would go")
    forget.set_defaults(func=cmd_forget)

    migrate = sub.add_parser("migrate", help="copy the SQLite database into PostgreSQL, and check the copy",
                             description="Copy REC_DATABASE (a SQLite file; stop recbot first) into an empty "
                                         "PostgreSQL database, table by table in one transaction, then compare "
                                         "every table.")
    migrate.add_argument("--to", required=True, help="postgresql://user:password@host:port/db (an empty database)")
    migrate.add_argument("--from", dest="source", help="the SQLite file (default: REC_DATABASE)")
    migrate.set_defaults(func=cmd_migrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    from bot.asgi_server import PortBusy

    args = build_parser().parse_args(argv)
    logs.configure(os.environ.get("REC_LOG_FORMAT"))  # text, or one JSON object a line (checked with the settings)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per platform call is noise
    logging.getLogger("slack_sdk").setLevel(logging.WARNING)  # "A retry handler found…": recbot says what failed
    try:
        return args.func(args) or 0
    except PortBusy as exc:
        print(f"recbot {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
