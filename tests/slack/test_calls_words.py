"""The call's title and its channel settings, as pure functions."""

from bot.models import Call, Status
from bot.service.settings import ChannelSettings, checked
from bot.slack.calls import post, title


def a_call(**kw) -> Call:
    return Call(**{"team_key": "T1", "session_id": "s1", "meeting_id": "m1", "title": "Weekly sync",
                   "join_url": "https://meet.example.com/m/m1", "created_by": "U1", "started_at": 0.0, "ended_at": None,
                   "call_id": None, "shown": {}, "refused": None, **kw})


def test_the_title_says_whether_it_records():
    assert title(a_call(), Status.RECORDING) == "Weekly sync · ● Recording"
    assert title(a_call(), Status.PAUSED) == "Weekly sync · Paused"
    assert title(a_call(), None) == "Weekly sync"


def test_the_post_is_a_call_block_with_words_for_notifications():
    text, blocks = post({"call_id": "R1", "title": "Weekly sync"})
    assert blocks == [{"type": "call", "call_id": "R1"}] and "Weekly sync" in text


def test_call_is_on_by_default_and_workflows_off():
    assert ChannelSettings.of({}).call is True and ChannelSettings.of({}).workflows is False
    assert checked("call", "off") == ("off", None) and checked("call", "on") == (None, None)
    assert checked("workflows", "on") == ("on", None) and checked("workflows", "no") == (None, None)
    assert ChannelSettings.of({"call": "off", "workflows": "on"}) == ChannelSettings(call=False, workflows=True)
    assert checked("workflows", "maybe")[1] == "`workflows` is `on` or `off`."
