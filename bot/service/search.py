"""`/rec find`: the best recorded lines of a channel's transcripts, from the lines kept when a transcript came
(never those said off the record), and the retention timer that forgets them after REC_TRANSCRIPT_DAYS.
On the loop; `_find` is below the store boundary (a function over a `Tx`, `store.read`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.config import Guardrails
from bot.models import Actor, Link, Recording
from bot.service.decisions import Audited
from bot.service.outcomes import Reply, Say
from bot.store import Tx

log = logging.getLogger("bot.service.after")  # after the meeting's one logger, whichever room writes


@dataclass(frozen=True)
class FoundLine:
    """One hit of `/rec find`: the line, who said it, and where it is in which recording's file."""

    rec: Recording
    offset: float
    speaker: str
    text: str


class Search(Audited):
    """A part of `AfterMeeting`, over the state its `__init__` sets."""

    guardrails: Guardrails
    clock: Callable[[], float]

    async def find(self, actor: Actor, link: Link, words: str) -> Reply:
        """`/rec find`: the best recorded lines of this channel's transcripts (this workspace's only), to the
        person who asked. Withheld lines were never kept, so they cannot be found."""
        days = self.guardrails.transcript_days
        hits = await self.store.read(self._find, link, words) if days > 0 else []
        await self._audit(actor, "find", "ok", detail=f"{len(hits)} hit(s)")
        return Reply.one(Say.FIND, words=words, hits=hits, kept_days=int(days))

    def _find(self, tx: Tx, link: Link, words: str) -> list[FoundLine]:
        found = []
        for hit in tx.transcripts.find(link.team_id, link.channel_id, words):
            rec = tx.recording(hit.recording_id)
            if rec is not None and rec.channel_id == link.channel_id:
                found.append(FoundLine(rec, hit.offset, hit.speaker, hit.text))
        return found

    async def forget_old_transcripts(self) -> int:
        """The retention timer: transcript lines kept longer than REC_TRANSCRIPT_DAYS are deleted."""
        before = self.clock() - self.guardrails.transcript_days * 86400.0
        total = 0
        while (n := await self.store.write(lambda tx: tx.transcripts.purge(before))) > 0:
            total += n
        if total:
            log.info("deleted %d transcript line(s) kept longer than %d day(s)", total,
                     int(self.guardrails.transcript_days))
        return total
