"""The recorded lines `/rec find` searches, on both engines: phrases, several words, stemming, isolation by
channel and workspace, words that are no query syntax, and retention."""

import pytest

from bot.store import Store
from bot.store.transcripts import TranscriptLine
from tests.conftest import database


@pytest.fixture
def store(tmp_path, engine):
    now = [1000.0]
    s = Store(database(tmp_path, "t.sqlite3"), clock=lambda: now[0])
    s.now = now
    yield s
    s.close()


def line(rec: str, text: str, speaker: str = "Ann", offset: float = 0.0) -> TranscriptLine:
    return TranscriptLine(rec, 1.7e9 + offset, offset, speaker, text)


def test_find_takes_phrases_several_words_and_stems(store):
    store.transcripts.keep("T1", "C1", "s1", [line("r1", "We decided the pricing yesterday", offset=61),
                                             line("r1", "the list is ready for review", "Ben", 75),
                                             line("r1", "ready or not, the list waits", "Cleo", 90)])
    assert [h.offset for h in store.transcripts.find("T1", "C1", "decide prices")] == [61]
    assert [h.speaker for h in store.transcripts.find("T1", "C1", '"list is ready"')] == ["Ben"]
    assert len(store.transcripts.find("T1", "C1", "ready list")) == 2  # two words, any order
    assert store.transcripts.find("T1", "C1", "Cleo waits")[0].text == "ready or not, the list waits"  # speakers too
    for hostile in ('NEAR(a b) OR *', 'text: "x', "scope : c1", "' OR 1=1 --", "(((", "-ready"):
        store.transcripts.find("T1", "C1", hostile)  # no query syntax reaches the engine: no error


def test_a_channel_never_sees_another_channels_or_workspaces_lines(store):
    store.transcripts.keep("T1", "C1", "s1", [line("r1", "budget approved")])
    store.transcripts.keep("T1", "C2", "s2", [line("r2", "budget frozen")])
    store.transcripts.keep("T2", "C1", "s3", [line("r3", "budget doubled")])  # a shared channel's other side
    store.transcripts.keep(None, "C1", "s4", [line("r4", "budget unknown")])  # a single-workspace install
    assert [h.text for h in store.transcripts.find("T1", "C1", "budget")] == ["budget approved"]
    assert [h.text for h in store.transcripts.find("T2", "C1", "budget")] == ["budget doubled"]
    assert [h.text for h in store.transcripts.find(None, "C1", "budget")] == ["budget unknown"]


def test_lines_past_their_time_are_deleted(store):
    store.transcripts.keep("T1", "C1", "s1", [line("r1", f"old line {n}") for n in range(250)])
    store.now[0] = 2000.0
    store.transcripts.keep("T1", "C1", "s2", [line("r2", "new line")])
    assert store.transcripts.purge(before=1500.0, batch=100) == 100
    while store.transcripts.purge(before=1500.0, batch=100):
        pass
    assert store.transcripts.count() == 1 and [h.text for h in store.transcripts.find("T1", "C1", "line")] == [
        "new line"]


def test_past_so_many_matches_the_newest_come_first_on_sqlite(store, monkeypatch):
    from bot.store import transcripts

    store.transcripts.keep("T1", "C1", "s1", [line("r1", f"budget item {n}", offset=n) for n in range(5)])
    monkeypatch.setattr(transcripts, "RANKED_AT_MOST", 3)
    hits = store.transcripts.find("T1", "C1", "budget", limit=2)
    assert len(hits) == 2
    if store.db.dialect == "sqlite":  # bm25 would rank five like lines alike; past the cap, newest first
        assert [h.text for h in hits] == ["budget item 4", "budget item 3"]
