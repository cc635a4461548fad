"""The one rule every path that could show the platform's summary follows (pure): held when a pause overlapped
the session, recbot did not see a recording run, or an outcome was unknown when it was cut; unless every channel
concerned posts such a summary. A release is per channel."""

from bot.ledger import LedgerEntry, summarize
from bot.models import Origin, Status
from bot.service.session_files import off_the_record, released, summary_held
from bot.service.settings import AfterPause
from tests.slack.test_blocks import rec

HOLD, POST, NEVER = AfterPause.HOLD, AfterPause.POST, AfterPause.NEVER


def ledger(*steps: tuple[Status, float], now: float = 100.0):
    return summarize([LedgerEntry(status=s, at=at, actor=None, source="test", reason=None) for s, at in steps], now)


RECORDED = ledger((Status.RECORDING, 10.0), (Status.UPLOADING, 50.0))
PAUSED = ledger((Status.RECORDING, 10.0), (Status.PAUSED, 20.0), (Status.UPLOADING, 50.0))
PAUSED_AND_RESUMED = ledger((Status.RECORDING, 10.0), (Status.PAUSED, 20.0), (Status.RECORDING, 30.0),
                            (Status.UPLOADING, 50.0))


def test_a_session_nobody_paused_shows_its_summary_whatever_the_channels_say():
    for policies in ([HOLD], [NEVER], [POST, HOLD]):
        assert not summary_held([(rec(), RECORDED), (rec(id="r2", channel_id="C2"), RECORDED)], None, policies)


def test_a_pause_in_any_recording_of_the_session_holds_it_unless_every_channel_posts():
    one_paused = [(rec(), RECORDED), (rec(id="r2", channel_id="C2"), PAUSED_AND_RESUMED)]
    assert off_the_record(one_paused) and off_the_record([(rec(), PAUSED)])
    assert summary_held(one_paused, None, [HOLD])
    assert summary_held(one_paused, None, [POST, HOLD])  # one channel's `post` never undoes another's hold
    assert summary_held(one_paused, None, [POST, NEVER])
    assert not summary_held(one_paused, None, [POST])
    assert not summary_held(one_paused, None, [POST, POST])


def test_an_unseen_recording_or_an_outcome_unknown_when_cut_holds_it_as_a_pause_does():
    unseen = [(rec(origin=Origin.UNSEEN), ledger())]
    assert off_the_record(unseen) and summary_held(unseen, None, [HOLD])
    assert summary_held([(rec(), RECORDED)], 42.0, [HOLD]) and not summary_held([(rec(), RECORDED)], 42.0, [POST])


def test_a_release_is_kept_per_channel():
    assert released("C1") != released("C2") and released("C1") == released("C1")
