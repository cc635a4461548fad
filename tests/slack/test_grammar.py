"""The /rec grammar, table-driven, no mocks."""

import pytest

from bot.models import Command
from bot.slack.grammar import Unparsed, meeting_id_from, parse

UUID = "26c31468-55d4-4099-b49d-109778b182df"


@pytest.mark.parametrize(("text", "expected"), [
    ("", Command("help")),
    ("   ", Command("help")),
    ("help", Command("help")),
    ("HELP", Command("help")),
    (f"link {UUID}", Command("link", meeting_ref=UUID)),
    (f"link {UUID.upper()}", Command("link", meeting_ref=UUID)),
    (f"link https://app.dyte.io/meeting/{UUID}", Command("link", meeting_ref=UUID)),
    (f"link <https://app.dyte.io/meeting/{UUID}>", Command("link", meeting_ref=UUID)),
    (f"link <https://app.dyte.io/meeting/{UUID}?x=1|our meeting>", Command("link", meeting_ref=UUID)),
    ("link https://meet.example.com/rooms/abcdef-ghijkl/", Command("link", meeting_ref="abcdef-ghijkl")),
    ("link abcdef-ghijkl", Command("link", meeting_ref="abcdef-ghijkl")),
    ("unlink", Command("unlink")),
    ("new", Command("new")),
    ("new Weekly   sync *bold*", Command("new", title="Weekly sync *bold*")),
    ("start", Command("start")),
    ("start --multi", Command("start", multi=True)),
    ("start \u2014multi", Command("start", multi=True)),
    ("start multi", Command("start", multi=True)),
    ("pause", Command("pause")),
    ("pause #2", Command("pause", handle=2)),
    ("pause for 10m", Command("pause", duration=600)),
    ("pause #3 for 1h30m", Command("pause", handle=3, duration=5400)),
    ("pause for 90s #1", Command("pause", handle=1, duration=90)),
    ("pause 5m", Command("pause", duration=300)),
    ("resume", Command("resume")),
    ("resume #12", Command("resume", handle=12)),
    ("stop", Command("stop")),
    ("stop #1", Command("stop", handle=1)),
    ("status", Command("status")),
    ("history", Command("history")),
    ("who", Command("who")),
    ("allow <@U123ABC>", Command("allow", user_id="U123ABC")),
    ("allow <@U123ABC|alice>", Command("allow", user_id="U123ABC")),
    ("deny <@W0ENTERPRISE|bob>", Command("deny", user_id="W0ENTERPRISE")),
    ("\u00a0pause\u00a0#2", Command("pause", handle=2)),
])
def test_commands(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(("text", "says"), [
    ("pasue", "Did you mean `/rec pause`?"),
    ("stauts", "Did you mean `/rec status`?"),
    ("resme", "Did you mean `/rec resume`?"),
    ("record", "is not a `/rec` command."),
    ("link", "Say which meeting"),
    ("link a b", "Say which meeting"),
    ("link <!channel>", "is not a meeting id"),
    ("link https://example.com/", "is not a meeting id"),
    ("start now", "takes only `--multi`"),
    ("pause for", "takes `#n` and `for ‹duration›`"),
    ("pause for ever", "Say how long"),
    ("pause for 0s", "from 1 second to 24 hours"),
    ("pause for 25h", "from 1 second to 24 hours"),
    ("pause #1 #2", "at most one recording"),
    ("pause #x", "not `#x`"),
    ("resume for 10m", "takes `#n`"),
    ("stop everything", "takes `#n`"),
    ("status please", "takes nothing after it"),
    ("allow alice", "Mention one person"),
    ("allow @alice", "Mention one person"),
    ("deny <@U1> <@U2>", "Mention one person"),
    ("`drop table`", "is not a `/rec` command"),
])
def test_mistakes_get_usage_and_a_hint(text, says):
    result = parse(text)
    assert isinstance(result, Unparsed)
    assert says in result.message
    assert "/rec start" in result.text  # usage follows the message


def test_user_text_is_echoed_without_backticks_and_bounded():
    result = parse("`" * 3 + "x" * 500)
    assert isinstance(result, Unparsed)
    assert "```" not in result.message and len(result.message) < 200


def test_new_with_a_very_long_title_is_refused():
    assert isinstance(parse("new " + "t" * 201), Unparsed)


@pytest.mark.parametrize(("text", "expected"), [
    (UUID, UUID), (f"<{UUID}>", UUID), ("https://x.test/a/b/room-name", "room-name"), ("x", None), ("", None),
    ("https://x.test", None), ("<@U123>", None),
])
def test_meeting_id_from(text, expected):
    assert meeting_id_from(text) == expected
