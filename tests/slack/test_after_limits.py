"""What comes after the meeting stays within what Slack accepts whatever the data: a ledger of 200
pauses with 100 marks and 50 attendees under a 500-character title, a summary of any length, the
settings form. Checked with `slack_sdk`'s Block Kit models plus the documented limits."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.views import View

from bot.ledger import LedgerEntry, Span, file_offset, presence, summarize
from bot.models import Attendee, Mark, Status
from bot.mrkdwn import from_markdown
from bot.service.settings import SUMMARY_TYPES, AfterPause, ChannelSettings, checked
from bot.slack import blocks, notes
from bot.workbench.blockkit import VIEW_BLOCKS, refusal
from tests.slack.test_blocks import NOW, rec
from tests.slack.test_limits import HOSTILE, LONG_URL, accepted, ledger_with, no_live_specials


def test_the_final_reply_fits_with_200_pauses_100_marks_and_50_attendees():
    r = rec(Status.UPLOADED, meeting_title=HOSTILE[:500], download_url=LONG_URL, file_size=1e9, session_id="s1")
    ledger = ledger_with(200)
    summary = summarize(ledger, NOW + 10**5)
    recorded = [i for i in summary.intervals if i.kind is Span.RECORDED]
    marks = [Mark(r.id, recorded[n % len(recorded)].start + 1, f"U{n}", HOSTILE[:200]) for n in range(100)]
    people = [Attendee("s1", f"p{n}", HOSTILE[:80] + str(n), NOW, None) for n in range(50)]
    recap = notes.recap_lines(notes.recap(summary, marks, people, NOW + 10**5))
    text, reply_blocks, _ = blocks.notice({"notice": "uploaded"}, r, summary, recap=recap)
    accepted(text, reply_blocks)
    no_live_specials(text, reply_blocks)
    shown = "\n".join(b["text"]["text"] for b in reply_blocks)
    assert "*Marks* (100)" in shown and "Download the recording" in shown
    assert shown.count("\n• `") == 100  # a mark's text is at most 200 characters: all 100 fit
    assert "*Present while it recorded* (50)" in shown and "and 0 more" not in shown


@settings(max_examples=40, deadline=None)
@given(markdown=st.text(max_size=30_000))
def test_any_summary_fits_and_acts_on_nothing_typed_into_it(markdown):
    payload = {"notice": "summary", "url": LONG_URL, "expiry": NOW, "text": markdown + HOSTILE}
    text, summary_blocks = notes.session_file(payload, "#1")
    accepted(text, summary_blocks)
    no_live_specials(text, summary_blocks)


def test_a_long_summary_starts_inline_and_points_to_the_file():
    markdown = "## Summary\n\n" + "\n".join(f"- point {n}: **bold** and [a link](https://x.example/{n})"
                                             for n in range(2000))
    text, summary_blocks = notes.session_file({"notice": "summary", "url": LONG_URL, "text": markdown}, "#2")
    accepted(text, summary_blocks)
    shown = "\n".join(b["text"]["text"] for b in summary_blocks)
    assert shown.count("• point") < 2000 and "the whole summary is in the file" in shown
    assert "<https://x.example/0|a link>" in shown and "*bold*" in shown


def test_the_settings_form_is_a_valid_view_and_reads_back():
    s = ChannelSettings(auto_record=True, summary_type="lecture", notice=HOSTILE[:500], keep_alive=180,
                        pause_reminder=0)
    view = notes.settings_modal(s, "C1")
    View(**view).validate_json()
    assert refusal(None, view["blocks"], max_blocks=VIEW_BLOCKS) is None
    values = {b["block_id"]: {"value": _as_submitted(b["element"])} for b in view["blocks"] if b["type"] == "input"}
    read = notes.modal_values({"state": {"values": values}})
    assert read == {"auto-record": "on", "transcribe": "off", "summarize": "off", "summary-type": "lecture",
                    "summary-after-pause": "hold", "notice": HOSTILE[:500].strip(), "keep-alive": "3m",
                    "pause-reminder": "0"}
    assert all(checked(name, value)[1] is None for name, value in read.items())


def _as_submitted(element):
    if element["type"] == "checkboxes":
        return {"type": "checkboxes", "selected_options": element.get("initial_options", [])}
    if element["type"] == "static_select":
        return {"type": "static_select", "selected_option": element["initial_option"]}
    return {"type": "plain_text_input", "value": element.get("initial_value")}


@pytest.mark.parametrize(("name", "value", "stored", "ok"), [
    ("auto-record", "ON", "on", True), ("auto-record", "off", None, True), ("auto-record", "maybe", None, False),
    ("summary-type", "Daily_Standup", "daily_standup", True), ("summary-type", "poem", None, False),
    ("keep-alive", "5m", "300.0", True), ("keep-alive", "30s", None, False), ("keep-alive", "default", None, True),
    ("pause-reminder", "0", "0.0", True), ("notice", "x" * 501, None, False), ("notice", "off", None, True),
    ("colour", "blue", None, False), ("summary-after-pause", "Never", "never", True),
    ("summary-after-pause", "hold", None, True), ("summary-after-pause", "later", None, False),
])
def test_settings_are_checked(name, value, stored, ok):
    got, error = checked(name, value)
    assert (got, error is None) == (stored, ok)
    assert set(SUMMARY_TYPES) >= {"general", "daily_standup"}
    if ok and name == "summary-after-pause":  # read back as its meaning; unset is the default, hold
        after = ChannelSettings.of({name: got} if got else {}).summary_after_pause
        assert after is AfterPause(value.lower())


def test_offsets_in_the_file_skip_the_pauses():
    ledger = [LedgerEntry(Status.INVOKED, 0, None, "command", None), LedgerEntry(Status.RECORDING, 10, None, "p", None),
              LedgerEntry(Status.PAUSED, 40, "U1", "button", None), LedgerEntry(Status.RECORDING, 100, None, "p", None),
              LedgerEntry(Status.UPLOADING, 130, None, "p", None)]
    summary = summarize(ledger, 200)
    assert file_offset(summary, 25) == 15 and file_offset(summary, 110) == 40
    assert file_offset(summary, 70) is None and file_offset(summary, 5) is None
    assert presence(summary, [(0, 20)], 200) is Span.RECORDED
    assert presence(summary, [(45, 90)], 200) is Span.PAUSED
    assert presence(summary, [(150, None)], 200) is None
    assert presence(summary, [(45, 90), (120, 125)], 200) is Span.RECORDED  # a rejoin while it recorded


def test_markdown_becomes_mrkdwn():
    assert from_markdown("# Title\n**bold** and *it* ~~gone~~") == "*Title*\n*bold* and _it_ ~gone~"
    assert from_markdown("- [x] done\n  * nested\n[a](https://e.example/?a=1&b=2)") == (
        "• ☑ done\n  • nested\n<https://e.example/?a=1&amp;b=2|a>")
    assert from_markdown("`<!here>` and <!channel>") == "`&lt;!here&gt;` and &lt;!channel&gt;"
    assert from_markdown("```\n<b>*x*</b>\n```") == "```\n&lt;b&gt;*x*&lt;/b&gt;\n```"
