"""What whoever runs recbot does for many workspaces: `recbot check` and `recbot forget TEAM_ID`."""

import asyncio
import subprocess
import sys

from bot.check import run_check
from bot.config import load_settings
from tests.many.test_install import BETA, BETA_CHANNEL, BETA_USER, many, record_once


async def test_check_in_many_workspace_mode_tries_each_install(tmp_path):
    async with many(tmp_path) as s:
        await s.install()
        await s.install(BETA)
        lines = []
        assert await run_check(s.settings, out=lines.append) == 0, lines
        text = "\n".join(lines)
        assert "OAuth v2" in text and "[ok  ] install: T0DEMO: the token works" in text
        assert "[ok  ] install: T0BETA: the token works" in text
        s.slack.installs.revoke_team(BETA)
        lines = []
        await run_check(s.settings, out=lines.append)
        assert any(line.startswith("[warn] install: T0BETA") and "recbot forget" in line for line in lines)
        wrong = load_settings(s.settings_env() | {"SLACK_CLIENT_SECRET": "wrong"})
        lines = []
        assert await run_check(wrong, out=lines.append) == 1
        assert any("bad_client_secret" in line and "SLACK_CLIENT_SECRET" in line for line in lines)
        other_key = load_settings(s.settings_env() | {"REC_SECRET_KEY": "another-secret-key-of-32-characters!!"})
        lines = []
        await run_check(other_key, out=lines.append)
        assert any("sealed with another REC_SECRET_KEY" in line for line in lines)


async def test_forget_deletes_one_workspace_and_nothing_of_the_others(tmp_path):
    async with many(tmp_path) as s:
        await s.install()
        await s.install(BETA)
        alpha = await record_once(s, "U0ALICE", "C0DEMO")
        beta = await record_once(s, BETA_USER, BETA_CHANNEL)
        from bot.store.transcripts import TranscriptLine

        for team, channel, rec in (("T0DEMO", "C0DEMO", alpha), (BETA, BETA_CHANNEL, beta)):
            s.runtime.store.transcripts.keep(team, channel, "s", [TranscriptLine(rec, 1.0, 0.0, "Ann", "kept words")])
        env = s.settings_env()
    run = [sys.executable, "-m", "bot", "forget", BETA]
    asked = await asyncio.to_thread(subprocess.run, run, env=env, capture_output=True, text=True, timeout=60)
    assert asked.returncode == 1 and "1 link(s) and 1 recording(s)" in asked.stdout and "--yes" in asked.stdout
    done = await asyncio.to_thread(subprocess.run, [*run, "--yes"], env=env, capture_output=True, text=True,
                                   timeout=60)
    assert done.returncode == 0, done.stderr
    assert "1 links" in done.stdout and "1 recordings" in done.stdout and "1 installations" in done.stdout
    from bot.store import Store

    store = Store(env["REC_DATABASE"], secret_key=env["REC_SECRET_KEY"])
    assert store.recording(beta) is None and store.link(BETA_CHANNEL) is None
    assert not store.db.all("SELECT 1 FROM ledger WHERE recording_id = ?", beta)
    assert store.recording(alpha) is not None and store.link("C0DEMO") is not None
    assert [r["recording_id"] for r in store.db.all("SELECT recording_id FROM transcript_lines")] == [alpha]
    assert store.workspaces.find_install(None, "T0DEMO") is not None
    store.close()
