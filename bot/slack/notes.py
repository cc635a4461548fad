"""Block Kit for what comes after the meeting and around it: the transcript and summary replies, the
final reply's chapters (marks) and attendance, and the channel's settings (as text and as a modal).
Within Slack's limits whatever the data, as everything in `blocks.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.ledger import Span, Summary, clock_text, duration_text, file_offset, presence
from bot.models import Attendee, Mark, Notice
from bot.mrkdwn import escape, from_markdown
from bot.service.settings import NOTICE_LIMIT, SUMMARY_TYPES, AfterPause, ChannelSettings
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
    return Recap(chapters, [n for n, p in seen.items() if p is Span.RECORDED],
                 [n for n, p in seen.items() if p is Span.PAUSED])


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
        n = len(r.only_paused)  # not named: they were there only off the record
        who.append(f"*There only while it was paused*: {n} {'person' if n == 1 else 'people'}, not named here")
    return chapters, who


def _names(names: list[str], limit: int = 50) -> str:
    shown = ", ".join(escape(clip(n, 80)) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def session_file(payload: dict[str, Any], tag: str | None, *,
                 compact: bool = False) -> tuple[str, list[dict[str, Any]] | None]:
    """A transcript or a summary, in a recording's thread (`tag` "#2") or in the channel (None)."""
    of = f"{tag}'s session" if tag else "the meeting's last session"
    if payload.get("notice") == Notice.SUMMARY_HELD:
        return summary_held(payload, of, compact=compact)
    if payload.get("notice") == Notice.TRANSCRIPT_UNREADABLE:
        return (f":lock: Part of {of} was off the record, and recbot could not read the platform's transcript to "
                "leave those parts out, so it posts neither the transcript nor a link to it."), None
    expiry = f"link valid until {date(payload.get('expiry'))}"
    link = f"<{escape(str(payload.get('url') or ''))}|download>"
    if payload.get("notice") == Notice.TRANSCRIPT:
        text = f":memo: The transcript of {of} is ready: {link} ({expiry})."
        return text, None
    head = f":clipboard: The summary of {of} is ready: {link} ({expiry})."
    if payload.get("released_by"):
        head = (f":clipboard: {user(payload['released_by'])} posted the summary of {of}, which was held because "
                f"part of the session was off the record: {link} ({expiry}).")
    body = from_markdown(str(payload.get("text") or ""))
    if compact or not body:
        return head, None
    if len(body) > SUMMARY_INLINE:
        body = body[:SUMMARY_INLINE].rsplit("\n", 1)[0] + f"\n… the whole summary is in the file ({link})."
    lines = body.split("\n")
    return head, [section(head), *packed(lines, SUMMARY_BLOCKS, lambda n: f"… {n} more lines in the file")]


def summary_held(payload: dict[str, Any], of: str, *, compact: bool) -> tuple[str, list[dict[str, Any]] | None]:
    """The platform summarised the whole session, paused parts too, and a summary cannot be cut: held."""
    never = payload.get("policy") == AfterPause.NEVER
    text = (f":lock: The platform's summary of {of} is not posted: it was made from the whole session, including "
            "what was said while the recording was paused, and recbot cannot cut those parts out of a summary. ")
    text += ("This channel never posts such a summary (`/rec settings summary-after-pause`)." if never else
             "A controller of this channel may read it first and post it anyway.")
    if never or compact:
        return text, None
    button = {"type": "button", "action_id": "rec_post_summary", "value": str(payload.get("session_id") or ""),
              "text": plain("Post the summary anyway"),
              "confirm": {"title": plain("Post the summary?"), "confirm": plain("Post it"), "deny": plain("Cancel"),
                          "text": plain("It may repeat what was said off the record. Everyone in the channel will "
                                        "see it.", 300)}}
    return text, [section(text), {"type": "actions", "block_id": "rec_summary_held", "elements": [button]}]


def transcript_copy(payload: dict[str, Any], tag: str) -> tuple[str, str, str, str]:
    """recbot's own copy of a transcript with what was said off the record left out: (the message with the file,
    its title, its file name, its content)."""
    lines = payload.get("lines") or []
    withheld = int(payload.get("withheld") or 0)
    title = clip(str(payload.get("title") or "the meeting"), 80)
    comment = (f":memo: The transcript of {tag}'s session, as recorded: {len(lines)} line(s). {withheld} line(s) "
               "said while nothing was recording (paused, before the start or after the stop) are left out, and "
               "so is any line that ran across a pause. recbot does not post the platform's own transcript, which "
               "has them.")
    body = [f"{title}, {tag}: the transcript as recorded. Times are places in the recording's file.",
            f"{withheld} line(s) said off the record are left out.", ""]
    body += [f"[{clock_text(offset)}] {speaker}: {said}" for offset, speaker, said in lines]
    return comment, f"Transcript of {tag} (as recorded)", f"transcript-{tag.lstrip('#')}.txt", "\n".join(body) + "\n"


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

    after_pause = [{"text": plain(label), "value": value} for value, label in (
        ("hold", "Hold it for a controller"), ("post", "Post it anyway"), ("never", "Never post it"))]
    held = {"type": "input", "block_id": "summary-after-pause", "optional": True,
            "label": plain("Summary when a pause overlapped"),
            "element": {"type": "static_select", "action_id": "value", "options": after_pause,
                        "initial_option": next(o for o in after_pause if o["value"] == s.summary_after_pause)}}
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
            held,
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
    held = (state.get("summary-after-pause", {}).get("value") or {}).get("selected_option") or {}
    out["summary-after-pause"] = str(held.get("value") or "hold")
    for name in ("notice", "keep-alive", "pause-reminder"):
        value = (state.get(name, {}).get("value") or {}).get("value")
        out[name] = str(value).strip() if value else ("off" if name == "notice" else "default")
    return out


def found(p: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """`/rec find`'s answer, to the person only: each hit with its recording (#n, title, date), its place in the
    file, who said it and a link to the recording's thread."""
    words = escape(clip(str(p.get("words") or ""), 100))
    if not p.get("kept_days"):
        text = ("recbot keeps no transcripts here (`REC_TRANSCRIPT_DAYS` is 0), so there is nothing to search. "
                "Transcripts are in the recordings' threads, for as long as their links last.")
        return text, [section(text)]
    hits = p.get("hits") or []
    if not hits:
        text = (f"Nothing recorded in this channel's meetings matches _{words}_. recbot searches what was recorded "
                f"in the last {p['kept_days']} day(s); what was said while paused is never kept.")
        return text, [section(text)]
    head = f":mag: {len(hits)} place(s) in this channel's recordings for _{words}_, best first:"
    lines = []
    for hit in hits:
        rec = hit.rec
        title = escape(clip(rec.meeting_title or "the meeting", 60))
        thread = f"<https://slack.com/archives/{rec.channel_id}/p{(rec.card_ts or '').replace('.', '')}|thread>" \
            if rec.card_ts else "no thread"
        lines.append(f"• *#{rec.handle}* {title}, {date(rec.created_at, '{date_short_pretty}')} at "
                     f"`{clock_text(hit.offset)}`: {escape(clip(hit.speaker, 60))}: "
                     f"“{escape(clip(hit.text, 300))}” ({thread})")
    return head + "\n" + "\n".join(lines), [section(head), *packed(lines, 10, lambda n: f"… {n} more")]
