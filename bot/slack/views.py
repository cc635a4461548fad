"""Block Kit for the person who asked: `/rec status`, `history`, `who`, the confirmation of `/rec end`,
and App Home. Within Slack's limits whatever the data, as everything in `blocks.py`."""

from __future__ import annotations

from typing import Any

from bot.ledger import Summary, clock_text
from bot.models import Link, Member, Recording, Role, Status
from bot.mrkdwn import escape
from bot.slack.blocks import (
    BUTTONS,
    MARK,
    MESSAGE_BLOCKS,
    TITLE,
    VIEW_BLOCKS,
    buttons,
    clip,
    date,
    mrkdwn,
    packed,
    people,
    plain,
    section,
    title_of,
    user,
)


def status_view(link: Link, lines: list) -> tuple[str, list[dict[str, Any]]]:
    title = link.meeting_title or "untitled meeting"
    out: list[dict[str, Any]] = [
        {"type": "header", "text": plain(f"Linked meeting: {title}")},
        {"type": "context", "elements": [mrkdwn(f"`{link.meeting_id}` · linked by {user(link.linked_by)}")]},
    ]
    if link.broken_reason:
        out.append(section(f":warning: recbot cannot post in this channel ({escape(link.broken_reason)}). "
                           "Invite it with `/invite @recbot`."))
    rows = []
    for line in lines:
        rec, summary = line.rec, line.summary
        emoji, state = MARK[rec.status]
        detail = f"recorded {clock_text(summary.recorded)}"
        if summary.pauses:
            detail += f", paused {clock_text(summary.paused)} ({summary.pauses}×)"
        if rec.status is Status.PAUSED and rec.pause_until:
            detail += f", resumes {date(rec.pause_until, '{time}')}"
        starter = user(rec.started_by) if rec.started_by else "the meeting"
        rows.append(f"{emoji} *#{rec.handle}* {state} · {detail} · started by {starter}")
    if rows:
        out += packed(rows, MESSAGE_BLOCKS - len(out), lambda n: f"… and {n} more active recordings")
    else:
        out.append(section("Nothing is being recorded. Start with `/rec start`."))
    states = ", ".join(f"#{ln.rec.handle} {MARK[ln.rec.status][1].lower()}" for ln in lines[:20])
    more = f" and {len(lines) - 20} more" if len(lines) > 20 else ""
    return f"{escape(clip(title, TITLE))}: {states + more or 'nothing is being recorded'}", out


def history_view(lines: list) -> tuple[str, list[dict[str, Any]]]:
    if not lines:
        return "No recordings in this channel yet.", [section(
            "No recordings in this channel yet. Start one with `/rec start`.")]
    out: list[dict[str, Any]] = [{"type": "header", "text": plain("Recent recordings")}]
    for line in lines[: MESSAGE_BLOCKS - 1]:
        rec = line.rec
        emoji, state = MARK[rec.status]
        link = f" · <{escape(rec.download_url)}|download> (expires {date(rec.url_expiry, '{date_short}')})" \
            if rec.download_url else ""
        out.append(section(f"{emoji} *#{rec.handle} of {title_of(rec)}* (meeting `{clip(rec.meeting_id, 40)}`) · "
                           f"{date(rec.created_at, '{date_short} {time}')} · {state} · "
                           f"{clock_text(line.summary.recorded)} recorded{link}"))
    return f"{len(lines)} recent recording(s)", out


def who_view(link: Link, members: list[Member]) -> tuple[str, list[dict[str, Any]]]:
    allowed = [m.user_id for m in members if m.role is Role.ALLOW]
    denied = [m.user_id for m in members if m.role is Role.DENY]
    lines = [f"*Controllers:* {user(link.linked_by)} (linked the channel), workspace admins",
             *(f"• {user(u)}" for u in allowed),
             "*Anyone in the channel* may pause.",
             "*Barred:* " + ("" if denied else "nobody"),
             *(f"• {user(u)}" for u in denied)]
    more = f" and {len(allowed) - 10} more" if len(allowed) > 10 else ""
    text = (f"Controllers: {people([link.linked_by, *allowed[:10]])}{more}, workspace admins; {len(denied)} barred. "
            "Anyone in the channel may pause.")
    return text, packed(lines, MESSAGE_BLOCKS, lambda n: f"… and {n} more people")


def end_confirm_view(link: Link, active: list[tuple[int, str]]) -> tuple[str, list[dict[str, Any]]]:
    """`/rec end` asks first: the button is the confirmation; nothing has happened yet."""
    title = escape(clip(link.meeting_title or link.meeting_id, TITLE))
    stops = ("It stops " + ", ".join(f"#{h} ({s.lower()})" for h, s in active[:20])
             + (f" and {len(active) - 20} more" if len(active) > 20 else "") + " first, then") if active else "It"
    text = (f":warning: End *{title}* for everyone? {stops} removes every participant from the meeting. "
            "Nothing happens unless you press the button.")
    button = {"type": "button", "action_id": "rec_end", "value": link.meeting_id, "style": "danger",
              "text": plain("End the meeting for everyone", 75)}
    return text, [section(text), {"type": "actions", "block_id": "rec_end", "elements": [button]}]


def home_view(links: list[Link], recordings: list[tuple[Recording, Summary]], *,
              compact: bool = False) -> dict[str, Any]:
    out: list[dict[str, Any]] = [{"type": "header", "text": plain("recbot")}]
    if compact:
        out.append(section(f"You control {len(links)} linked channel(s); {len(recordings)} recording(s) are active."))
        return {"type": "home", "blocks": out}
    if not links:
        out.append(section("You have no linked channels yet. In a channel, type `/rec link ‹meeting›` or `/rec new`."))
    else:
        rows = [f"• <#{lk.channel_id}> → {escape(clip(lk.meeting_title or lk.meeting_id, TITLE))}"
                + (" :warning: recbot was removed from it" if lk.broken_reason else "") for lk in links]
        out += packed(["*Your channels*", *rows], 20, lambda n: f"… and {n} more channels")
    out.append({"type": "divider"})
    if not recordings:
        out.append(section("No active recordings."))
    room = VIEW_BLOCKS - len(out) - 1
    shown = recordings[: room // 2]
    for rec, summary in shown:
        emoji, state = MARK[rec.status]
        out.append(section(f"{emoji} *#{rec.handle}* {title_of(rec)} in <#{rec.channel_id}> · {state} · "
                           f"recorded {clock_text(summary.recorded)}"))
        if controls := tuple(a for a in BUTTONS[rec.status] if a != "mark"):  # a mark belongs in the channel
            out.append(buttons(rec, controls, block_id=f"home_{rec.id}"))
    if len(recordings) > len(shown):
        out.append(section(f"… and {len(recordings) - len(shown)} more active recordings: "
                           "see `/rec status` in their channels."))
    return {"type": "home", "blocks": out}
