"""The meeting as a Slack call: its words, and bringing Slack's call in step with the store.

One outbox row ("call") per call, rendered when it is sent: what the store says the call should show
(who is there, whether it records, whether it ended) against what Slack was last told (`Call.shown`).
Each difference is one Slack method (calls.add, calls.participants.add / .remove, calls.update,
calls.end), and what Slack was told is kept after each, so a retry or a crash between them repeats
nothing. The call block itself is posted in each channel by a "call_post" row, once calls.add answered.
`render` runs on the store's thread over a Tx; the rest on the loop.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Call, Status
from bot.retry import Backoff, patiently
from bot.store import Store, StoreBusy, Tx

log = logging.getLogger(__name__)

RETRIED = {"ratelimited", "fatal_error", "internal_error", "service_unavailable", "request_timeout"}

KEEP_ADDED = Backoff(0.25, 4.0).delays(5)  # 0.25 s … 4 s


def title(call: Call, state: Status | None) -> str:
    """The call's name in Slack, with whether the meeting is being recorded."""
    if state is Status.RECORDING:
        return f"{call.title} · ● Recording"
    if state is Status.PAUSED:
        return f"{call.title} · Paused"
    return call.title


def post(payload: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The message that shows the call in a channel (the text is for notifications and screen readers)."""
    return f"{payload.get('title') or 'The meeting'} is live: join from the call below.", \
        [{"type": "call", "call_id": payload["call_id"]}]


def render(tx: Tx, payload: dict[str, Any]) -> tuple[Call, dict[str, str], Status | None] | None:
    """On the store's thread: the call, who is in its session now, and the recording state it should show."""
    call = tx.calls.get(payload["team_key"], payload["session_id"])
    if call is None:
        return None
    return call, tx.calls.people(call.session_id), tx.calls.recording_state(call.meeting_id)


def _users(people: dict[str, str]) -> list[dict[str, str]]:
    return [{"external_id": pid, "display_name": name} for pid, name in people.items()]


async def bring_in_step(store: Store, client: AsyncWebClient,
                        rendered: tuple[Call, dict[str, str], Status | None] | None) -> None:
    if rendered is None:
        return
    call, people, state = rendered
    if call.refused or call.shown.get("ended"):
        return
    shown = dict(call.shown)
    wanted = title(call, state)
    call_id = call.call_id
    if call_id is None:
        if call.ended_at is not None:
            return  # it ended before Slack heard of it: nothing to show
        try:
            answer = await client.calls_add(external_unique_id=call.session_id, join_url=call.join_url, title=wanted,
                                            date_start=int(call.started_at), created_by=call.created_by,
                                            users=_users(people) or None)
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if getattr(exc.response, "status_code", 200) < 500 and error not in RETRIED:
                log.warning("Slack will not show meeting %s as a call (%s); it is not asked again for this session",
                            call.meeting_id, error)
                await store.write(lambda tx: tx.calls.refuse(call, error))
            raise
        call_id = answer["call"]["id"]
        shown = {"title": wanted, "people": people}
        # the id calls.add answered is kept, waiting out a busy store: a row tried again would add a second call
        await patiently(lambda: store.write(lambda tx: tx.calls.added(call, call_id, shown)), KEEP_ADDED, StoreBusy)
    if call.ended_at is not None:
        await client.calls_end(id=call_id, duration=max(0, round(call.ended_at - call.started_at)))
        await store.write(lambda tx: tx.calls.told(call, {**shown, "ended": True}))
        return
    was: dict[str, str] = shown.get("people") or {}
    if new := {pid: name for pid, name in people.items() if pid not in was}:
        await client.calls_participants_add(id=call_id, users=_users(new))
        shown["people"] = was = {**was, **new}
        await store.write(lambda tx: tx.calls.told(call, shown))
    if gone := {pid: name for pid, name in was.items() if pid not in people}:
        await client.calls_participants_remove(id=call_id, users=_users(gone))
        shown["people"] = {pid: name for pid, name in was.items() if pid not in gone}
        await store.write(lambda tx: tx.calls.told(call, shown))
    if shown.get("title") != wanted:
        await client.calls_update(id=call_id, title=wanted)
        shown["title"] = wanted
        await store.write(lambda tx: tx.calls.told(call, shown))
