"""The schema, as numbered migrations that run at start; a database is never left between two."""

from __future__ import annotations

from bot.store.dialects import ddl
from bot.store.engine import Database, Engine
from bot.store.transcripts import ensure_fts

_TRANSCRIPT_LINES = """
    CREATE TABLE transcript_lines (
        id INTEGER PRIMARY KEY, team_id TEXT, channel_id TEXT NOT NULL, scope TEXT NOT NULL, recording_id TEXT NOT NULL,
        session_id TEXT NOT NULL, at REAL NOT NULL, file_offset REAL NOT NULL, speaker TEXT NOT NULL,
        text TEXT NOT NULL, kept_at REAL NOT NULL
    );
    CREATE INDEX transcript_lines_kept ON transcript_lines(kept_at);
    CREATE INDEX transcript_lines_recording ON transcript_lines(recording_id)
"""

MIGRATIONS: list[str | dict[str, str]] = [
    # 1: the first schema
    """
    CREATE TABLE links (
        channel_id TEXT PRIMARY KEY, team_id TEXT, meeting_id TEXT NOT NULL, meeting_title TEXT NOT NULL DEFAULT '',
        linked_by TEXT NOT NULL, linked_at REAL NOT NULL, broken_reason TEXT
    );
    CREATE INDEX links_meeting ON links(meeting_id);
    CREATE INDEX links_linker ON links(linked_by);
    CREATE TABLE members (
        channel_id TEXT NOT NULL, user_id TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ('allow', 'deny')),
        set_by TEXT NOT NULL, set_at REAL NOT NULL, PRIMARY KEY (channel_id, user_id)
    );
    CREATE TABLE recordings (
        id TEXT PRIMARY KEY, meeting_id TEXT NOT NULL, channel_id TEXT NOT NULL, handle INTEGER NOT NULL,
        status TEXT NOT NULL, meeting_title TEXT NOT NULL DEFAULT '', started_by TEXT, origin TEXT NOT NULL,
        last_actor TEXT, last_action TEXT, card_ts TEXT, multi INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL, updated_at REAL NOT NULL, last_news_at REAL NOT NULL,
        download_url TEXT, audio_url TEXT, url_expiry REAL, file_size REAL, duration REAL,
        stop_reason TEXT, error_reason TEXT, pause_until REAL, session_id TEXT,
        UNIQUE (meeting_id, handle)
    );
    CREATE INDEX recordings_channel ON recordings(channel_id, created_at);
    CREATE INDEX recordings_active ON recordings(status, last_news_at);
    CREATE TABLE ledger (
        id INTEGER PRIMARY KEY, recording_id TEXT NOT NULL, status TEXT NOT NULL, at REAL NOT NULL,
        actor TEXT, source TEXT NOT NULL, reason TEXT
    );
    CREATE INDEX ledger_recording ON ledger(recording_id, id);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY, at REAL NOT NULL, channel_id TEXT, user_id TEXT, action TEXT NOT NULL,
        target TEXT, outcome TEXT NOT NULL, detail TEXT
    );
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY, delivery_id TEXT, body_hash TEXT NOT NULL, flavour TEXT NOT NULL,
        webhook_id TEXT, received_at REAL NOT NULL, body BLOB NOT NULL, processed_at REAL, outcome TEXT,
        same_body_as INTEGER
    );
    CREATE UNIQUE INDEX deliveries_uuid ON deliveries(delivery_id) WHERE delivery_id IS NOT NULL;
    CREATE INDEX deliveries_hash ON deliveries(body_hash);
    CREATE INDEX deliveries_pending ON deliveries(processed_at) WHERE processed_at IS NULL;
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, channel_id TEXT, recording_id TEXT, payload TEXT NOT NULL,
        coalesce_key TEXT, state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL, created_at REAL NOT NULL, sent_at REAL, ts TEXT, error TEXT
    );
    CREATE INDEX outbox_due ON outbox(state, next_at) WHERE state IN ('pending', 'sending');
    CREATE UNIQUE INDEX outbox_coalesce ON outbox(coalesce_key) WHERE state = 'pending';
    CREATE TABLE timers (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, recording_id TEXT NOT NULL, due_at REAL NOT NULL,
        payload TEXT NOT NULL DEFAULT '{}', done INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX timers_one ON timers(kind, recording_id) WHERE done = 0;
    CREATE INDEX timers_due ON timers(done, due_at);
    """,
    # 2: after the meeting: marks, who was there, the session's transcript and summary; channel settings
    """
    CREATE TABLE marks (
        id INTEGER PRIMARY KEY, recording_id TEXT NOT NULL, at REAL NOT NULL, user_id TEXT,
        text TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX marks_recording ON marks(recording_id, at);
    CREATE TABLE attendance (
        session_id TEXT NOT NULL, participant_id TEXT NOT NULL, meeting_id TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '', joined_at REAL, left_at REAL, PRIMARY KEY (session_id, participant_id)
    );
    CREATE TABLE session_files (
        session_id TEXT NOT NULL, kind TEXT NOT NULL, meeting_id TEXT NOT NULL, url TEXT NOT NULL, expiry REAL,
        posted_at REAL NOT NULL, PRIMARY KEY (session_id, kind)
    );
    CREATE TABLE channel_settings (
        channel_id TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL, set_by TEXT NOT NULL,
        set_at REAL NOT NULL, PRIMARY KEY (channel_id, name)
    );
    """,
    # 3: many workspaces: installations (sealed), OAuth states, each workspace's own platform account;
    # which workspace and account every link, recording, delivery and outbox row belongs to
    """
    CREATE TABLE installations (
        key TEXT PRIMARY KEY, enterprise_id TEXT, team_id TEXT, is_enterprise_install INTEGER NOT NULL DEFAULT 0,
        installed_at REAL NOT NULL, sealed TEXT NOT NULL
    );
    CREATE TABLE oauth_states (state TEXT PRIMARY KEY, expire_at REAL NOT NULL);
    CREATE TABLE accounts (
        route TEXT PRIMARY KEY, team_id TEXT NOT NULL UNIQUE, flavour TEXT NOT NULL, sealed TEXT NOT NULL,
        webhook_id TEXT, connected_by TEXT NOT NULL, connected_at REAL NOT NULL
    );
    ALTER TABLE links ADD COLUMN enterprise_id TEXT;
    ALTER TABLE links ADD COLUMN account TEXT NOT NULL DEFAULT '';
    ALTER TABLE recordings ADD COLUMN team_id TEXT;
    ALTER TABLE recordings ADD COLUMN enterprise_id TEXT;
    ALTER TABLE recordings ADD COLUMN account TEXT NOT NULL DEFAULT '';
    ALTER TABLE outbox ADD COLUMN team_id TEXT;
    ALTER TABLE outbox ADD COLUMN enterprise_id TEXT;
    ALTER TABLE deliveries ADD COLUMN account TEXT NOT NULL DEFAULT '';
    CREATE INDEX links_team ON links(team_id);
    CREATE INDEX recordings_team ON recordings(team_id)
    """,
    # 4: more than one process: an outbox row being sent is leased by the process sending it; the background
    # jobs (deliveries, timers, the reconciler) and each recording's actions are leased by one process at a time
    """
    ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
    ALTER TABLE outbox ADD COLUMN lease_until REAL;
    CREATE TABLE leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until REAL NOT NULL)
    """,
    # 5: when what the recording's state rests on was seen, so that a report of RECORDING or PAUSED asked for
    # before that (a GET that raced an action, a webhook or another process) is known as outdated
    """
    ALTER TABLE recordings ADD COLUMN seen_at REAL NOT NULL DEFAULT 0
    """,
    # 6: the platform's rate budget, one for all processes: calls counted per account, bucket and time slot,
    # and a 429's block
    """
    CREATE TABLE rate_use (
        account TEXT NOT NULL, bucket TEXT NOT NULL, slot INTEGER NOT NULL, used INTEGER NOT NULL,
        PRIMARY KEY (account, bucket, slot)
    );
    CREATE TABLE rate_blocks (account TEXT PRIMARY KEY, until REAL NOT NULL)
    """,
    # 7: "is an earlier row of this recording being sent?" is asked for every row a drain looks at and every
    # claim: without an index it read every row ever sent (the apply bench: a third of the store's time)
    """
    CREATE INDEX outbox_in_flight ON outbox(recording_id, id) WHERE state = 'sending'
    """,
    # 8: a 2xx waits for nothing but an append: the indexes that find a redelivery cover only deliveries already
    # applied (a row enters when it is finished, on the worker's side). Two indexes on random keys, written
    # with every delivery stored, were most of the ingest process's time under wrk.
    """
    DROP INDEX deliveries_uuid;
    DROP INDEX deliveries_hash;
    CREATE INDEX deliveries_seen ON deliveries(body_hash, delivery_id) WHERE processed_at IS NOT NULL
    """,
    # 9: a meeting's live session as a Slack call (one per workspace, the channels it is posted in, what Slack was
    # last told of it); Workflow Builder steps, each acted on once however often Slack sends it
    """
    CREATE TABLE calls (
        team_key TEXT NOT NULL, session_id TEXT NOT NULL, meeting_id TEXT NOT NULL, team_id TEXT, enterprise_id TEXT,
        title TEXT NOT NULL, join_url TEXT NOT NULL, created_by TEXT NOT NULL, started_at REAL NOT NULL,
        ended_at REAL, call_id TEXT, shown TEXT NOT NULL DEFAULT '{}', refused TEXT,
        PRIMARY KEY (team_key, session_id)
    );
    CREATE INDEX calls_meeting ON calls(meeting_id, ended_at);
    CREATE TABLE call_channels (
        team_key TEXT NOT NULL, session_id TEXT NOT NULL, channel_id TEXT NOT NULL, posted INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (team_key, session_id, channel_id)
    );
    CREATE TABLE function_runs (
        execution_id TEXT PRIMARY KEY, callback_id TEXT NOT NULL, channel_id TEXT, team_id TEXT,
        received_at REAL NOT NULL
    )
    """,
    # 10: who each participant is (the platform's custom participant id), so that a person on two devices, or
    # joining again before leaving was heard, is one person in the meeting's Slack call
    """
    ALTER TABLE attendance ADD COLUMN person TEXT
    """,
    # 11: the recorded lines of transcripts, kept for `/rec find` for a stated time (never a line said off the
    # record). Each engine's own full-text index: on SQLite FTS5 through sqlite-utils (made after the
    # migrations, `transcripts.ensure_fts`), on PostgreSQL a stemmed tsvector with a GIN index
    {"sqlite": _TRANSCRIPT_LINES,
     "postgres": _TRANSCRIPT_LINES + """;
        ALTER TABLE transcript_lines ADD COLUMN words tsvector GENERATED ALWAYS AS
            (to_tsvector('english', speaker || ' ' || text)) STORED;
        CREATE INDEX transcript_lines_words ON transcript_lines USING GIN (words);
        CREATE INDEX transcript_lines_scope ON transcript_lines(scope)
     """},
    # 12: when an outbox row was last tried from 'pending': a post a crash caught mid-send is looked for in
    # Slack from then on (`oldest`), not in the whole channel, since Slack allows one history call a minute;
    # how urgent a row is, so that when Slack's budget is short a drain reads the most urgent first
    """
    ALTER TABLE outbox ADD COLUMN tried_at REAL;
    ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 0
    """,
    # 13: the card's last action is meaning, not a sentence: the verb (`LastAction`) and where it came from
    # (`last_source`, a `Source`); blocks.py words it. Old sentences become their verb, and those said from the
    # meeting keep that (the others were said "automatically", as a NULL source is)
    """
    ALTER TABLE recordings ADD COLUMN last_source TEXT;
    UPDATE recordings SET last_source = 'meeting' WHERE last_action LIKE '% from the meeting';
    UPDATE recordings SET last_action = 'paused' WHERE last_action LIKE 'paused %';
    UPDATE recordings SET last_action = 'resumed' WHERE last_action LIKE 'resumed %';
    UPDATE recordings SET last_action = 'stopped' WHERE last_action LIKE 'stopped %'
    """,
    # 14: the oldest stores said "recording…" when a recording began (their cards showed "Recording by …"; now
    # they show no last action, as a start does): every last action is a `LastAction`, or none
    """
    UPDATE recordings SET last_action = NULL WHERE last_action NOT IN ('started', 'paused', 'resumed', 'stopped')
    """,
    # 15: when Slack refused an install's refresh token as spent (`invalid_refresh_token`: a process died after
    # Slack answered a refresh and before the new pair was saved): the workspace must install recbot again, and
    # what waits to go there waits for that; a new install clears it
    """
    ALTER TABLE installations ADD COLUMN spent_at REAL
    """,
    # 16: "outcome unknown" is a column of its own: since when (the first unanswered action asked, or news sent to
    # confirmation), NULL when known. Before, last_news_at 0 said it and updated_at kept since when; such rows
    # keep their last_news_at 0 (no news since), which now means only that
    """
    ALTER TABLE recordings ADD COLUMN unknown_since REAL;
    UPDATE recordings SET unknown_since = updated_at WHERE last_news_at = 0
    """,
    # 17: who claimed a timer that acts on the platform (a lease's owner): a restart after a crash fires what its
    # dead predecessor had claimed at once, not when the claim runs out (`TIMER_CLAIM`, 2 minutes)
    """
    ALTER TABLE timers ADD COLUMN claimed_by TEXT
    """,
]


def migrate(db: Engine, to: int | None = None) -> int:
    """Bring the schema up to date (or up to version `to`: a test's older store), each migration in one
    transaction; returns the version. On PostgreSQL, processes starting together take turns (an advisory
    lock), so each migration runs once."""
    postgres = db.dialect == "postgres"
    if postgres:
        db.execute("SELECT pg_advisory_lock(727100)")  # recbot's migrations, one process at a time
    try:
        version = db.schema_version()
        for number, script in enumerate(MIGRATIONS[version:to], start=version + 1):
            if isinstance(script, dict):  # a migration that differs between the engines
                script = script[db.dialect]
            with db.transaction():
                for statement in filter(str.strip, script.split(";")):
                    db.execute(ddl(statement) if postgres else statement)
                db.set_schema_version(number)
        if isinstance(db, Database):  # SQLite
            ensure_fts(db)
    finally:
        if postgres:
            db.execute("SELECT pg_advisory_unlock(727100)")
    return len(MIGRATIONS[:to])
