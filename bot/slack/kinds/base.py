"""What every outbox kind is (`Kind`), the registry (`@kind`, `of`), how compact a row is rendered now
(`level`, `shaped`) and how urgent each kind is when the budget is short."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Notice, Outgoing, Recording
from bot.store import OutboxRow, Store, Tx


class Sender(Protocol):
    """What a kind reaches of the sender that calls it (`bot.slack.sender.Sender`), which imports this module."""

    store: Store  # on the loop (`send`); `render` and `words` run on the store's thread and are handed a Tx
    clock: Callable[[], float]
    on_card: Callable[[str], None]

    def metadata(self, row: OutboxRow) -> dict[str, Any]: ...

    async def keep_card_ts(self, recording_id: str, ts: str) -> None: ...

    async def respond(self, url: str, text: str, reply_blocks: list[dict[str, Any]] | None) -> None: ...

MOST_COMPACT = 3

# When the budget is short, the more urgent go first (smaller is sooner).
ANSWER, URGENT, NEWS, CARD_EDIT, HOME = range(5)
URGENT_NOTICES = {Notice.UPLOADED, Notice.ERRORED, Notice.PAUSE_FAILED, Notice.PAUSE_REMINDER,
                  Notice.ENDED_WHILE_PAUSED, Notice.HEADS_UP, Notice.TIME_LIMIT_SOON, Notice.AUTO_RESUME_FAILED,
                  Notice.AUTO_STOP_FAILED, Notice.TRANSCRIPT, Notice.SUMMARY, Notice.SUMMARY_HELD,
                  Notice.TRANSCRIPT_UNREADABLE}


def level(row: OutboxRow) -> int:
    """How compact the row is rendered now (0: as designed)."""
    return int(row.payload.get("compact") or 0)


def shaped(row: OutboxRow, text: str, rendered_blocks: list[dict[str, Any]] | None,
           pointer: str) -> tuple[str, list[dict[str, Any]] | None]:
    """Text and blocks at the row's level: from level 2 the text alone, at 3 the line pointing elsewhere."""
    at = level(row)
    if at >= MOST_COMPACT:
        return pointer, None
    return text, (None if at >= 2 else rendered_blocks)


class Kind(ABC):
    kind: ClassVar[Outgoing]
    method: ClassVar[str] = "chat.postMessage"  # what it calls ("" for a response_url: not a Web API method)
    in_thread: ClassVar[bool] = False  # a reply under a card: in order, once the card exists
    paced_per_channel: ClassVar[bool] = True  # chat.postMessage's limit per channel applies
    looked_up: ClassVar[bool] = False  # a post a crash may have caught is looked for before it is sent again
    serial: ClassVar[bool] = False  # one row of its recording (or call) in flight at a time: a later render lands last
    most_compact: ClassVar[int] = MOST_COMPACT
    also: ClassVar[tuple[str, ...]] = ()  # other methods one send may call: a 429 on any of them holds it back too

    def method_of(self, row: OutboxRow, rec: Recording | None) -> str:
        return self.method

    def method_at_claim(self, tx: Tx, row: OutboxRow) -> str | None:
        """The method a send of this row calls, read again in the trip that claims it, when the store may have
        moved since the drain chose it by `method_of`; None when it cannot change."""
        return None

    def rank(self, payload: dict[str, Any]) -> int:
        """How urgent a row of this kind is, from what it says (stored with the row)."""
        return NEWS

    def priority(self, row: OutboxRow, rec: Recording | None) -> int:
        """How urgent it is now, its recording known."""
        return self.rank(row.payload)

    def render(self, tx: Tx, sender: Sender, row: OutboxRow) -> Any:
        """What `send` needs of the store, read on the store's thread."""
        return None

    @abstractmethod
    async def send(self, sender: Sender, client: AsyncWebClient | None, row: OutboxRow,
                   rendered: Any) -> str | None:
        """Send the row; the ts of the message it posted, if it posted one."""


KINDS: dict[Outgoing, Kind] = {}


def kind(cls: type[Kind]) -> type[Kind]:
    KINDS[cls.kind] = cls()
    return cls


def of(row: OutboxRow) -> Kind:
    return KINDS[Outgoing(row.kind)]


def rank(kind: str, payload: dict[str, Any]) -> int:
    return KINDS[Outgoing(kind)].rank(payload)
