"""The segment ledger's arithmetic, no mocks."""

import pytest

from bot.ledger import LedgerEntry, PauseFor, Rebuilt, clock_text, ledger_reason, stored_reason, summarize
from bot.models import Status as S
from bot.models import StopReason


def e(status, at, actor=None, source="command", reason=None):
    return LedgerEntry(status, at, actor, source, reason)


def test_two_pauses():
    entries = [e(S.INVOKED, 0), e(S.RECORDING, 2, source="platform"), e(S.PAUSED, 12, "U1", reason=PauseFor(600)),
               e(S.RECORDING, 20, "U2"), e(S.PAUSED, 25, source="meeting"), e(S.RECORDING, 40), e(S.UPLOADING, 50),
               e(S.UPLOADED, 55)]
    summary = summarize(entries, now=100)
    assert (summary.recorded, summary.paused, summary.pauses) == (25, 23, 2)
    kinds = [(i.kind, i.start, i.end, i.actor) for i in summary.intervals]
    assert kinds == [("recorded", 2, 12, None), ("paused", 12, 20, "U1"), ("recorded", 20, 25, "U2"),
                     ("paused", 25, 40, None), ("recorded", 40, 50, None)]
    assert summary.intervals[1].reason == PauseFor(600)
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


@pytest.mark.parametrize(("reason", "stored"), [
    (PauseFor(600), "for 10m"), (PauseFor(5400), "for 1h30m"), (PauseFor(86399), "for 23h59m59s"),
    (PauseFor(45), "for 45s"), (Rebuilt.RECONSTRUCTED, "reconstructed"),
    (StopReason.ENDED_WHILE_PAUSED, "the meeting ended while paused"), (None, None)])
def test_a_steps_reason_is_stored_as_the_text_every_version_wrote_and_read_back_as_meaning(reason, stored):
    assert stored_reason(reason) == stored
    assert ledger_reason(stored) == reason


def test_stored_text_that_no_version_wrote_is_no_reason():
    assert ledger_reason("for a while") is None and ledger_reason("<!channel>") is None
