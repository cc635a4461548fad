"""`recbot check` and `recbot setup-webhook`, against the demo's fakes."""

import os
import subprocess
import sys

from bot.check import run_check, setup_webhook
from bot.config import load_settings
from tests.conftest import make_stack


async def test_check_passes_against_the_fakes(tmp_path):
    async with make_stack(tmp_path) as stack:
        lines = []
        assert await run_check(stack.settings, out=lines.append) == 0
        assert [line.split("]")[0] for line in lines[:-1]] == ["[ok  "] * 7
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
