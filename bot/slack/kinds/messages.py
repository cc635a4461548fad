"""The kinds that speak to a channel or a person: a message whose words were written when it was queued, a
direct message, App Home, a form, and the answers only the asker sees (on a response_url, or ephemeral)."""

from __future__ import annotations

from typing import Any

from bot.models import ACTIVE, Outgoing
from bot.service.settings import ChannelSettings
from bot.slack import notes, views
from bot.slack.connect import connect_modal
from bot.slack.holds import RESPOND_URL
from bot.slack.kinds.base import (
    ANSWER,
    HOME,
    URGENT,
    Kind,
    kind,
    level,
)
from bot.store import OutboxRow


@kind
class Dm(Kind):
    """A direct message whose words were written when it was queued."""

    kind = Outgoing.DM
    paced_per_channel = False  # each person's conversation is its own channel: one message rarely follows another
    most_compact = 2  # the text alone; the words are already short

    def rank(self, payload):
        return URGENT

    async def send(self, sender, client, row, rendered):
        p = row.payload
        extra = {} if level(row) else {"blocks": p.get("blocks")}
        return (await client.chat_postMessage(channel=row.channel_id or p["user"], text=p["text"],
                                              unfurl_links=False, metadata=sender.metadata(row), **extra))["ts"]


@kind
class Home(Kind):
    """App Home, rendered from the store when sent; pending refreshes for one person merge."""

    kind = Outgoing.HOME
    method = "views.publish"
    paced_per_channel = False
    most_compact = 1

    def rank(self, payload):
        return HOME

    def render(self, tx, sender, row):
        store, now = tx, sender.clock()
        links = store.links_of_user(row.payload["user"])
        recs = store.active_in_channels(lk.channel_id for lk in links)
        return views.home_view(links, [(r, store.summary(r.id, now)) for r in recs if r.status in ACTIVE],
                               compact=bool(level(row)))

    async def send(self, sender, client, row, rendered):
        await client.views_publish(user_id=row.payload["user"], view=rendered)
        return None


@kind
class Modal(Kind):
    """`/rec settings`, `/rec connect`: the trigger lasts 3 s and is used once; a failure is not retried."""

    kind = Outgoing.MODAL
    method = "views.open"
    paced_per_channel = False
    most_compact = 0

    def rank(self, payload):
        return ANSWER

    def render(self, tx, sender, row):
        if row.payload.get("form") == "connect":
            return None
        return ChannelSettings.of(tx.notes.settings(row.payload["channel_id"]))

    async def send(self, sender, client, row, rendered):
        p = row.payload
        if p.get("form") == "connect":
            view = connect_modal(p["flavour"], p.get("public_url"), p["channel_id"])
        else:
            view = notes.settings_modal(rendered, p["channel_id"])
        await client.views_open(trigger_id=p["trigger_id"], view=view)
        return None


class Answer(Kind):
    """An answer to the person who asked, only they see it."""

    paced_per_channel = False
    most_compact = 1  # the text alone

    def rank(self, payload):
        return ANSWER


@kind
class Respond(Answer):
    """An ephemeral answer on a response_url, which carries its own authority (no token, no Web API budget)."""

    kind = Outgoing.RESPOND
    method = ""
    also = (RESPOND_URL,)  # a 429 on a response_url holds the workspace's answers there, as a method's does

    async def send(self, sender, client, row, rendered):
        p = row.payload
        await sender.respond(p["url"], p["text"], None if level(row) else p.get("blocks"), since=row.created_at)
        return None


@kind
class Ephemeral(Answer):
    """An answer only one person sees, in the channel they asked in: a response_url's once Slack no longer
    takes it (5 uses, 30 minutes), or a form's that could not open (a trigger lasts 3 s). Where recbot cannot
    post in that channel, it goes to them as a direct message (`elsewhere`: a `Dm` row)."""

    kind = Outgoing.EPHEMERAL
    method = "chat.postEphemeral"

    async def send(self, sender, client, row, rendered):
        p = row.payload
        extra = {"blocks": p["blocks"]} if p.get("blocks") and not level(row) else {}
        await client.chat_postEphemeral(channel=p["channel"], user=p["user"], text=p["text"], **extra)
        return None


def elsewhere(row: OutboxRow) -> tuple[Outgoing, dict[str, Any]] | None:
    """The kind and payload of a row that says the same to the same person another way: an `Ephemeral` one when
    a response_url is spent or a form's trigger was too old; a `Dm` when an ephemeral answer cannot be posted in
    its channel (`not_ok.NOT_THERE`). None when the row does not say who asked where."""
    p = row.payload
    if row.kind == Outgoing.EPHEMERAL:
        return Outgoing.DM, {"user": p["user"], "text": p["text"], "blocks": None if level(row) else p.get("blocks")}
    channel = p.get("channel") or p.get("channel_id")
    if not p.get("user") or not channel:
        return None
    if row.kind == Outgoing.MODAL:
        return Outgoing.EPHEMERAL, {"user": p["user"], "channel": channel,
                                    "text": notes.form_too_late(p.get("form") or "settings")}
    return Outgoing.EPHEMERAL, {"user": p["user"], "channel": channel, "text": p.get("text", ""),
                                "blocks": p.get("blocks")}
