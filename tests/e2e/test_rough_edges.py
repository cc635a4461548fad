"""The rough edges a new user hits, each fixed as they would expect."""

import asyncio
import json
import random
import socket
import subprocess
import sys
from pathlib import Path

from bot.__main__ import build_parser
from bot.workbench.server import mentions
from tests.conftest import ADMIN, ALICE, BOB, CHANNEL, EVE, linked_stack, until
from tests.e2e.helpers import ack_text, button_ids, card_of, reply_to, run, started, status_is


def test_mentions_typed_in_the_workbench_arrive_as_slack_sends_them():
    assert mentions("allow @bob") == "allow <@U0BOB|bob>"
    assert mentions("allow @Bob and @nobody") == "allow <@U0BOB|Bob> and @nobody"
    assert mentions("allow <@U0BOB|bob>") == "allow <@U0BOB|bob>"
    assert mentions("mail bob@example.com") == "mail bob@example.com"


async def test_a_refusal_is_the_first_thing_said(linked):
    response = await linked.command(EVE, "stop")  # another workspace: known at once
    assert "another workspace" in ack_text(response)
    # someone recbot has not seen yet may be an admin: nothing is said until Slack tells, then the refusal
    response = await linked.command(BOB, "stop")
    assert ack_text(response) == ""
    assert "Only this channel's controllers" in await reply_to(linked, BOB, 0)
    response = await linked.command(BOB, "stop")  # now known: the refusal is the ack itself
    assert "Only this channel's controllers" in ack_text(response)
    response = await linked.command(ADMIN, "stop")
    assert ack_text(response) == ""
    assert "Nothing to stop" in await reply_to(linked, ADMIN, 0)
    response = await linked.command(ADMIN, "stop")  # now known: said at once
    assert ack_text(response).startswith(":black_square_for_stop: Stopping")


async def test_unallow_takes_back_an_allow(linked):
    await run(linked, ALICE, "allow <@U0BOB|bob>")
    _, reply = await run(linked, BOB, "start")
    assert "Starting recording #1" in reply
    _, reply = await run(linked, ALICE, "unallow <@U0BOB|bob>")
    assert "neither allowed nor barred here any more" in reply
    _, reply = await run(linked, BOB, "stop")
    assert "Only this channel's controllers" in reply
    _, reply = await run(linked, BOB, "pause")  # pausing stays open to everyone
    assert reply == "#1 paused."


async def test_new_strips_the_quotes_of_a_quoted_title(linked):
    _, reply = await run(linked, ALICE, 'new "Design review"')
    assert "*Design review*" in reply
    assert linked.runtime.store.link(CHANNEL).meeting_title == "Design review"


async def test_a_fresh_link_is_really_fresh(linked):
    rec = await started(linked, ALICE)
    await run(linked, ALICE, "stop")
    await status_is(linked, rec.id, linked.runtime.store.recording(rec.id).status.__class__.UPLOADED)
    first = linked.runtime.store.recording(rec.id)
    await until(lambda: card_of(linked, rec) and "Uploaded" in card_of(linked, rec).text, message="uploaded card")
    before = len(linked.slack.ephemeral_for(ALICE))
    await linked.click(ALICE, "rec_refresh_link", rec.id)
    said = await reply_to(linked, ALICE, before)
    fresh = linked.runtime.store.recording(rec.id)
    assert fresh.download_url != first.download_url and fresh.url_expiry > first.url_expiry
    assert "valid until <!date^" in said and fresh.download_url in said
    async with __import__("httpx").AsyncClient() as http:  # both links work until they expire
        assert (await http.get(first.download_url)).status_code == 200
        assert (await http.get(fresh.download_url)).status_code == 200


async def test_history_is_kept_after_unlink_and_says_which_meeting(linked):
    rec = await started(linked, ALICE)
    await run(linked, ALICE, "stop")
    await run(linked, ALICE, "unlink")
    body = (await linked.command(ALICE, "history")).json()
    shown = json.dumps(body["blocks"])
    assert "#1 of Weekly sync" in shown and rec.meeting_id in shown


async def test_the_card_says_recorded_so_far(linked):
    rec = await started(linked, ALICE)
    await until(lambda: "so far" in json.dumps(card_of(linked, rec).blocks), message="the clock on the card")


def test_help_texts_name_each_default_once():
    parser = build_parser()
    for name, sub in parser._subparsers._group_actions[0].choices.items():
        text = sub.format_help()
        assert "(default: None)" not in text, name
        for action in sub._actions:
            shown = (action.help or "") % {"default": action.default}
            assert shown.count("default") <= 1, (name, action.dest, shown)


def _third_port_taken() -> tuple[socket.socket, int]:
    """A listening socket on port P, where P-2 and P-1 were free a moment ago. The ports lie below the kernel's
    ephemeral range, so another test's server on port 0 cannot be given P-2 or P-1 before the demo claims them."""
    lowest_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(50):
        port = random.randrange(10_000, lowest_ephemeral)
        taken = socket.socket()
        try:
            for free in (port - 2, port - 1):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", free))
            taken.bind(("127.0.0.1", port))
            taken.listen()
            return taken, port
        except OSError:
            taken.close()
    raise AssertionError("no three ports in a row were free below the ephemeral range")


def test_a_busy_port_is_named_in_one_line_with_the_flag_to_change_it():
    taken, port = _third_port_taken()
    with taken:
        done = subprocess.run([sys.executable, "-m", "bot", "demo", "--port", str(port - 2)], capture_output=True,
                              text=True, timeout=30)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "--port" in lines[0], done.stderr


async def test_a_reminder_names_who_paused_and_the_controllers_and_only_they_get_its_buttons(tmp_path):
    async with linked_stack(tmp_path, env={"REC_PAUSE_REMINDER": "1s"}) as s:
        await run(s, ALICE, f"allow <@{ADMIN}|admin>")
        rec = await started(s, ALICE)
        await run(s, BOB, "pause")
        card_ts = (await until(lambda: card_of(s, rec), message="the card")).ts
        found = await until(lambda: [m for m in s.slack.thread(CHANNEL, card_ts) if "has been paused" in m.text],
                            timeout=10, message="the reminder")
        assert "<@U0BOB>, <@U0ALICE>, <@U0ADMIN>" in found[0].text
        assert button_ids(found[0]) == ["rec_snooze"]  # anyone may snooze; resuming and stopping are not for all
        whispers = await until(lambda: [e for e in s.slack.ephemeral if e.get("thread_ts") == card_ts],
                               message="the controllers' own reminders")
        await asyncio.sleep(0.2)
        whispers = [e for e in s.slack.ephemeral if e.get("thread_ts") == card_ts]
        assert sorted(e["user"] for e in whispers) == sorted([ALICE, ADMIN])
        assert all(button_ids(type("M", (), e)) == ["rec_resume", "rec_stop", "rec_snooze"] for e in whispers)
