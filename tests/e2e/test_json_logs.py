"""REC_LOG_FORMAT=json: one JSON object a line, carrying the workspace, channel, recording and request the
line is about, and never a secret."""

import contextlib
import io
import json
import logging

from bot import logs
from bot.workbench.stack import BOT_TOKEN, SIGNING_SECRET
from tests.conftest import ALICE, CHANNEL, until
from tests.e2e.helpers import run, started


@contextlib.contextmanager
def json_lines():
    """What the root logger writes meanwhile, formatted as `recbot serve` does with REC_LOG_FORMAT=json."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    lines: list[dict] = []
    try:
        yield lines, out.getvalue
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    lines += [json.loads(line) for line in out.getvalue().splitlines()]  # every line parses, or this fails


async def test_json_log_lines_parse_and_say_what_they_are_about(linked):
    rec = await started(linked, ALICE)
    with json_lines() as (lines, written):
        for _ in range(2):  # Slack sent the same command twice: the repeat is dropped, and logged
            await linked.command(ALICE, "status", trigger_id="42.1.same")
        linked.slack.not_member.add(CHANNEL)  # the outbox finds the channel lost, and logs it
        await run(linked, ALICE, "pause")
        await until(lambda: linked.runtime.store.link(CHANNEL).broken_reason == "not_in_channel", message="broken")
        # the outbox logs it once the store has it: the line itself is waited for, not the store's word alone
        await until(lambda: '"lost channel ' in written(), message="the lost channel's line")
        logging.getLogger("bot.test").warning("a careless line with %s and %s in it", BOT_TOKEN, SIGNING_SECRET)
    assert lines
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(line)
        assert line["time"].endswith("+00:00")
    repeat = next(ln for ln in lines if ln["message"].startswith("dropped a repeated Slack request"))
    assert repeat["workspace"] == "T0DEMO" and repeat["channel"] == CHANNEL and repeat["request"]
    lost = next(ln for ln in lines if ln["message"].startswith("lost channel"))
    assert lost["level"] == "WARNING" and lost["logger"] == "bot.slack.outbox"
    assert (lost["channel"], lost["recording"]) == (CHANNEL, rec.id)
    careless = next(ln for ln in lines if ln["logger"] == "bot.test")
    text = json.dumps(lines)
    assert BOT_TOKEN not in text and SIGNING_SECRET not in text and "[secret]" in careless["message"]


def test_the_json_formatter_keeps_a_traceback_and_only_the_fields_it_was_given():
    record = logging.LogRecord("bot.x", logging.ERROR, __file__, 1, "failed %s", ("here",), None)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    about = logs.bind(channel="C1", recording=None)
    try:
        line = json.loads(logs.JsonFormatter().format(record))
    finally:
        logs.unbind(about)
    assert line["message"] == "failed here" and line["channel"] == "C1" and "recording" not in line
    assert "ValueError: boom" in line["exception"]
    assert "channel" not in json.loads(logs.JsonFormatter().format(record))
