"""Block Kit builders, table-driven, no mocks."""

import json

import pytest

from bot.ledger import LedgerEntry, PauseFor, Summary, summarize
from bot.models import ErrorReason, LastAction, Link, Origin, Source, Status, StopReason
from bot.models import Recording as Rec
from bot.slack import blocks, views

NOW = 1_800_000_000.0


def rec(status=Status.RECORDING, **kw) -> Rec:
    base = dict(id="rec-1", meeting_id="m-1", channel_id="C1", handle=2, status=status, meeting_title="Weekly sync",
                started_by="U1", origin=Origin.SLACK, last_actor="U2", last_action=LastAction.PAUSED, card_ts="1.1",
                multi=False, created_at=NOW, updated_at=NOW, last_news_at=NOW, download_url=None, audio_url=None,
                url_expiry=None, file_size=None, duration=None, stop_reason=None, error_reason=None,
                pause_until=None, session_id=None)
    return Rec(**{**base, **kw})


EMPTY = Summary((), 0.0, 0.0)


def section_texts(block_list):
    return [b["text"]["text"] for b in block_list if b["type"] == "section" and "text" in b]


def actions(block_list):
    return [(e["action_id"], e["value"]) for b in block_list if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.parametrize(("status", "expected"), [
    (Status.INVOKED, ["rec_stop"]),
    (Status.RECORDING, ["rec_pause", "rec_mark", "rec_stop"]),
    (Status.PAUSED, ["rec_resume", "rec_stop"]),
    (Status.UPLOADING, []),
    (Status.UPLOADED, ["rec_refresh_link"]),
    (Status.ERRORED, []),
])
def test_card_buttons_fit_the_state_and_carry_the_recording_id(status, expected):
    text, card = blocks.card(rec(status, download_url="https://f/x.wav"), EMPTY)
    assert [a for a, _ in actions(card)] == expected
    assert all(v == "rec-1" for _, v in actions(card))
    assert blocks.MARK[status][1] in text and "#2" in text


def test_card_shows_who_and_times_and_the_link_when_uploaded():
    entries = [LedgerEntry(Status.RECORDING, NOW - 100, None, "platform", None),
               LedgerEntry(Status.PAUSED, NOW - 40, "U2", "button", None)]
    _text, card = blocks.card(rec(Status.PAUSED, pause_until=NOW + 60), summarize(entries, NOW))
    flat = json.dumps(card)
    assert "<@U1>" in flat and "Paused by <@U2>" in flat
    assert "1:00" in flat and "0:40" in flat and "1 pause" in flat
    assert "Resumes by itself" in flat
    _, done = blocks.card(rec(Status.UPLOADED, download_url="https://f/x.wav", url_expiry=NOW, file_size=2_000_000),
                          EMPTY)
    assert "<https://f/x.wav|Download the recording>" in json.dumps(done) and "1.9 MB" in json.dumps(done)


def test_titles_with_injection_are_shown_not_acted_on():
    evil = "<!channel> <@U999> *bold* `code` & <https://evil|click>"
    text, card = blocks.card(rec(meeting_title=evil), EMPTY)
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    header = card[0]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    mrkdwn_texts = [json.dumps(b) for b in card if b["type"] != "header"]
    assert not any("<!channel>" in t or "<@U999>" in t for t in mrkdwn_texts)
    lk = Link("C1", "T1", "m", evil, "U1", NOW, None)
    _, status = views.status_view(lk, [])
    assert status[0]["text"]["type"] == "plain_text"
    _, history = views.history_view([type("L", (), {"rec": rec(meeting_title=evil), "summary": EMPTY})()])
    assert "<!channel>" not in json.dumps(history)


@pytest.mark.parametrize(("payload", "says", "broadcast"), [
    ({"notice": "started", "actor": "U1"}, "requested by <@U1>", False),
    ({"notice": "paused", "actor": "U1", "until": NOW + 600}, "It resumes by itself", False),
    ({"notice": "paused", "actor": None, "source": "meeting"}, "paused from the meeting", False),
    ({"notice": "resumed", "actor": None, "source": "timer"}, "resumed automatically", False),
    ({"notice": "stopped", "actor": None, "reason": "everyone left"}, "stopped automatically: everyone left", False),
    ({"notice": "stopped", "actor": None, "reason": "time limit reached"},
     "stopped: the platform's 24-hour limit was reached", False),
    ({"notice": "stopped", "actor": "U3"}, "stopped by <@U3>", False),
    ({"notice": "errored"}, "failed", True),
    ({"notice": "ended_while_paused", "paused_by": "U2", "grace": 900, "reason": "everyone left"},
     "<@U2>, everyone left while #2 is paused", True),
    ({"notice": "pause_reminder", "paused_by": "U2", "since": NOW}, "has been paused since", False),
    ({"notice": "heads_up", "due": NOW}, "resumes recording", False),
    ({"notice": "resumed", "actor": "U3", "before_stop": True},
     "#2 resumed by <@U3> just before it stopped (recbot learned it after the stop)", False),
    ({"notice": "paused", "actor": "U3", "before_stop": True}, "#2 paused by <@U3> just before it stopped", False),
])
def test_notices(payload, says, broadcast):
    text, _, wide = blocks.notice(payload, rec(Status.PAUSED), EMPTY)
    assert says in text
    assert wide is broadcast


def test_every_stop_reason_is_worded_and_keeps_its_stored_text():
    """The service says why (a `StopReason`); only blocks.py words it. The values are stored (the ledger, a
    recording's `stop_reason`, outbox payloads), so an old row reads as a new one."""
    assert {r.value for r in StopReason} == {
        "everyone left", "the meeting was ended for everyone", "time limit reached", "platform error",
        "from the meeting", "outside Slack", "the meeting ended while paused", "the meeting ended"}
    for reason in set(StopReason) - {StopReason.MEETING_ENDED}:
        stored = json.loads(json.dumps({"notice": "stopped", "actor": None, "reason": reason}))  # as the outbox does
        said = blocks.STOPPED[reason]
        assert blocks.notice(stored, rec(), EMPTY)[0] == f":black_square_for_stop: #2 {said}. Uploading…"
    for reason, said in ((StopReason.EVERYONE_LEFT, "everyone left"), (StopReason.MEETING_ENDED, "the meeting ended")):
        text, _, _ = blocks.notice({"notice": "ended_while_paused", "reason": reason.value}, rec(Status.PAUSED), EMPTY)
        assert text.startswith(f":warning: {said} while #2 is paused.")


def test_sources_and_origins_keep_their_stored_text_and_every_source_is_worded():
    """Where a change came from (`Source`, the ledger's `source`) and how a recording began (`Origin`) are
    stored: an old row reads as a new one. blocks.py has the words for every source."""
    assert {s.value for s in Source} == {"command", "button", "home", "modal", "workflow", "auto", "timer", "guard",
                                         "platform", "meeting", "reconciler"}
    assert {o.value for o in Origin} == {"slack", "auto", "workflow", "meeting", "unseen"}
    assert set(blocks.SOURCE) == set(Source)
    assert blocks.notice({"notice": "paused", "actor": None, "source": "reconciler"}, rec(), EMPTY)[0] \
        == ":double_vertical_bar: #2 paused outside Slack."


@pytest.mark.parametrize(("action", "actor", "source", "stop_reason", "says"), [
    (LastAction.STARTED, "U1", Source.COMMAND, None, None),
    (LastAction.PAUSED, "U2", Source.BUTTON, None, "Paused by <@U2>"),
    (LastAction.PAUSED, None, Source.MEETING, None, "Paused from the meeting"),
    (LastAction.RESUMED, None, Source.TIMER, None, "Resumed automatically"),
    (LastAction.STOPPED, "U3", Source.COMMAND, StopReason.FROM_MEETING, "Stopped by <@U3>"),
    (LastAction.STOPPED, None, Source.PLATFORM, StopReason.EVERYONE_LEFT, "Stopped automatically (everyone left)"),
    (LastAction.STOPPED, None, Source.GUARD, StopReason.ENDED_WHILE_PAUSED,
     "Stopped automatically (the meeting ended while paused)"),
])
def test_the_cards_last_action_is_worded_from_its_meaning(action, actor, source, stop_reason, says):
    """The service stores the verb and where it came from; the card says it as it always has."""
    _, card = blocks.card(rec(last_action=action, last_actor=actor, last_source=source, stop_reason=stop_reason),
                          EMPTY)
    shown = [f["text"] for f in card[1]["fields"] if f["text"].startswith("*Last action*")]
    assert shown == ([f"*Last action*\n{says}"] if says else [])


@pytest.mark.parametrize(("stored", "says"), [
    (ErrorReason.GONE, "the platform no longer knows this recording"),
    (ErrorReason.UNRECOVERABLE, "the platform reported an unrecoverable error"),
    ("RECORDER_CRASHED <b>", "RECORDER_CRASHED &lt;b&gt;"),  # the platform's own words, escaped
])
def test_why_a_recording_failed_is_worded_on_the_card_and_in_the_thread(stored, says):
    failed = rec(Status.ERRORED, error_reason=str(stored))  # as read back from the store
    _, card = blocks.card(failed, EMPTY)
    assert section_texts(card).count(f":x: {says}") == 1
    assert blocks.notice({"notice": "errored"}, failed, EMPTY)[0].startswith(f":x: <@U1> #2 failed: {says}.")


def test_reminders_carry_only_the_buttons_their_readers_may_use():
    reminder = {"notice": "pause_reminder", "paused_by": "U2", "since": NOW}
    _, in_thread, _ = blocks.notice(reminder, rec(Status.PAUSED), EMPTY)
    assert [a for a, _ in actions(in_thread)] == ["rec_snooze"]  # anyone may snooze
    _, to_controller, _ = blocks.notice({**reminder, "for": "U1"}, rec(Status.PAUSED), EMPTY)
    assert [a for a, _ in actions(to_controller)] == ["rec_resume", "rec_stop", "rec_snooze"]
    _, guard, _ = blocks.notice({"notice": "ended_while_paused", "grace": 0}, rec(Status.PAUSED), EMPTY)
    assert guard is None  # stopping is for controllers, who get their own message
    _, guard, _ = blocks.notice({"notice": "ended_while_paused", "grace": 0, "for": "U1"}, rec(Status.PAUSED), EMPTY)
    assert [a for a, _ in actions(guard)] == ["rec_resume", "rec_stop"]


def test_uploaded_reply_has_the_ledger_and_file_offsets():
    entries = [LedgerEntry(Status.RECORDING, NOW, None, "platform", None),
               LedgerEntry(Status.PAUSED, NOW + 60, "U2", "command", PauseFor(600)),
               LedgerEntry(Status.RECORDING, NOW + 90, "U2", "command", None),
               LedgerEntry(Status.UPLOADING, NOW + 120, "U1", "command", None)]
    r = rec(Status.UPLOADED, download_url="https://f/x.wav", url_expiry=NOW + 7 * 86400, file_size=900, duration=90)
    text, body, _ = blocks.uploaded(r, summarize(entries, NOW + 200))
    flat = json.dumps(body)
    assert "Recorded 1:30" in text and "Paused 0:30 (1 pause)" in text
    assert "file 0:00\\u20131:00" in flat and "file 1:00\\u20131:30" in flat
    assert "by <@U2> with /rec, for 10m" in flat
    assert f"<!date^{int(NOW + 7 * 86400)}^" in text


def test_home_view_lists_channels_and_active_recordings_with_buttons():
    lk = Link("C1", "T1", "m-1", "Weekly sync", "U1", NOW, None)
    view = views.home_view([lk], [(rec(), EMPTY)])
    assert view["type"] == "home"
    assert "<#C1>" in json.dumps(view)
    assert [a for a, _ in actions(view["blocks"])] == ["rec_pause", "rec_stop"]


def test_block_limits():
    _, card = blocks.card(rec(meeting_title="x" * 500), EMPTY)
    assert len(card[0]["text"]["text"]) <= 150
    assert all(len(b.get("elements", [])) <= 25 for b in card)
