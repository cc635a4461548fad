"""Every builder stays within what Slack accepts, whatever the data, and escapes what people typed.

Checked with the same validator the fake Slack uses (`slack_sdk`'s Block Kit models plus the
documented limits), at the extremes: 500-character titles, 200 pauses, 100 channels, 60 recordings,
300 people.
"""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ledger import LedgerEntry, PauseFor, summarize
from bot.models import LastAction, Link, Member, Role, Status
from bot.service.outcomes import Line, Refusal, Reply, Say, StatusLine
from bot.service.settings import ChannelSettings
from bot.slack import blocks, replies, views
from bot.workbench.blockkit import VIEW_BLOCKS, refusal
from tests.slack.test_blocks import NOW, rec

HOSTILE = "<!channel> & <http://evil.example|click> <@U0EVIL> " * 12  # ~600 characters
LONG_URL = "https://files.example.com/" + "a" * 900


def ledger_with(pauses: int, start: float = NOW) -> list[LedgerEntry]:
    entries = [LedgerEntry(Status.INVOKED, start, "U1", "command", None),
               LedgerEntry(Status.RECORDING, start + 1, None, "platform", None)]
    t = start + 1
    for n in range(pauses):
        entries.append(LedgerEntry(Status.PAUSED, t := t + 30, f"U{n % 7}", "button", PauseFor(86399)))  # the longest
        entries.append(LedgerEntry(Status.RECORDING, t := t + 30, "U1", "command", None))
    return entries


def accepted(text, block_list, *, max_blocks=50):
    assert refusal(text, block_list, max_blocks=max_blocks) is None, refusal(text, block_list, max_blocks=max_blocks)


def no_live_specials(*parts):
    """Nothing a person typed acts as a mention, a broadcast or a link."""
    dumped = json.dumps(parts)
    assert "<!channel>" not in dumped and "<http://evil" not in dumped and "<@U0EVIL>" not in dumped


def mrkdwn_of(block_list):
    """Every mrkdwn text in the blocks (plain_text may hold anything: Slack shows it as typed)."""
    found = []
    for b in block_list or []:
        for obj in [b.get("text"), *(b.get("fields") or []), *(b.get("elements") or [])]:
            if isinstance(obj, dict) and obj.get("type") == "mrkdwn":
                found.append(obj["text"])
    return found


@pytest.mark.parametrize("pauses", [0, 12, 200, 2000])
def test_the_ready_reply_keeps_the_link_and_fits_whatever_the_ledger(pauses):
    r = rec(Status.UPLOADED, meeting_title=HOSTILE[:500], download_url=LONG_URL, audio_url=LONG_URL, file_size=1e9)
    summary = summarize(ledger_with(pauses), NOW + 10**6)
    text, reply_blocks, _ = blocks.notice({"notice": "uploaded"}, r, summary)
    accepted(text, reply_blocks)
    assert LONG_URL in reply_blocks[0]["text"]["text"]
    shown = "\n".join(b["text"]["text"] for b in reply_blocks)
    assert shown.count("paused (") == min(pauses, shown.count("paused ("))  # some, all when they fit
    if pauses >= 2000:
        assert "more intervals" in shown  # summarised, with the first and the last kept
    if pauses == 200:
        assert shown.count("paused (") == 200  # 200 pauses still fit whole
    compact_text, compact_blocks, _ = blocks.notice({"notice": "uploaded", "compact": True}, r, summary, compact=True)
    accepted(compact_text, compact_blocks)
    assert LONG_URL in compact_text


@pytest.mark.parametrize("status", list(Status))
def test_cards_fit_with_a_500_character_title_and_escape_it(status):
    r = rec(status, meeting_title=HOSTILE[:500], last_action=LastAction.STOPPED, last_actor=None,
            stop_reason=HOSTILE, error_reason=HOSTILE, download_url=LONG_URL, pause_until=NOW + 60)
    for compact in (False, True):
        text, card = blocks.card(r, summarize(ledger_with(200), NOW + 10**6), now=NOW, compact=compact)
        accepted(text, card)
        no_live_specials(text, mrkdwn_of(card))


def test_status_history_and_who_fit_at_their_extremes():
    link = Link("C1", "T1", "m" * 40, HOSTILE[:500], "U1", NOW, HOSTILE)
    many = [StatusLine(rec(Status.PAUSED, id=f"r{n}", handle=n, meeting_title=HOSTILE[:500], pause_until=NOW),
                       summarize(ledger_with(3), NOW + 600)) for n in range(60)]
    text, status = views.status_view(link, many)
    accepted(text, status)
    no_live_specials(text, mrkdwn_of(status))
    history = [StatusLine(rec(Status.UPLOADED, id=f"r{n}", handle=1, meeting_title=HOSTILE[:500],
                              download_url=LONG_URL, url_expiry=NOW), summarize(ledger_with(3), NOW))
               for n in range(10)]
    text, hist = views.history_view(history)
    accepted(text, hist)
    no_live_specials(text, mrkdwn_of(hist))
    members = [Member(f"U{n:08d}", Role.ALLOW if n % 2 else Role.DENY, "U1", NOW) for n in range(300)]
    text, who = views.who_view(link, members)
    accepted(text, who)


def test_app_home_fits_100_channels_and_60_active_recordings():
    links = [Link(f"C{n:06d}", "T1", f"m{n}", HOSTILE[:500], "U1", NOW, "not_in_channel" if n % 3 else None)
             for n in range(100)]
    recs = [(rec(Status.RECORDING, id=f"r{n}", handle=n, channel_id=f"C{n:06d}", meeting_title=HOSTILE[:500]),
             summarize(ledger_with(2), NOW + 600)) for n in range(60)]
    for compact in (False, True):
        view = views.home_view(links, recs, compact=compact)
        accepted(None, view["blocks"], max_blocks=VIEW_BLOCKS)
        no_live_specials(mrkdwn_of(view["blocks"]))
    assert "more active recordings" in json.dumps(views.home_view(links, recs))


def test_reminders_name_who_paused_and_the_controllers_and_fit_with_300_of_them():
    r = rec(Status.PAUSED)
    payload = {"notice": "pause_reminder", "paused_by": "U0BOB", "controllers": [f"U{n:08d}" for n in range(300)],
               "since": NOW, "snooze": 1800}
    text, reminder, _ = blocks.notice(payload, r, summarize(ledger_with(1), NOW))
    accepted(text, reminder)
    assert text.startswith(":bell: <@U0BOB>, <@U00000000>")
    labels = [e["text"]["text"] for b in reminder if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["Snooze 30m"]
    text, whisper, _ = blocks.notice({**payload, "for": "U00000001"}, r, summarize(ledger_with(1), NOW))
    accepted(text, whisper)
    assert [e["text"]["text"] for b in whisper if b["type"] == "actions" for e in b["elements"]] == [
        "Resume", "Stop", "Snooze 30m"]


SAMPLE = {"handle": 3, "action": "pause", "status": "PAUSED", "message": HOSTILE, "title": HOSTILE, "ref": HOSTILE,
          "meeting_id": "m1", "before": "m0", "created": True, "still_active": 2, "active": [(1, "PAUSED")],
          "paused": True, "duration": 600, "delay": 1800, "url": LONG_URL, "expiry": NOW, "user": "U0BOB",
          "now": "PAUSED", "doing": "pause", "failure": "refused", "retry_after": 3, "tail": "maybe",
          "reason": Refusal.NOT_CONTROLLER, "kicked": 3, "offset": 75.0, "text": HOSTILE, "name": "notice",
          "flavour": "dyte", "webhook_url": HOSTILE, "webhook": "failed", "links": 2,
          "settings": ChannelSettings(notice=HOSTILE[:500], auto_record=True),
          "link": Link("C1", "T1", "m1", HOSTILE[:500], "U1", NOW, None)}


@pytest.mark.parametrize("say", [s for s in Say if s not in (Say.STATUS, Say.HISTORY, Say.WHO)])
def test_every_reply_escapes_what_people_and_the_platform_typed(say):
    text, reply_blocks = replies.words(Reply([Line(say, dict(SAMPLE))]))
    accepted(text, reply_blocks)
    no_live_specials(text)


def test_placeholders_survive_slack():
    """Slack drops `<…>` it cannot parse: placeholders use ‹ › instead."""
    for text in (replies.USAGE, replies.sentence(Line(Say.NOT_LINKED))):
        assert "‹meeting id or URL›" in text and "<meeting" not in text


@settings(max_examples=60, deadline=None)
@given(title=st.text(min_size=0, max_size=500), reason=st.text(max_size=300))
def test_any_title_and_reason_fit_and_are_escaped(title, reason):
    r = rec(Status.PAUSED, meeting_title=title, last_action=LastAction.STOPPED, last_actor=None, stop_reason=reason,
            pause_until=NOW)
    text, card = blocks.card(r, summarize(ledger_with(5), NOW + 100), now=NOW)
    accepted(text, card)
    for kind in ("ended_while_paused", "stopped", "auto_stop_failed"):
        t, b, _ = blocks.notice({"notice": kind, "reason": reason, "detail": reason}, r, summarize([], NOW))
        accepted(t, b)
        assert "<!" not in t.replace("<!date^", "")
