"""Block Kit builders: pure functions from recbot's view of things to what Slack shows.

Every builder stays within Slack's limits whatever the data (`bot/workbench/blockkit.py` lists
them): long lists are packed into sections of at most 3,000 characters and, past a message's 50
blocks (a Home tab's 100), summarised with their first and last lines kept. Each has a compact form
(`compact=True`) with only the essentials, which the outbox sends if Slack refuses the full one.

Text a person typed (meeting titles, the platform's messages) only ever goes into `plain_text` or
through `escape`, so `<!channel>`, mentions and links typed into a title are shown, never acted on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.ledger import PauseFor, Rebuilt, Span, Summary, clock_text, duration_text
from bot.models import ErrorReason, LastAction, Link, Notice, Origin, Outgoing, Recording, Source, Status, StopReason
from bot.mrkdwn import escape

MARK = {
    Status.INVOKED: (":hourglass_flowing_sand:", "Starting"),
    Status.RECORDING: (":red_circle:", "Recording"),
    Status.PAUSED: (":double_vertical_bar:", "Paused"),
    Status.UPLOADING: (":arrow_up:", "Uploading"),
    Status.UPLOADED: (":white_check_mark:", "Uploaded"),
    Status.ERRORED: (":x:", "Failed"),
}
BUTTONS = {Status.INVOKED: ("stop",), Status.RECORDING: ("pause", "mark", "stop"), Status.PAUSED: ("resume", "stop"),
           Status.UPLOADING: (), Status.UPLOADED: ("refresh_link",), Status.ERRORED: ()}
LABEL = {"pause": "Pause", "resume": "Resume", "stop": "Stop", "refresh_link": "Fresh link", "snooze": "Snooze",
         "mark": "Mark"}
STYLE = {"pause": "primary", "resume": "primary", "stop": "danger"}
SOURCE: dict[str, str] = {  # how a change came, by its `Source`, where no person is named
    Source.COMMAND: "with /rec", Source.BUTTON: "with the button", Source.HOME: "from App Home",
    Source.MODAL: "", Source.TIMER: "automatically", Source.GUARD: "automatically",
    Source.MEETING: "from the meeting", Source.PLATFORM: "by the platform", Source.RECONCILER: "outside Slack",
    Source.AUTO: "automatically (auto-record)", Source.WORKFLOW: "by a workflow"}
STOPPED: dict[str, str] = {  # a stop no one in Slack made, by its `StopReason`
    StopReason.EVERYONE_LEFT: "stopped automatically: everyone left",
    StopReason.TIME_LIMIT: "stopped: the platform's 24-hour limit was reached",
    StopReason.ENDED_FOR_EVERYONE: "stopped: the meeting was ended for everyone",
    StopReason.ENDED_WHILE_PAUSED: "stopped automatically: the meeting ended while it was paused",
    StopReason.FROM_MEETING: "stopped from the meeting",
    StopReason.PLATFORM_ERROR: "stopped (platform error)",
    StopReason.OUTSIDE_SLACK: "stopped (outside Slack)"}
FAILED: dict[str, str] = {  # why a recording failed, by its `ErrorReason` (else the platform's own words)
    ErrorReason.GONE: "the platform no longer knows this recording",
    ErrorReason.UNRECOVERABLE: "the platform reported an unrecoverable error"}
STOP_WHY: dict[str, str] = {  # a `StopReason` in a few words ("Stopped automatically (…)", "… while #2 is paused")
    StopReason.EVERYONE_LEFT: "everyone left", StopReason.TIME_LIMIT: "time limit reached",
    StopReason.ENDED_FOR_EVERYONE: "the meeting was ended for everyone", StopReason.PLATFORM_ERROR: "platform error",
    StopReason.ENDED_WHILE_PAUSED: "the meeting ended while paused", StopReason.FROM_MEETING: "from the meeting",
    StopReason.OUTSIDE_SLACK: "outside Slack", StopReason.MEETING_ENDED: "the meeting ended"}
STARTED_BY = {Origin.AUTO: "auto-record", Origin.WORKFLOW: "a workflow", Origin.UNSEEN: "not known (not seen)"}
SECTION_TEXT = 3000
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
TITLE = 100  # a meeting title inside a line of text


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit) or " ", "emoji": True}


def mrkdwn(text: str, limit: int = SECTION_TEXT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, limit) or " "}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text)}


def user(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id else "recbot"


def people(user_ids: list[str]) -> str:
    return ", ".join(user(u) for u in dict.fromkeys(u for u in user_ids if u))


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


def title_of(rec: Recording, limit: int = TITLE) -> str:
    """The meeting's title, escaped for mrkdwn and short enough to sit in a line."""
    return escape(clip(rec.meeting_title or "Meeting", limit))


def buttons(rec: Recording, actions: tuple[str, ...], block_id: str = "rec_controls", *,
            snooze: float | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    elements = []
    for action in actions:
        label = f"Snooze {duration_text(snooze)}" if action == "snooze" and snooze else LABEL[action]
        label = (labels or {}).get(action, label)
        button: dict[str, Any] = {"type": "button", "action_id": f"rec_{action}", "value": rec.id,
                                  "text": plain(label, 75)}
        if action in STYLE:
            button["style"] = STYLE[action]
        elements.append(button)
    return {"type": "actions", "block_id": block_id, "elements": elements}


def packed(lines: list[str], budget: int, elided: Callable[[int], str]) -> list[dict[str, Any]]:
    """`lines` in as few sections as fit 3,000 characters each, at most `budget` of them; past that the
    middle lines give way to one `elided(n)` line, so the first and the last stay readable."""
    chunks = _chunks(lines)
    keep = len(lines)
    while len(chunks) > budget and keep > 0:
        keep = keep * 4 // 5
        head, tail = lines[: (keep + 1) // 2], lines[len(lines) - keep // 2:] if keep // 2 else []
        chunks = _chunks([*head, elided(len(lines) - keep), *tail])
    return [section(c) for c in chunks[: max(1, budget)]]


def _chunks(lines: list[str]) -> list[str]:
    chunks: list[str] = []
    for line in lines:
        line = clip(line, SECTION_TEXT)
        if chunks and len(chunks[-1]) + 1 + len(line) <= SECTION_TEXT:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    return chunks


# -- the card ---------------------------------------------------------------------------------


def card(rec: Recording, summary: Summary, *, now: float | None = None,
         compact: int = 0) -> tuple[str, list[dict[str, Any]]]:
    """The status card: one top-level message per recording, edited in place. `compact` 1 keeps the
    essentials and the buttons, 2 only the essentials (one block, so that an edit replaces the old ones)."""
    emoji, state = MARK[rec.status]
    text = f"{emoji} {state}: recording #{rec.handle} of {title_of(rec)}"
    so_far = f" so far ({date(now, '{time}')})" if now and rec.status.active else ""
    if compact:
        tail = [buttons(rec, BUTTONS[rec.status])] if BUTTONS[rec.status] and compact < 2 else []
        return text, [section(f"{text} · recorded {clock_text(summary.recorded)}{so_far}"), *tail]
    who = user(rec.started_by) if rec.started_by else STARTED_BY.get(rec.origin, "the meeting")
    if rec.started_by and rec.origin == Origin.WORKFLOW:
        who += " via workflow"
    fields = [mrkdwn(f"*State*\n{emoji} {state}", 2000), mrkdwn(f"*Started by*\n{who}", 2000)]
    if (did := last_action(rec)) is not None:
        by = f" by {user(rec.last_actor)}" if rec.last_actor else ""
        fields.append(mrkdwn(f"*Last action*\n{did}{by}", 2000))
    fields.append(mrkdwn(f"*Recorded*\n{clock_text(summary.recorded)}{so_far}", 2000))
    if summary.pauses:
        fields.append(mrkdwn(f"*Paused*\n{clock_text(summary.paused)} ({summary.pauses} "
                             f"pause{'s' if summary.pauses != 1 else ''})", 2000))
    out: list[dict[str, Any]] = [
        {"type": "header", "text": plain(f"{state} · #{rec.handle} · {rec.meeting_title or 'Meeting'}")},
        {"type": "section", "fields": fields},
    ]
    if rec.status is Status.PAUSED and rec.pause_until:
        out.append({"type": "context", "elements": [mrkdwn(f":alarm_clock: Resumes by itself "
                                                           f"{date(rec.pause_until, '{time}')}")]})
    if rec.status is Status.UPLOADED and rec.download_url:
        out.append(section(f":arrow_down: <{escape(rec.download_url)}|Download the recording> · "
                           f"{size_text(rec.file_size)} · link expires {date(rec.url_expiry)}"))
    if rec.status is Status.ERRORED and rec.error_reason:
        out.append(section(f":x: {escape(clip(FAILED.get(rec.error_reason, rec.error_reason), 500))}"))
    out.append({"type": "context", "elements": [mrkdwn(f"Meeting `{rec.meeting_id}` · recording `{rec.id}`")]})
    if BUTTONS[rec.status]:
        out.append(buttons(rec, BUTTONS[rec.status]))
    return text, out


def last_action(rec: Recording) -> str | None:
    """The card's last action: the verb, then who did it (said after it), or else how: from the meeting, or
    automatically (a stop with its reason)."""
    if rec.last_action is None or rec.last_action == LastAction.STARTED:
        return None
    text = str(rec.last_action)
    if not rec.last_actor and rec.last_source == Source.MEETING:
        text += " from the meeting"
    elif not rec.last_actor:
        why = STOP_WHY.get(rec.stop_reason or "", rec.stop_reason) if rec.last_action == LastAction.STOPPED else None
        text += " automatically" + (f" ({why})" if why else "")
    return escape(clip(text, 300)).capitalize()


# -- thread notices ---------------------------------------------------------------------------


def ledger_lines(summary: Summary) -> list[str]:
    lines, offset = [], 0.0
    for interval in summary.intervals:
        span = f"{date(interval.start, '{time_secs}')}–{date(interval.end, '{time_secs}')}"
        if interval.kind is Span.RECORDED:
            lines.append(f"• {span} recorded ({clock_text(interval.seconds)}), file "
                         f"{clock_text(offset)}–{clock_text(offset + interval.seconds)}")
            offset += interval.seconds
        else:
            reason = interval.reason
            why = (f", for {duration_text(reason.seconds)}" if isinstance(reason, PauseFor)
                   else ", reconstructed" if reason is Rebuilt.RECONSTRUCTED else "")
            lines.append(f"• {span} paused ({clock_text(interval.seconds)}) by {user(interval.actor)} "
                         f"{SOURCE.get(interval.source, '')}{why}")
    return lines


def notice(payload: dict[str, Any], rec: Recording, summary: Summary, *, compact: bool = False,
           recap: tuple[list[str], list[str]] | None = None,
           consent: str | None = None) -> tuple[str, list[dict[str, Any]] | None, bool]:
    """A thread reply for one change: (text, blocks, broadcast to the channel too). `recap` (the lines of
    the marks and of who was there, `notes.recap_lines`) goes into the final reply; `consent` is the
    channel's notice, said when recording starts or resumes."""
    kind = payload.get("notice")
    actor, source, reason = payload.get("actor"), payload.get("source", ""), payload.get("reason")
    by = f"by {user(actor)}" if actor else SOURCE.get(source, "")
    if actor and source == Source.WORKFLOW:
        by += " via workflow"  # a person ran a Workflow Builder step
    tag = f"#{rec.handle}"
    told = f"\n>{escape(clip(consent, 500))}" if consent else ""
    if kind == Notice.STARTED:
        extra = " alongside the active one (`--multi`)" if payload.get("multi") else ""
        if source == Source.AUTO:
            return (f":arrow_forward: {tag}: the meeting started, and this channel records it automatically "
                    f"(auto-record). Starting…{extra}"), None, False
        return f":arrow_forward: {tag}: recording requested {by}{extra}. Starting…", None, False
    if kind == Notice.ADOPTED:
        return f":red_circle: {tag}: a recording was started from the meeting; recbot follows it here.", None, False
    if kind == Notice.ADOPTED_UNSEEN:
        return (f":grey_question: {tag}: recbot did not see this recording while it ran: it learned of it only after "
                "it had stopped. It cannot know whether the recording was paused, so it counts none of it as recorded "
                "and shows no line of its transcript or summary. Its file follows here."), None, False
    if kind == Notice.RECORDING:  # everyone in the channel is told that it records: the reply is broadcast
        return f":red_circle: {tag} of {title_of(rec)} is recording.{told}", None, True
    if payload.get("before_stop"):  # an action's answer that came after the news of the stop (late_step)
        did = "paused" if kind == Notice.PAUSED else "resumed"
        return (f":{'double_vertical_bar' if kind == Notice.PAUSED else 'arrow_forward'}: {tag} {did} {by} just before "
                "it stopped (recbot learned it after the stop).", None, False)
    if kind == Notice.PAUSED:
        until = f" It resumes by itself {date(payload['until'], '{time}')}." if payload.get("until") else ""
        return f":double_vertical_bar: {tag} paused {by}.{until}", None, False
    if kind == Notice.RESUMED:
        if source == Source.TIMER:
            return f":arrow_forward: {tag} resumed automatically: the timed pause is over.{told}", None, False
        return f":arrow_forward: {tag} resumed {by}.{told}", None, False
    if kind == Notice.STOPPED:
        if actor or source == Source.WORKFLOW:
            return f":black_square_for_stop: {tag} stopped {by}. Uploading…", None, False
        if payload.get("was_paused") and reason == StopReason.EVERYONE_LEFT:  # the platform's stop of a paused one
            return (f":black_square_for_stop: {tag} was paused, and the platform stopped it: everyone had left the "
                    "meeting. Nothing more will be recorded, and its reminders are off. Uploading…"), None, True
        why = STOPPED.get(reason or "", f"stopped ({escape(clip(reason or '', 200))})")
        return f":black_square_for_stop: {tag} {why}. Uploading…", None, False
    if kind == Notice.UPLOADED:
        return uploaded(rec, summary, compact=compact, recap=recap)
    if kind == Notice.ERRORED:
        who = user(rec.started_by) + " " if rec.started_by else ""
        failure = rec.error_reason or "the platform reported an error"
        why = escape(clip(FAILED.get(failure, failure), 500))
        short = (" A recording shorter than about 5 seconds can end this way on the platform; record a little "
                 "longer next time.") if summary.recorded < 5 else ""
        return f":x: {who}{tag} failed: {why}. No file was made.{short}", None, True
    if kind in (Notice.ENDED_WHILE_PAUSED, Notice.PAUSE_REMINDER):
        return reminder(kind, payload, rec, compact=compact)
    if kind == Notice.HEADS_UP:
        return f":hourglass: {tag} resumes recording {date(payload.get('due'), '{time}')} (in about 30 s).", None, False
    if kind == Notice.TIME_LIMIT_SOON:
        when = date(payload.get("due"), "{time}")
        return (f":hourglass: {tag} reaches the platform's 24-hour limit {when}, and the platform stops it then. "
                "To keep recording past it, start another with `/rec start --multi` before then."), None, True
    if kind == Notice.PAUSE_FAILED:
        detail = escape(clip(str(payload.get("detail", "")), 500))
        text = (f":warning: {tag} is *still recording*: the pause {by} did not go through ({detail}). "
                "Try again, or pause from the meeting.")
        if compact:
            return text, None, True
        retry = buttons(rec, ("pause",), "rec_retry", labels={"pause": "Try the pause again"})
        return text, [section(text), retry], True
    if kind in (Notice.AUTO_RESUME_FAILED, Notice.AUTO_STOP_FAILED):
        what = "resume" if kind == Notice.AUTO_RESUME_FAILED else "stop"
        detail = escape(clip(str(payload.get("detail", "")), 500))
        return f":warning: {tag}: could not {what} automatically: {detail}", None, True
    return f"{tag}: {escape(clip(str(kind), 100))}", None, False


def reminder(kind: str, payload: dict[str, Any], rec: Recording, *,
             compact: bool = False) -> tuple[str, list[dict[str, Any]] | None, bool]:
    """A paused recording that must not be forgotten: it mentions who paused it and who can act. In the
    thread it carries only what anyone may do (snooze); each controller recbot can name gets Resume and
    Stop in a message only they see (`payload["for"]`)."""
    tag = f"#{rec.handle}"
    if payload.get("for"):
        text = f":bell: {tag} is still paused, and you can resume or stop it."
        controls = ("resume", "stop") + (("snooze",) if kind == Notice.PAUSE_REMINDER else ())
        if compact:
            return text, None, False
        return text, [section(text), buttons(rec, controls, "rec_controller", snooze=payload.get("snooze"))], False
    who = people([payload.get("paused_by"), *(payload.get("controllers") or [])][:20])
    who = f"{who}, " if who else ""
    if kind == Notice.ENDED_WHILE_PAUSED:
        grace = payload.get("grace") or 0
        auto = f" recbot will stop it in {clock_text(grace)} if nobody does." if grace else ""
        reason = STOP_WHY.get(payload.get("reason") or "", "the meeting ended")
        text = f":warning: {who}{reason} while {tag} is paused. A paused recording does not stop by itself.{auto}"
        return text, None, True
    since = date(payload.get("since"), "{time} ({ago})")
    text = f":bell: {who}{tag} has been paused since {since}. Resume it, stop it, or snooze this reminder."
    if compact:
        return text, None, False
    return text, [section(text), buttons(rec, ("snooze",), "rec_reminder", snooze=payload.get("snooze"))], False


def uploaded(rec: Recording, summary: Summary, *, compact: bool = False,
             recap: tuple[list[str], list[str]] | None = None) -> tuple[str, list[dict[str, Any]] | None, bool]:
    head = f":white_check_mark: #{rec.handle} is ready"
    link = f"<{escape(rec.download_url)}|Download the recording>" if rec.download_url else "no download link"
    audio = f" · <{escape(rec.audio_url)}|audio only>" if rec.audio_url else ""
    facts = (f"{link}{audio} · {size_text(rec.file_size)} · {clock_text(rec.duration or summary.recorded)} long · "
             f"link expires {date(rec.url_expiry)}")
    tally = (f"*Recorded {clock_text(summary.recorded)}* · Paused {clock_text(summary.paused)} "
             f"({summary.pauses} pause{'s' if summary.pauses != 1 else ''})")
    if rec.origin == Origin.UNSEEN:  # not seen while it ran: whether it was paused is not known
        tally = "*Recorded: not known* (recbot did not see it run, so it counts none of it as recorded)"
    text = f"{head}: {facts}\n{tally}"
    if compact:
        return text, None, False
    lines = ledger_lines(summary)
    elided = f"• … {{}} more intervals (recorded {clock_text(summary.recorded)} and paused " \
             f"{clock_text(summary.paused)} in all) …"
    extra: list[dict[str, Any]] = []
    if recap is not None:  # marks and attendance share the message's blocks with the ledger
        chapters, who = recap
        if chapters:
            extra += packed(chapters, 12, lambda n: f"• … {n} more marks …")
        if who:
            extra += packed(who, 3, lambda n: f"… {n} more")
    ledger = packed([tally, *lines], MESSAGE_BLOCKS - 1 - len(extra), lambda n: elided.format(n))
    return text, [section(f"{head}\n{facts}"), *extra, *ledger], False


# -- the last resort: one short line, when Slack refused every fuller form -------------------


def pointer_card(rec: Recording) -> str:
    emoji, state = MARK[rec.status]
    return f"{emoji} {state}: recording #{rec.handle}. `/rec history` in this channel has the details."


def pointer_notice(payload: dict[str, Any], rec: Recording) -> str:
    """The last resort for a thread reply Slack refused in every fuller form: what it was about, and where to
    get it another way (never a promise that `/rec history` holds what it does not)."""
    notice = payload.get("notice")
    if notice == Notice.UPLOADED:
        return f":white_check_mark: #{rec.handle} is ready: `/rec history` in this channel has its download link."
    if notice == Notice.TRANSCRIPT:
        return (f"#{rec.handle}'s transcript is ready, but Slack would not take the message here. "
                "`/rec find <words>` searches what was recorded.")
    if notice in (Notice.SUMMARY, Notice.SUMMARY_HELD):
        return (f"#{rec.handle}'s summary is ready, but Slack would not take the message here. "
                "`/rec summary` asks for it again.")
    return f"#{rec.handle} has news that Slack would not show here: `/rec status` shows where it stands."


def pointer_note(payload: dict[str, Any]) -> str:
    if payload.get("notice") == Notice.TRANSCRIPT:
        return ("The meeting's transcript is ready, but Slack would not take the message here. "
                "`/rec find <words>` searches what was recorded.")
    return "The meeting's summary is ready, but Slack would not take the message here. `/rec summary` asks again."


GIVEN_UP: dict[str, str] = {Outgoing.CARD: "a recording's card", Outgoing.THREAD: "a reply in a recording's thread"}


def given_up(link: Link, kind: str, error: str) -> str:
    """The DM to whoever linked a channel when a message there can never be delivered."""
    what = GIVEN_UP.get(kind, "a message")
    return (f":warning: Slack would not take {what} in <#{link.channel_id}> ({escape(clip(error, 100))}), and "
            "nobody there can receive it any more. `/rec history` in that channel has what it said.")


def lost_channel(link: Link, error: str) -> str:
    """The DM to whoever linked a channel that recbot can no longer post in."""
    return (f":warning: recbot can no longer post in <#{link.channel_id}> ({error}), which you linked to "
            f"*{escape(clip(link.meeting_title or link.meeting_id, TITLE))}*. Invite it back with `/invite @recbot` "
            "in that channel, then run any `/rec` command there: the kept updates will follow.")
