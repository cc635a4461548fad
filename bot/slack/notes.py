"""Block Kit for what comes after the meeting and around it: the transcript and summary replies, the
final reply's chapters (marks) and attendance, and the channel's settings (as text and as a modal).
Within Slack's limits whatever the data, as everything in `blocks.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.ledger import Summary, clock_text, duration_text, file_offset, presence
from bot.models import Attendee, Mark
from bot.mrkdwn import escape, from_markdown
from bot.service.settings import NOTICE_LIMIT, SUMMARY_TYPES, ChannelSettings
from bot.slack.blocks import SECTION_TEXT, clip, date, packed, plain, section, user

SUMMARY_INLINE = 2_500  # a summary this short is shown whole; a longer one starts here, the file has the rest
SUMMARY_BLOCKS = 12


@dataclass(frozen=True)
class Recap:
    """What the final reply says beside the ledger: marks at their place in the file, and who was there."""

    chapters: list[tuple[float, str | None, str]]  # (offset in the file, who, text)
    present: list[str]  # names of who was there while it recorded
    only_paused: list[str]  # names of who was there only while it was paused


def recap(summary: Summary, marks: list[Mark], attendance: list[Attendee], now: float) -> Recap:
    chapters = [(offset, m.user_id, m.text) for m in marks if (offset := file_offset(summary, m.at)) is not None]
    spans: dict[str, list[tuple[float | None, float | None]]] = {}
    for a in attendance:  # a person who rejoined has one row per join, under one name
        spans.setdefault(a.name, []).append((a.joined_at, a.left_at))
    seen = {name: presence(summary, s, now) for name, s in spans.items()}
    return Recap(chapters, [n for n, p in seen.items() if p == "recorded"],
                 [n for n, p in seen.items() if p == "paused"])


def recap_lines(r: Recap) -> tuple[list[str], list[str]]:
    """(the chapter lines, the attendance lines) of the final reply."""
    chapters = [f"• `{clock_text(offset)}` {escape(clip(text, 200)) or '_(mark)_'} ({user(who)})"
                for offset, who, text in r.chapters]
    if chapters:
        chapters.insert(0, f"*Marks* ({len(chapters)}), at their place in the file:")
    who = []
    if r.present:
        who.append(f"*Present while it recorded* ({len(r.present)}): " + _names(r.present))
    if r.only_paused:
        who.append(f"*There only while it was paused* ({len(r.only_paused)}): " + _names(r.only_paused))
    return chapters, who


def _names(names: list[str], limit: int = 50) -> str:
    shown = ", ".join(escape(clip(n, 80)) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def session_file(payload: dict[str, Any], tag: str | None, *,
                 compact: bool = False) -> tuple[str, list[dict[str, Any]] | None]:
    """A transcript or a summary, in a recording's thread (`tag` "#2") or in the channel (None)."""
    of = f"{tag}'s session" if tag else "the meeting's last session"
    expiry = f"link valid until {date(payload.get('expiry'))}"
    link = f"<{escape(str(payload.get('url') or ''))}|download>"
    if payload.get("notice") == "transcript":
        text = f":memo: The transcript of {of} is ready: {link} ({expiry})."
        return text, None
    head = f":clipboard: The summary of {of} is ready: {link} ({expiry})."
    body = from_markdown(str(payload.get("text") or ""))
    if compact or not body:
        return head, None
    if len(body) > SUMMARY_INLINE:
        body = body[:SUMMARY_INLINE].rsplit("\n", 1)[0] + f"\n… the whole summary is in the file ({link})."
    lines = body.split("\n")
    return head, [section(head), *packed(lines, SUMMARY_BLOCKS, lambda n: f"… {n} more lines in the file")]


def settings_lines(s: ChannelSettings) -> list[str]:
    return [f"• `{name}`: {escape(clip(value, NOTICE_LIMIT))}" for name, value in s.shown()]


def settings_brief(s: ChannelSettings) -> str:
    """One line of what differs from the defaults, for `/rec status`."""
    defaults = dict(ChannelSettings().shown())
    changed = [f"{name} {escape(clip(value, 60))}" for name, value in s.shown() if defaults[name] != value]
    return ("Settings: " + " · ".join(changed) if changed else "Settings: the defaults") + " (`/rec settings`)"


def settings_text(s: ChannelSettings) -> str:
    return ("*This channel's settings*\n" + "\n".join(settings_lines(s)) +
            "\nChange one with `/rec settings ‹name› ‹value›`, e.g. `/rec settings auto-record on`.")[:SECTION_TEXT]


def form_too_late(form: str) -> str:
    """A form whose trigger Slack no longer took (3 seconds, once): what to do instead."""
    if form == "connect":
        return (":hourglass: The form did not open: Slack gives a form 3 seconds, and recbot took longer this time. "
                "Type `/rec connect` again.")
    return (":hourglass: The settings form did not open: Slack gives a form 3 seconds, and recbot took longer this "
            "time. Type `/rec settings` again, or set one directly: `/rec settings NAME VALUE` "
            "(for example `/rec settings auto-record on`).")


def settings_modal(s: ChannelSettings, channel_id: str) -> dict[str, Any]:
    """`/rec settings`: the form. Its values come back in a `view_submission` (`rec_settings`)."""
    def toggle(name: str, label: str, on: bool, hint: str) -> dict[str, Any]:
        option = {"text": plain(label), "value": "on", "description": plain(hint)}
        element: dict[str, Any] = {"type": "checkboxes", "action_id": "value", "options": [option]}
        if on:
            element["initial_options"] = [option]
        return {"type": "input", "block_id": name, "optional": True, "label": plain(name), "element": element}

    def text_input(name: str, label: str, value: str | None, hint: str, *, multiline: bool = False,
                   limit: int = 100) -> dict[str, Any]:
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "multiline": multiline,
                                   "max_length": limit, "placeholder": plain(hint)}
        if value:
            element["initial_value"] = value[:limit]
        return {"type": "input", "block_id": name, "optional": True, "label": plain(label), "element": element}

    kinds = [{"text": plain(t.replace("_", " ")), "value": t} for t in SUMMARY_TYPES]
    summary_type = {"type": "input", "block_id": "summary-type", "optional": True, "label": plain("Summary type"),
                    "element": {"type": "static_select", "action_id": "value", "options": kinds,
                                "initial_option": next((k for k in kinds if k["value"] == s.summary_type),
                                                       kinds[0])}}
    return {
        "type": "modal", "callback_id": "rec_settings", "private_metadata": channel_id,
        "title": plain("recbot settings", 24), "submit": plain("Save", 24), "close": plain("Cancel", 24),
        "blocks": [
            section(f"Settings of <#{channel_id}>. Only this channel's controllers can change them."),
            toggle("auto-record", "Record automatically", s.auto_record,
                   "A recording starts when the linked meeting starts, and everyone here is told"),
            toggle("transcribe", "Transcribe meetings made with /rec new", s.transcribe,
                   "The transcript follows in the recording's thread"),
            toggle("summarize", "Summarise meetings made with /rec new", s.summarize,
                   "The summary follows in the recording's thread"),
            summary_type,
            text_input("notice", "Notice when recording starts", s.notice,
                       "e.g. This meeting is recorded for the team's notes.", multiline=True, limit=NOTICE_LIMIT),
            text_input("keep-alive", "Keep-alive after the last person leaves",
                       duration_text(s.keep_alive) if s.keep_alive else None, "1m to 10m, empty for the default"),
            text_input("pause-reminder", "Remind after this long paused",
                       (duration_text(s.pause_reminder) if s.pause_reminder else "0")
                       if s.pause_reminder is not None else None, "e.g. 10m; 0 turns it off; empty for the default"),
        ],
    }


def modal_values(view: dict[str, Any]) -> dict[str, str]:
    """The submitted form as `/rec settings NAME VALUE` would give it (empty fields back to the default)."""
    state = ((view.get("state") or {}).get("values")) or {}
    out: dict[str, str] = {}
    for name in ("auto-record", "transcribe", "summarize"):
        chosen = (state.get(name, {}).get("value") or {}).get("selected_options") or []
        out[name] = "on" if chosen else "off"
    kind = (state.get("summary-type", {}).get("value") or {}).get("selected_option") or {}
    out["summary-type"] = str(kind.get("value") or "general")
    for name in ("notice", "keep-alive", "pause-reminder"):
        value = (state.get(name, {}).get("value") or {}).get("value")
        out[name] = str(value).strip() if value else ("off" if name == "notice" else "default")
    return out
