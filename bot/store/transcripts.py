"""The lines of recorded transcripts that recbot keeps for `/rec find`: only lines said while something
recorded (the service cuts them by the ledger before they get here), each with its recording and its
place in that recording's file, for a stated time.

The index is each engine's own full-text search. On SQLite it is FTS5 through sqlite-utils (`enable_fts`
with the Porter stemmer, triggers keeping it in step with the table; `search` ranks by bm25), the line's
workspace and channel indexed with it as one token (`scope`) so that a search is one FTS5 query; on
PostgreSQL a generated `tsvector` column (the `english` configuration, which stems) with a GIN index,
ranked by `ts_rank`, and a B-tree on the scope. On SQLite a phrase, or a search matching more than
RANKED_AT_MOST lines of its channel, lists the newest first (ranking those is what made a search slow).
Both take the same words: `"a phrase"` in quotes, and several words all of which must be in a line.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bot.store.engine import Database, Engine

FIND_LIMIT = 10
RANKED_AT_MOST = 500  # matches in one channel ranked by relevance; past that, newest first (SQLite)
WORDS_LIMIT = 12  # terms of one search
_TERMS = re.compile(r'"([^"]*)"|(\S+)')


@dataclass(frozen=True)
class TranscriptLine:
    recording_id: str
    at: float  # epoch seconds it was said
    offset: float  # its place in the recording's file, seconds
    speaker: str
    text: str


@dataclass(frozen=True)
class Hit:
    recording_id: str
    offset: float
    speaker: str
    text: str
    at: float


def scope(team_id: str | None, channel_id: str) -> str:
    """One token naming a workspace's channel, for the full-text index: Slack's ids are letters and digits."""
    return re.sub(r"[^0-9a-z]", "", f"{team_id or 'none'}{channel_id}".lower())


def terms(words: str) -> list[tuple[str, bool]]:
    """(term, is a phrase) from what a person typed: quoted phrases and single words, punctuation dropped."""
    out: list[tuple[str, bool]] = []
    for phrase, word in _TERMS.findall(words):
        text = " ".join(re.findall(r"\w+", phrase or word))
        if text:
            out.append((text, bool(phrase) and " " in text))
    return out[:WORDS_LIMIT]


def fts5_query(found: list[tuple[str, bool]]) -> str:
    """FTS5's query syntax: each term a quoted string (a phrase when it has several words), all of them
    required. Quoting keeps FTS5's operators (AND, NEAR, column filters, `*`) out of a person's words."""
    return " ".join('"' + text.replace('"', "") + '"' for text, _ in found)


def tsquery_text(found: list[tuple[str, bool]]) -> str:
    """`websearch_to_tsquery`'s input for the same terms: phrases quoted, words as they are."""
    return " ".join(f'"{text}"' if phrase else text for text, phrase in found)


class TranscriptLines:
    def __init__(self, db: Engine, clock: Callable[[], float] = time.time):
        self.db, self.clock = db, clock
        self._fts: Any = None  # sqlite-utils' view of the table, made on first use (SQLite only)

    def keep(self, team_id: str | None, channel_id: str, session_id: str, lines: Iterable[TranscriptLine]) -> int:
        rows, now, where = list(lines), self.clock(), scope(team_id, channel_id)
        for start in range(0, len(rows), 100):  # a hundred rows a statement: an hour's transcript in six
            chunk = rows[start:start + 100]
            values: list[object] = []
            for line in chunk:
                values += [team_id, channel_id, where, line.recording_id, session_id, line.at, line.offset,
                           line.speaker, line.text, now]
            self.db.execute("INSERT INTO transcript_lines (team_id, channel_id, scope, recording_id, session_id, at, "
                            "file_offset, speaker, text, kept_at) VALUES "
                            + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk)), values)
        return len(rows)

    def find(self, team_id: str | None, channel_id: str, words: str, limit: int = FIND_LIMIT) -> list[Hit]:
        """The best lines of this channel's transcripts (in this workspace) for `words`, best first."""
        found = terms(words)
        if not found:
            return []
        where = scope(team_id, channel_id)
        if self.db.dialect == "postgres":
            rows = self.db.all(
                "SELECT recording_id, file_offset, speaker, text, at, team_id, channel_id FROM transcript_lines, "
                "websearch_to_tsquery('english', ?) q WHERE scope = ? AND words @@ q "
                "ORDER BY ts_rank(words, q) DESC, at DESC LIMIT ?", tsquery_text(found), where, limit)
        else:
            if self._fts is None:
                assert isinstance(self.db, Database)
                self._fts = _utils(self.db).table("transcript_lines")
            # The channel is a term of the query itself, so FTS5 intersects its postings with the words'
            # (and ranks only those) instead of ranking every line in every channel that has the words.
            query = f'scope : "{where}" AND ' + fts5_query(found)
            # Ranking by bm25 reads each match's positions: for a word as frequent as "the" (thousands of lines
            # in one channel) that alone took hundreds of ms, and for a phrase of frequent words over a second
            # with a dozen matches (bench/find.py). So a phrase, and a search past RANKED_AT_MOST matches, list
            # the newest first: finding them takes a few ms. A phrase is exact: every hit is as good a match.
            newest = any(phrase for _, phrase in found) or self.db.scalar(
                "SELECT COUNT(*) FROM transcript_lines_fts WHERE transcript_lines_fts MATCH ?", query) > RANKED_AT_MOST
            rows = list(self._fts.search(query, limit=limit, order_by="original.rowid DESC" if newest else None,
                                         columns=["recording_id", "file_offset", "speaker", "text", "at", "team_id",
                                                  "channel_id"]))
        return [Hit(r["recording_id"], r["file_offset"], r["speaker"], r["text"], r["at"]) for r in rows
                if r["channel_id"] == channel_id and r["team_id"] == team_id]  # the scope said so; said twice

    def count(self) -> int:
        return int(self.db.scalar("SELECT COUNT(*) FROM transcript_lines") or 0)

    def purge(self, before: float, batch: int = 5000) -> int:
        """Delete the lines kept before `before` (the retention timer), a batch at a time."""
        return self.db.changed("DELETE FROM transcript_lines WHERE id IN (SELECT id FROM transcript_lines "
                               "WHERE kept_at < ? ORDER BY kept_at LIMIT ?)", before, batch)


def ensure_fts(db: Database) -> None:
    """SQLite: the FTS5 index of transcript lines and its triggers, made once through sqlite-utils (outside a
    transaction: sqlite-utils runs scripts, which commit). Rebuilt when a crash left it without its triggers."""
    table = _utils(db).table("transcript_lines")
    triggers = {t.name for t in table.triggers}
    if table.detect_fts() and {"transcript_lines_ai", "transcript_lines_ad", "transcript_lines_au"} <= triggers:
        return
    table.enable_fts(["speaker", "text", "scope"], create_triggers=True, tokenize="porter", replace=True)


def _utils(db: Database) -> Any:
    import sqlite_utils  # SQLite only: a PostgreSQL deployment never loads it

    return sqlite_utils.Database(db.conn, recursive_triggers=False)
