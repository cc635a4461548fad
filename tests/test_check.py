"""`recbot check` and `recbot setup-webhook`, against the demo's fakes."""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys

import httpx

from bot.check import run_check, setup_webhook
from bot.config import load_settings
from bot.store import Store
from tests.conftest import make_stack


async def test_check_passes_against_the_fakes(tmp_path):
    async with make_stack(tmp_path) as stack:
        lines = []
        assert await run_check(stack.settings, out=lines.append) == 0
        assert [line.split("]")[0] for line in lines[:-1]] == ["[ok  "] * 8
        assert any(line.startswith("[ok  ] operations: GET /metrics beside the public routes") for line in lines)
        assert lines[-1] == "all checks passed"
        assert any("rate limits" in line and "Dyte API, per IP 1800 per 60 s" in line for line in lines)


async def test_check_says_what_is_wrong(tmp_path):
    async with make_stack(tmp_path) as stack:
        env = stack.settings_env() | {"DYTE_API_KEY": "wrong", "SLACK_BOT_TOKEN": "xoxb-nope",
                                      "SLACK_API_URL": "http://127.0.0.1:9/api/",
                                      "REC_DATABASE": str(tmp_path / "missing" / "x.sqlite3")}
        lines = []
        assert await run_check(load_settings(env), out=lines.append) == 1
        text = "\n".join(lines)
        assert "[FAIL] Slack: auth.test failed" in text and "check SLACK_BOT_TOKEN" in text
        assert "[FAIL] platform: credentials refused" in text and "DYTE_ORG_ID and DYTE_API_KEY" in text
        assert "[FAIL] database: cannot open" in text
        assert "[ok  ] webhook key" in text


async def test_setup_webhook_registers_then_updates(tmp_path):
    async with make_stack(tmp_path, flavour="realtimekit") as stack:
        settings = stack.settings
        for hook in list(stack.emulator.platform.webhooks):
            del stack.emulator.platform.webhooks[hook]
        lines = []
        assert await setup_webhook(settings, "https://bot.example.com/webhooks", out=lines.append) == 0
        assert lines[-1].startswith("registered webhook")
        assert await setup_webhook(settings, "https://moved.example.com/webhooks", out=lines.append) == 0
        assert lines[-1].startswith("updated webhook") and "moved.example.com" in lines[-1]
        assert await setup_webhook(settings, "https://moved.example.com/webhooks", out=lines.append) == 0
        assert "nothing to do" in lines[-1]
        hooks = list(stack.emulator.platform.webhooks.values())
        assert len(hooks) == 1 and hooks[0]["flavour"] == "realtimekit"


def test_missing_settings_stop_the_program_with_one_line_each(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DYTE_", "RTK_", "REC_"))}
    env["PORT"] = "nope"
    result = subprocess.run([sys.executable, "-m", "bot", "serve"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("recbot: SLACK_BOT_TOKEN: required") for line in lines)
    assert any(line.startswith("recbot: PORT: expected a port number") for line in lines)
    assert all(line.startswith("recbot: ") for line in lines)


def test_every_command_has_help():
    for command in ("serve", "emulator", "demo", "check", "setup-webhook"):
        result = subprocess.run([sys.executable, "-m", "bot", command, "--help"], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0 and "usage: recbot" in result.stdout
    emulator = subprocess.run([sys.executable, "-m", "bot", "emulator", "--help"], capture_output=True, text=True,
                              timeout=60).stdout
    for option in ("--org-id", "--api-key", "--account-id", "--app-id", "--token", "default: emulator-key"):
        assert option in emulator


async def _recbot(args: list[str], env: dict[str, str], cwd, *, until_line: str | None = None,
                  then=None) -> list[str]:
    """`recbot ARGS` as an operator runs it, in `cwd`; with `until_line`, it runs until a line containing it
    shows, `then` is awaited, and it is stopped with Ctrl-C. Its output, stdout and stderr, line by line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DYTE_", "RTK_", "REC_"))} | env
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, env=env, cwd=cwd,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while line := (await proc.stdout.readline()).decode():
                lines.append(line.rstrip("\n"))
                if until_line and until_line in line:
                    if then is not None:
                        await then()
                    proc.send_signal(signal.SIGINT)
                    until_line = None
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return lines


async def test_check_creates_no_database_and_says_serve_would(tmp_path):
    """Run where there is no database yet: the check says `serve` would create it, and creates nothing; its
    output is its own lines (no slack_sdk "retry handler found" for the Slack it cannot reach)."""
    async with make_stack(tmp_path) as stack:
        env = {k: v for k, v in stack.settings_env().items() if k != "REC_DATABASE"}
        env["SLACK_API_URL"] = "http://127.0.0.1:9/api/"
        here = tmp_path / "elsewhere"
        here.mkdir()
        lines = await _recbot(["check"], env, here)
    assert list(here.iterdir()) == []
    assert any(line.startswith("[warn] database: SQLite ./recbot.sqlite3 holds no recbot database yet") and
               "will create it" in line for line in lines), lines
    assert all(line.startswith("[") or line.endswith(("failed", "passed")) for line in lines), lines


async def test_check_reads_an_existing_database_without_writing_to_it(tmp_path):
    async with make_stack(tmp_path) as stack:
        env = stack.settings_env() | {"REC_DATABASE": str(tmp_path / "kept.sqlite3")}
        Store(env["REC_DATABASE"]).close()
        before = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("kept.sqlite3*")}
        lines = []
        assert await run_check(load_settings(env), out=lines.append) == 0
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("kept.sqlite3*")} == before
    assert any(line.startswith("[ok  ] database: SQLite") and "opened read-only" in line for line in lines), lines


async def test_serve_warns_at_start_when_the_platform_refuses_its_credentials(tmp_path):
    """As Slack's token is tried at start, so are the platform's credentials: a warning naming the settings,
    and recbot serves on. Start-up and shutdown say only recbot's own lines (no Bolt, no uvicorn banner)."""
    async with make_stack(tmp_path) as stack:
        port = _free_port()
        env = stack.settings_env() | {"DYTE_API_KEY": "wrong", "PORT": str(port),
                                      "REC_DATABASE": str(tmp_path / "serve.sqlite3")}

        async def healthy() -> None:  # the warning comes during start-up: then it listens
            async with httpx.AsyncClient() as http:
                for _ in range(100):
                    with contextlib.suppress(httpx.ConnectError):
                        assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
                        return
                    await asyncio.sleep(0.1)
                raise AssertionError("recbot did not serve after its warning")

        lines = await _recbot(["serve"], env, tmp_path, until_line="refused recbot's credentials", then=healthy)
    warning = next(line for line in lines if "refused recbot's credentials" in line)
    assert "WARNING" in warning and "check DYTE_ORG_ID and DYTE_API_KEY" in warning
    assert all(" bot." in line for line in lines), lines  # recbot's loggers only
    assert "recbot stopped" in lines[-1]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_schema_version_is_read_without_creating_anything_on_postgres(postgres):
    import psycopg

    from bot.store.databases import read_schema_version
    from bot.store.schema import MIGRATIONS

    url = postgres.new_database()
    assert read_schema_version(url) is None
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0] == 0
    Store(url).close()
    assert read_schema_version(url) == len(MIGRATIONS)


async def test_check_of_many_workspaces_creates_no_database_either(tmp_path):
    async with make_stack(tmp_path, oauth=True) as stack:
        env = stack.settings_env() | {"REC_DATABASE": str(tmp_path / "not-yet.sqlite3")}
        lines = []
        await run_check(load_settings(env), out=lines.append)
    assert not (tmp_path / "not-yet.sqlite3").exists()
    assert "[warn] installs: no workspace has installed recbot yet (there is no database yet)" in lines, lines
