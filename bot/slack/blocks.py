"""Block Kit builders: pure functions from the store's view of things to what Slack shows.

Text a person typed (meeting titles) only ever goes into `plain_text` or through `escape`, so
`<!channel>`, mentions and links typed into a title are shown, never acted on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.ledger import Summary, clock_text
from bot.models import Link, Member, Recording, Status
from bot.mrkdwn import escape

MARK = {
    Status.INVOKED: (":hourglass_flowing_sand:", "Starting"),
    Status.RECORDING: (":red_circle:", "Recording"),
    Status.PAUSED: (":double_vertical_bar:", "Paused"),
    Status.UPLOADING: (":arrow_up:", "Uploading"),
    Status.UPLOADED: (":white_check_mark:", "Uploaded"),
    Status.ERRORED: (":x:", "Failed"),
}
BUTTONS = {
    Status.INVOKED: ("stop",),
    Status.RECORDING: ("pause", "stop"),
    Status.PAUSED: ("resume", "stop"),
    Status.UPLOADING: (),
    Status.UPLOADED: ("refresh_link",),
    Status.ERRORED: (),
}
LABEL = {"pause": "Pause", "resume": "Resume", "stop": "Stop", "refresh_link": "Fresh link", "snooze": "Snooze 30m"}
STYLE = {"pause": "primary", "resume": "primary", "stop": "danger"}
SOURCE = {"command": "with /rec", "button": "with the button", "home": "from App Home", "timer": "automatically",
          "guard": "automatically", "meeting": "from the meeting", "platform": "by the platform",
          "reconciler": "outside Slack"}


def plain(text: str, limit: int = 150) -> dict[str, Any]:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return {"type": "plain_text", "text": text or " ", "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def user(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id else "recbot"


def date(ts: float | None, fmt: str = "{date_short_pretty} at {time}") -> str:
    """Slack date formatting: shown in each reader's own time zone."""
    if ts is None:
        return "unknown"
    fallback = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(ts)}^{fmt}|{fallback}>"


def size_text(size: float | None) -> str:
    if not size:
        return "unknown size"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def buttons(rec: Recording, actions: tuple[str, ...], block_id: str = "rec_controls") -> dict[str, Any]:
    elements = []
    for action in actions:
        button: dict[str, Any] = {"type": "button", "action_id": f"rec_{action}", "value": rec.id,
                                  "text": plain(LABEL[action])}
        if action in STYLE:
            button["style"] = STYLE[action]
        elements.append(button)
    return {"type": "actions", "block_id": block_id, "elements": elements}


def title_of(rec: Recording) -> str:
    return rec.meeting_title or "Meeting"


def card(rec: Recording, summary: Summary) -> tuple[str, list[dict[str, Any]]]:
    """The status card: one top-level message per recording, edited in place."""
    emoji, state = MARK[rec.status]
    text = f"{emoji} {state}: recording #{rec.handle} of {escape(title_of(rec))}"
    who = user(rec.started_by) if rec.started_by else "the meeting"
    fields = [mrkdwn(f"*State*\n{emoji} {state}"), mrkdwn(f"*Started by*\n{who}")]
    if rec.last_action and rec.last_action != "started":
        by = f" by {user(rec.last_actor)}" if rec.last_actor else ""
        fields.append(mrkdwn(f"*Last action*\n{escape(rec.last_action).capitalize()}{by}"))
    fields.append(mrkdwn(f"*Recorded*\n{clock_text(summary.recorded)}"))
    if summary.pauses:
        fields.append(mrkdwn(f"*Paused*\n{clock_text(summary.paused)} ({summary.pauses} "
                             f"pause{'s' if summary.pauses != 1 else ''})"))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain(f"{state} · #{rec.handle} · {title_of(rec)}")},
        {"type": "section", "fields": fields},
    ]
    if rec.status is Status.PAUSED and rec.pause_until:
        blocks.append({"type": "context", "elements": [mrkdwn(f":alarm_clock: Resumes by itself "
                                                              f"{date(rec.pause_until, '{time}')}")]})
    if rec.status is Status.UPLOADED and rec.download_url:
        blocks.append({"type": "section", "text": mrkdwn(
            f":arrow_down: <{rec.download_url}|Download the recording> · {size_text(rec.file_size)} · "
            f"link expires {date(rec.url_expiry)}")})
    if rec.status is Status.ERRORED and rec.error_reason:
        blocks.append({"type": "section", "text": mrkdwn(f":x: {escape(rec.error_reason)}")})
    context = f"Meeting `{rec.meeting_id}` · recording `{rec.id}`"
    blocks.append({"type": "context", "elements": [mrkdwn(context)]})
    if BUTTONS[rec.status]:
        blocks.append(buttons(rec, BUTTONS[rec.status]))
    return text, blocks


def ledger_lines(summary: Summary) -> list[str]:
    lines, offset = [], 0.0
    for interval in summary.intervals:
        span = f"{date(interval.start, '{time_secs}')}–{date(interval.end, '{time_secs}')}"
        if interval.kind == "recorded":
            lines.append(f"• {span} recorded ({clock_text(interval.seconds)}), file "
                         f"{clock_text(offset)}–{clock_text(offset + interval.seconds)}")
            offset += interval.seconds
        else:
            why = f", {escape(interval.reason)}" if interval.reason else ""
            lines.append(f"• {span} paused ({clock_text(interval.seconds)}) by {user(interval.actor)} "
                         f"{SOURCE.get(interval.source, '')}{why}")
    return lines


def notice(payload: dict[str, Any], rec: Recording, summary: Summary) -> tuple[str, list[dict[str, Any]] | None, bool]:
    """A thread reply for one change: (text, blocks, broadcast to the channel too)."""
    kind = payload.get("notice")
    actor, source, reason = payload.get("actor"), payload.get("source", ""), payload.get("reason")
    by = f"by {user(actor)}" if actor else SOURCE.get(source, "")
    tag = f"#{rec.handle}"
    if kind == "started":
        extra = " alongside the active one (`--multi`)" if payload.get("multi") else ""
        return f":arrow_forward: {tag}: recording requested {by}{extra}. Starting…", None, False
    if kind == "adopted":
        return f":red_circle: {tag}: a recording was started from the meeting; recbot follows it here.", None, False
    if kind == "recording":
        return f":red_circle: {tag} is recording.", None, False
    if kind == "paused":
        until = f" It resumes by itself {date(payload['until'], '{time}')}." if payload.get("until") else ""
        return f":double_vertical_bar: {tag} paused {by}.{until}", None, False
    if kind == "resumed":
        if source == "timer":
            return f":arrow_forward: {tag} resumed automatically: the timed pause is over.", None, False
        return f":arrow_forward: {tag} resumed {by}.", None, False
    if kind == "stopped":
        if actor:
            return f":black_square_for_stop: {tag} stopped {by}. Uploading…", None, False
        why = {"everyone left": "stopped automatically: everyone left",
               "time limit reached": "stopped: time limit reached",
               "the meeting ended while paused": "stopped automatically: the meeting ended while it was paused",
               "from the meeting": "stopped from the meeting"}.get(reason or "", f"stopped ({escape(reason or '')})")
        return f":black_square_for_stop: {tag} {why}. Uploading…", None, False
    if kind == "uploaded":
        return uploaded(rec, summary)
    if kind == "errored":
        who = user(rec.started_by) + " " if rec.started_by else ""
        why = escape(rec.error_reason or "the platform reported an error")
        return f":x: {who}{tag} failed: {why}. No file was made.", None, True
    if kind == "ended_while_paused":
        who = f"{user(payload.get('paused_by'))}, " if payload.get("paused_by") else ""
        grace = payload.get("grace") or 0
        auto = f" recbot will stop it in {clock_text(grace)} if nobody does." if grace else ""
        text = (f":warning: {who}{escape(reason or 'the meeting ended')} while {tag} is paused. A paused recording "
                f"does not stop by itself.{auto}")
        return text, [{"type": "section", "text": mrkdwn(text)}, buttons(rec, ("stop",), "rec_guard")], True
    if kind == "pause_reminder":
        who = f"{user(payload.get('paused_by'))}, " if payload.get("paused_by") else ""
        since = date(payload.get("since"), "{time} ({ago})")
        text = f":bell: {who}{tag} has been paused since {since}. Resume it, stop it, or snooze this reminder."
        return text, [{"type": "section", "text": mrkdwn(text)},
                      buttons(rec, ("resume", "stop", "snooze"), "rec_reminder")], False
    if kind == "heads_up":
        return f":hourglass: {tag} resumes recording {date(payload.get('due'), '{time}')} (in about 30 s).", None, False
    if kind in ("auto_resume_failed", "auto_stop_failed"):
        what = "resume" if kind == "auto_resume_failed" else "stop"
        return f":warning: {tag}: could not {what} automatically: {escape(str(payload.get('detail', '')))}", None, True
    return f"{tag}: {escape(str(kind))}", None, False


def uploaded(rec: Recording, summary: Summary) -> tuple[str, list[dict[str, Any]], bool]:
    head = f":white_check_mark: {'#'}{rec.handle} is ready"
    link = f"<{rec.download_url}|Download the recording>" if rec.download_url else "no download link"
    audio = f" · <{rec.audio_url}|audio only>" if rec.audio_url else ""
    facts = (f"{link}{audio} · {size_text(rec.file_size)} · {clock_text(rec.duration or summary.recorded)} long · "
             f"link expires {date(rec.url_expiry)}")
    tally = (f"*Recorded {clock_text(summary.recorded)}* · Paused {clock_text(summary.paused)} "
             f"({summary.pauses} pause{'s' if summary.pauses != 1 else ''})")
    lines = ledger_lines(summary)
    text = f"{head}: {facts}\n{tally}"
    blocks = [{"type": "section", "text": mrkdwn(f"{head}\n{facts}")},
              {"type": "section", "text": mrkdwn(tally + ("\n" + "\n".join(lines) if lines else ""))}]
    return text, blocks, False


def status_view(link: Link, lines: list) -> tuple[str, list[dict[str, Any]]]:
    title = link.meeting_title or "untitled meeting"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain(f"Linked meeting: {title}")},
        {"type": "context", "elements": [mrkdwn(f"`{link.meeting_id}` · linked by {user(link.linked_by)}")]},
    ]
    if link.broken_reason:
        blocks.append({"type": "section", "text": mrkdwn(
            f":warning: recbot cannot post in this channel ({escape(link.broken_reason)}). "
            "Invite it with `/invite @recbot`.")})
    if not lines:
        blocks.append({"type": "section", "text": mrkdwn("Nothing is being recorded. Start with `/rec start`.")})
    for line in lines:
        rec, summary = line.rec, line.summary
        emoji, state = MARK[rec.status]
        detail = f"recorded {clock_text(summary.recorded)}"
        if summary.pauses:
            detail += f", paused {clock_text(summary.paused)} ({summary.pauses}×)"
        if rec.status is Status.PAUSED and rec.pause_until:
            detail += f", resumes {date(rec.pause_until, '{time}')}"
        starter = user(rec.started_by) if rec.started_by else "the meeting"
        blocks.append({"type": "section",
                       "text": mrkdwn(f"{emoji} *#{rec.handle}* {state} · {detail} · started by {starter}")})
    text = f"{title}: " + (", ".join(f"#{ln.rec.handle} {MARK[ln.rec.status][1].lower()}" for ln in lines)
                           or "nothing is being recorded")
    return text, blocks


def history_view(lines: list) -> tuple[str, list[dict[str, Any]]]:
    if not lines:
        return "No recordings in this channel yet.", [{"type": "section", "text": mrkdwn(
            "No recordings in this channel yet. Start one with `/rec start`.")}]
    rows = []
    for line in lines:
        rec = line.rec
        emoji, state = MARK[rec.status]
        link = f" · <{rec.download_url}|download> (expires {date(rec.url_expiry, '{date_short}')})" \
            if rec.download_url else ""
        rows.append(f"{emoji} *#{rec.handle}* {escape(title_of(rec))} · {date(rec.created_at, '{date_short} {time}')}"
                    f" · {state} · {clock_text(line.summary.recorded)} recorded{link}")
    return f"{len(lines)} recent recording(s)", [{"type": "header", "text": plain("Recent recordings")},
                                                  {"type": "section", "text": mrkdwn("\n".join(rows))}]


def who_view(link: Link, members: list[Member]) -> tuple[str, list[dict[str, Any]]]:
    allowed = [m.user_id for m in members if m.role == "allow"]
    denied = [m.user_id for m in members if m.role == "deny"]
    lines = [f"*Controllers:* {user(link.linked_by)} (linked the channel), workspace admins"
             + "".join(f", {user(u)}" for u in allowed),
             "*Anyone in the channel* may pause.",
             "*Barred:* " + (", ".join(user(u) for u in denied) if denied else "nobody")]
    return "\n".join(lines), [{"type": "section", "text": mrkdwn("\n".join(lines))}]


def home_view(links: list[Link], recordings: list[tuple[Recording, Summary]]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [{"type": "header", "text": plain("recbot")}]
    if not links:
        blocks.append({"type": "section", "text": mrkdwn(
            "You have no linked channels yet. In a channel, type `/rec link <meeting>` or `/rec new`.")})
    else:
        blocks.append({"type": "section", "text": mrkdwn("*Your channels*\n" + "\n".join(
            f"• <#{lk.channel_id}> → {escape(lk.meeting_title or lk.meeting_id)}"
            + (" :warning: recbot was removed from it" if lk.broken_reason else "") for lk in links))})
    blocks.append({"type": "divider"})
    if not recordings:
        blocks.append({"type": "section", "text": mrkdwn("No active recordings.")})
    for rec, summary in recordings:
        emoji, state = MARK[rec.status]
        blocks.append({"type": "section", "text": mrkdwn(
            f"{emoji} *#{rec.handle}* {escape(title_of(rec))} in <#{rec.channel_id}> · {state} · "
            f"recorded {clock_text(summary.recorded)}")})
        if BUTTONS[rec.status]:
            blocks.append(buttons(rec, BUTTONS[rec.status], block_id=f"home_{rec.id}"))
    return {"type": "home", "blocks": blocks}


def lost_channel(link: Link, error: str) -> str:
    """The DM to whoever linked a channel that recbot can no longer post in."""
    return (f":warning: recbot can no longer post in <#{link.channel_id}> ({error}), which you linked to "
            f"*{escape(link.meeting_title or link.meeting_id)}*. Invite it back with `/invite @recbot` "
            "in that channel, then run any `/rec` command there: the kept updates will follow.")
