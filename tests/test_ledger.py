"""The segment ledger's arithmetic, no mocks."""

from bot.ledger import clock_text, summarize
from bot.models import LedgerEntry
from bot.models import Status as S


def e(status, at, actor=None, source="command", reason=None):
    return LedgerEntry(status, at, actor, source, reason)


def test_two_pauses():
    entries = [e(S.INVOKED, 0), e(S.RECORDING, 2, source="platform"), e(S.PAUSED, 12, "U1", reason="for 10m"),
               e(S.RECORDING, 20, "U2"), e(S.PAUSED, 25, source="meeting"), e(S.RECORDING, 40), e(S.UPLOADING, 50),
               e(S.UPLOADED, 55)]
    summary = summarize(entries, now=100)
    assert (summary.recorded, summary.paused, summary.pauses) == (25, 23, 2)
    kinds = [(i.kind, i.start, i.end, i.actor) for i in summary.intervals]
    assert kinds == [("recorded", 2, 12, None), ("paused", 12, 20, "U1"), ("recorded", 20, 25, "U2"),
                     ("paused", 25, 40, None), ("recorded", 40, 50, None)]
    assert summary.intervals[1].reason == "for 10m"
    assert not any(i.open for i in summary.intervals)


def test_running_recording_counts_until_now():
    summary = summarize([e(S.INVOKED, 0), e(S.RECORDING, 1), e(S.PAUSED, 4)], now=10)
    assert (summary.recorded, summary.paused) == (3, 6)
    assert summary.intervals[-1].open


def test_duplicate_and_skipped_entries():
    summary = summarize([e(S.RECORDING, 0), e(S.RECORDING, 5), e(S.UPLOADED, 9)], now=20)
    assert summary.recorded == 9 and summary.pauses == 0


def test_nothing_recorded():
    assert summarize([e(S.INVOKED, 0), e(S.ERRORED, 3)], now=9).recorded == 0


def test_clock_text():
    assert [clock_text(x) for x in (0, 59.6, 61, 3599, 3600, 3723)] == ["0:00", "1:00", "1:01", "59:59",
                                                                        "1:00:00", "1:02:03"]
