"""The service's rules with plain calls: real SQLite, the emulator behind the client, a clock we move."""

import asyncio
import json
import time

import pytest

from bot.config import Guardrails
from bot.models import Actor, ErrorReason, Link, Origin, Source, Status, StopReason, Timer
from bot.platform.webhooks import MeetingEvent, MeetingKind, RecordingUpdate
from bot.service import Service
from bot.service.outcomes import Applied
from bot.service.transitions import TIME_LIMIT, Report, decide, decide_start, stop_reason
from bot.service.truth import Outdated
from bot.slack.grammar import parse
from bot.slack.replies import words
from bot.store import Store
from bot.store.leases import recording_lease
from tests.conftest import client_for, database, gone_owner, until


class Clock:
    """The wall clock, moved on by `advance` (the service orders what it learns by it, so it never stands still)."""

    def __init__(self):
        self.ahead = 0.0

    def __call__(self):
        return time.time() + self.ahead

    def advance(self, seconds):
        self.ahead += seconds

    @property
    def now(self):
        return self()

    @now.setter
    def now(self, at):
        self.ahead = at - time.time()


ALICE = Actor("U0ALICE", "C1", "T1")
BOB = Actor("U0BOB", "C1", "T1")


@pytest.fixture
async def world(tmp_path, emulator, engine):
    clock = Clock()
    path = database(tmp_path, "db.sqlite3")
    store = Store(path, clock=clock)
    platform = client_for(emulator, "dyte")
    service = Service(store, platform, guardrails=Guardrails(), clock=clock)
    meeting = emulator.platform.create_meeting(time.time(), "Sync")
    emulator.platform.join(time.time(), meeting.id, "Ann")
    assert (await service.commands.handle(ALICE, parse(f"link {meeting.id}"))).ok
    world = type("World", (), {"clock": clock, "store": store, "service": service, "emulator": emulator,
                               "meeting": meeting.id, "platform": platform, "path": path})
    yield world
    await platform.aclose()
    store.close()


async def recording(w):
    reply = await w.service.commands.handle(ALICE, parse("start"))
    assert reply.ok, words(reply)[0]
    (rec,) = w.store.recordings_of_meeting(w.meeting)
    await asyncio.sleep(0.05)
    await w.service.truth.refresh(rec.id)
    assert w.store.recording(rec.id).status is Status.RECORDING
    return rec


def notices(w, rec_id):
    rows = w.store.db.all("SELECT payload FROM outbox WHERE kind = 'thread' AND recording_id = ? ORDER BY id", rec_id)
    return [json.loads(r["payload"]) for r in rows]


def kinds(w, rec_id):
    return [n["notice"] for n in notices(w, rec_id)]


async def test_paused_too_long_reminds_and_repeats_until_resumed(world):
    w = world
    rec = await recording(w)
    await w.service.commands.handle(BOB, parse("pause"))
    w.clock.advance(599)
    assert await w.service.guards.run_due_timers() == 0
    w.clock.advance(1)
    assert await w.service.guards.run_due_timers() == 1
    reminder = notices(w, rec.id)[-1]
    assert reminder["notice"] == "pause_reminder" and reminder["paused_by"] == "U0BOB"
    w.clock.advance(1799)
    assert await w.service.guards.run_due_timers() == 0
    w.clock.advance(1)
    assert await w.service.guards.run_due_timers() == 1
    assert kinds(w, rec.id).count("pause_reminder") == 2
    reply = await w.service.actions.press(BOB, "snooze", rec.id)
    assert "remind you again in 30m" in words(reply)[0]
    await w.service.commands.handle(ALICE, parse("resume"))
    w.clock.advance(7200)
    assert await w.service.guards.run_due_timers() == 0
    assert kinds(w, rec.id).count("pause_reminder") == 2


async def test_timed_pause_gives_a_heads_up_then_resumes_by_itself(world):
    w = world
    rec = await recording(w)
    reply = await w.service.commands.handle(BOB, parse("pause for 10m"))
    assert words(reply)[0] == "#1 paused for 10m; it resumes by itself."
    w.clock.advance(569)
    await w.service.guards.run_due_timers()
    assert "heads_up" not in kinds(w, rec.id)
    w.clock.advance(1)
    await w.service.guards.run_due_timers()
    assert kinds(w, rec.id)[-1] == "heads_up"
    w.clock.advance(30)
    await w.service.guards.run_due_timers()
    assert w.store.recording(rec.id).status is Status.RECORDING
    assert w.emulator.platform.recordings[rec.id].status is Status.RECORDING
    resumed = notices(w, rec.id)[-1]
    assert resumed["notice"] == "resumed" and resumed["source"] == "timer"
    assert w.store.ledger(rec.id)[-1].source == "timer"


async def test_resuming_early_cancels_the_timed_resume(world):
    w = world
    rec = await recording(w)
    await w.service.commands.handle(BOB, parse("pause for 1m"))
    await w.service.commands.handle(ALICE, parse("resume"))
    await w.service.commands.handle(BOB, parse("pause"))
    w.clock.advance(61)
    await w.service.guards.run_due_timers()
    assert w.store.recording(rec.id).status is Status.PAUSED  # the old timer did not resume the new pause


async def test_the_24_hour_limit_is_announced_half_an_hour_ahead_across_pauses(world):
    w = world
    rec = await recording(w)
    started = w.store.ledger(rec.id)[1].at
    await w.service.commands.handle(BOB, parse("pause"))
    await w.service.commands.handle(ALICE, parse("resume"))  # the limit counts from the start, pauses included
    w.clock.now = started + 86400 - 1800 - 1
    await w.service.guards.run_due_timers()
    assert "time_limit_soon" not in kinds(w, rec.id)
    w.clock.now = started + 86400 - 1800
    await w.service.guards.run_due_timers()
    heads_up = notices(w, rec.id)[-1]
    assert heads_up["notice"] == "time_limit_soon" and heads_up["due"] == pytest.approx(started + 86400)


async def test_a_stopped_recording_hears_nothing_of_the_time_limit(world):
    w = world
    rec = await recording(w)
    await w.service.commands.handle(ALICE, parse("stop"))
    w.clock.advance(86400)
    assert await w.service.guards.run_due_timers() == 0
    assert "time_limit_soon" not in kinds(w, rec.id)


async def test_meeting_ended_while_paused_reminds_then_stops_after_the_grace(world):
    w = world
    rec = await recording(w)
    await w.service.commands.handle(BOB, parse("pause"))
    outcome = await w.service.news.apply_event(MeetingEvent(MeetingKind.ENDED, w.meeting, reason="HOST_ENDED_MEETING"))
    assert outcome is Applied.REMINDED
    guard = notices(w, rec.id)[-1]
    assert guard["notice"] == "ended_while_paused" and guard["paused_by"] == "U0BOB" and guard["grace"] == 900
    await w.service.news.apply_event(MeetingEvent(MeetingKind.ENDED, w.meeting))
    assert kinds(w, rec.id).count("ended_while_paused") == 1  # once, not per event
    w.clock.advance(899)
    await w.service.guards.run_due_timers()
    assert w.store.recording(rec.id).status is Status.PAUSED
    w.clock.advance(1)
    await w.service.guards.run_due_timers()
    assert w.store.recording(rec.id).status is Status.UPLOADING
    stopped = notices(w, rec.id)[-1]
    assert stopped["notice"] == "stopped" and stopped["reason"] == "the meeting ended while paused"


async def test_a_stop_of_what_was_left_paused_is_marked_asked_before_the_platform_is_asked(world):
    """A recording left paused when the meeting ended is stopped by a timer (`Guards._stop_left_paused`). Like
    every other action, its "asked" mark is stored before the platform is asked: a process killed between the
    call and its answer leaves the outcome unknown, so the next action and the reconciler ask the platform
    first. Before, the timer's stop asked unmarked, and such a kill left the outcome looking known."""
    w = world
    rec, marked = await stop_of_what_was_left_paused_killed_after_the_platform_stopped(w)
    assert marked == [True]  # marked before the platform was asked
    assert w.store.recording(rec.id).outcome_unknown  # the answer died with the process: still unknown
    assert (await w.service.truth.refresh(rec.id)).status in (Status.UPLOADING, Status.UPLOADED)  # learned


async def stop_of_what_was_left_paused_killed_after_the_platform_stopped(w):
    """A recording left paused when its meeting ended; its timer's stop, the process killed after the platform
    stopped it (the answer lost). Returns the recording and whether its outcome was unknown when asked."""
    rec = await recording(w)
    await w.service.commands.handle(BOB, parse("pause"))
    await w.service.news.apply_event(MeetingEvent(MeetingKind.ENDED, w.meeting))
    platform, marked = w.service.guards.platform, []
    stop = platform.stop_recording

    async def stop_recording(recording_id):
        marked.append(w.store.recording(recording_id).outcome_unknown)
        await stop(recording_id)
        raise asyncio.CancelledError  # the process is killed: the platform stopped it, the answer is lost

    platform.stop_recording = stop_recording
    w.clock.advance(900)
    with pytest.raises(asyncio.CancelledError):
        await w.service.guards.run_due_timers()
    platform.stop_recording = stop
    return rec, marked


async def test_a_stop_of_what_was_left_paused_whose_process_died_with_its_answer_is_fired_again_and_learns_it(world):
    """The timer's stop, its process killed after the platform stopped the recording: the timer was claimed,
    not finished, so it fires again once the claim runs out; it asks the platform first (the outcome is
    unknown), learns the stop and says nothing failed."""
    from bot.service.guards import TIMER_CLAIM

    w = world
    rec, _ = await stop_of_what_was_left_paused_killed_after_the_platform_stopped(w)
    assert w.store.recording(rec.id).status is Status.PAUSED  # as far as recbot knows
    w.clock.advance(TIMER_CLAIM)
    await w.service.guards.run_due_timers()
    assert w.store.recording(rec.id).status in (Status.UPLOADING, Status.UPLOADED)
    assert "auto_stop_failed" not in kinds(w, rec.id)
    assert w.store.timers.pending(Timer.ENDED_PAUSED, rec.id) is None


async def test_a_stop_of_what_was_left_paused_asks_nothing_while_its_mark_cannot_be_written(world):
    """A store that stays busy refuses the mark: the timer's stop asks the platform nothing, and is tried
    again a minute later."""
    from tests.store.faults import Faults

    w = world
    rec = await recording(w)
    await w.service.commands.handle(BOB, parse("pause"))
    await w.service.news.apply_event(MeetingEvent(MeetingKind.ENDED, w.meeting))
    faults = Faults(w.store)
    faults.fail_when, faults.fail_times = "unknown_since = COALESCE", 5  # action_asked: busy through MARK_RETRIES
    w.clock.advance(900)
    await w.service.guards.run_due_timers()
    assert w.emulator.platform.recordings[rec.id].status is Status.PAUSED  # the platform was not asked
    await until(lambda: w.store.timers.pending(Timer.ENDED_PAUSED, rec.id) is not None)
    w.clock.advance(60)
    await w.service.guards.run_due_timers()
    assert w.store.recording(rec.id).status in (Status.UPLOADING, Status.UPLOADED)


async def test_last_participant_leaving_counts_as_ended_but_not_while_someone_stays(world):
    w = world
    rec = await recording(w)
    await w.service.commands.handle(BOB, parse("pause"))
    session = w.emulator.platform.live_session(w.meeting)
    ben = w.emulator.platform.join(time.time(), w.meeting, "Ben")
    ann = next(p for p in session.participants if p != ben)
    w.emulator.platform.leave(time.time(), w.meeting, ann)
    assert await w.service.news.apply_event(MeetingEvent(MeetingKind.LEFT, w.meeting)) is Applied.PEOPLE_THERE
    w.emulator.platform.leave(time.time(), w.meeting, ben)
    assert await w.service.news.apply_event(MeetingEvent(MeetingKind.LEFT, w.meeting)) is Applied.REMINDED
    assert kinds(w, rec.id)[-1] == "ended_while_paused"


async def test_grace_zero_reminds_without_stopping(world):
    w = world
    w.service = Service(w.store, w.platform, guardrails=Guardrails(ended_paused_grace=0), clock=w.clock)
    rec = await recording(w)
    await w.service.commands.handle(BOB, parse("pause"))
    await w.service.news.apply_event(MeetingEvent(MeetingKind.ENDED, w.meeting))
    w.clock.advance(86400)
    await w.service.guards.run_due_timers()
    assert w.store.recording(rec.id).status is Status.PAUSED


async def test_timers_survive_a_restart(world):
    w = world
    rec = await recording(w)
    await w.service.commands.handle(BOB, parse("pause for 2m"))
    w.store.close()
    store = Store(w.path, clock=w.clock)
    fresh = Service(store, w.platform, guardrails=Guardrails(), clock=w.clock)
    w.clock.advance(121)
    await fresh.guards.run_due_timers()
    assert store.recording(rec.id).status is Status.RECORDING
    w.store = store


@pytest.mark.parametrize("killed", ["before the platform heard", "after the platform resumed"])
async def test_a_timed_resume_whose_process_is_killed_as_it_acts_is_fired_again_after_the_claim(world, killed):
    """A timer that acts on the platform (a timed resume, the stop of what was left paused, the look for a
    session's files) is claimed, not finished, before it acts, and finished once it acted: a process killed
    in between leaves it to fire again once its claim runs out. Before, it was finished first, and a kill
    there lost it: a "pause for 3s" stayed paused for four minutes, its card saying it resumes by itself
    (chaos run, two processes, seed 5). Fired again after a resume its answer died with, it learns the
    resume and says nothing failed."""
    from bot.service.guards import TIMER_CLAIM

    w = world
    rec = await recording(w)
    await w.service.commands.handle(BOB, parse("pause for 2m"))
    platform = w.service.actions.platform
    resume = platform.resume_recording

    async def resume_recording(recording_id):
        if killed == "after the platform resumed":
            await resume(recording_id)
        raise asyncio.CancelledError  # the process is killed

    platform.resume_recording = resume_recording
    w.clock.advance(121)
    with pytest.raises(asyncio.CancelledError):
        await w.service.guards.run_due_timers()
    platform.resume_recording = resume
    w.store.close()
    store = Store(w.path, clock=w.clock)
    w.store = store
    fresh = Service(store, w.platform, guardrails=Guardrails(), clock=w.clock)
    await fresh.guards.run_due_timers()
    assert store.recording(rec.id).status is Status.PAUSED  # the dead process's claim still holds it
    w.clock.advance(TIMER_CLAIM)
    await fresh.guards.run_due_timers()
    assert store.recording(rec.id).status is Status.RECORDING
    assert w.emulator.platform.recordings[rec.id].status is Status.RECORDING
    assert "auto_resume_failed" not in kinds(w, rec.id) and kinds(w, rec.id)[-1] == "resumed"
    assert store.timers.pending(Timer.RESUME, rec.id) is None
    w.clock.advance(TIMER_CLAIM)
    assert await fresh.guards.run_due_timers() == 0  # fired once


async def test_a_timed_resume_claimed_by_a_process_killed_as_it_acted_fires_at_once_when_it_starts_again(world):
    """The same kill, the claim's owner a process of this host that is gone: its restart takes back the claim at
    once (`Leases.free_the_dead`), rather than leaving the pause to run two minutes past its time (chaos run, two
    processes, seed 1, 19:25 on f3bd489: a "pause for 3s" resumed 204 s late)."""
    w = world
    rec = await recording(w)
    await w.service.commands.handle(BOB, parse("pause for 2m"))
    w.clock.advance(121)
    timer = w.store.timers.pending(Timer.RESUME, rec.id)
    assert timer is not None and w.store.timers.claim(timer.id, w.clock(), w.clock() + 120, gone_owner())
    await w.service.guards.run_due_timers()
    assert w.store.recording(rec.id).status is Status.PAUSED  # claimed by the process that died
    assert w.store.leases.free_the_dead() == 1  # its restart
    assert await w.service.guards.run_due_timers() == 1
    assert w.store.recording(rec.id).status is Status.RECORDING
    assert kinds(w, rec.id)[-1] == "resumed" and w.store.timers.pending(Timer.RESUME, rec.id) is None


async def test_out_of_order_and_duplicate_events_never_move_backwards(world):
    w = world
    rec = await recording(w)
    await w.service.commands.handle(ALICE, parse("stop"))
    for status in (Status.RECORDING, Status.PAUSED, Status.INVOKED, Status.UPLOADING):
        await w.service.news.apply_event(RecordingUpdate(rec.id, w.meeting, status))
    assert w.store.recording(rec.id).status is Status.UPLOADING
    statuses = [e.status for e in w.store.ledger(rec.id)]
    assert statuses == [Status.INVOKED, Status.RECORDING, Status.UPLOADING]


async def test_uploaded_without_uploading_closes_the_ledger_first(world):
    w = world
    rec = await recording(w)
    await w.service.news.apply_event(RecordingUpdate(rec.id, w.meeting, Status.UPLOADED, download_url="https://f/x.wav",
                                                stopped_at=w.clock.now, file_size=10))
    assert [e.status for e in w.store.ledger(rec.id)][-2:] == [Status.UPLOADING, Status.UPLOADED]
    assert kinds(w, rec.id)[-2:] == ["stopped", "uploaded"]
    assert w.store.recording(rec.id).download_url == "https://f/x.wav"


async def test_a_webhook_for_a_start_in_flight_waits(world):
    from bot.service import RetryLater

    w = world
    w.service.truth.starting[w.meeting] += 1
    with pytest.raises(RetryLater):
        await w.service.news.apply_event(RecordingUpdate("new-rec", w.meeting, Status.INVOKED))
    w.service.truth.starting[w.meeting] -= 1
    assert await w.service.news.apply_event(RecordingUpdate("new-rec", w.meeting, Status.INVOKED)) is Applied.ADOPTED


async def test_a_recording_first_heard_of_stopped_is_adopted_with_nothing_recorded_if_it_began_after_the_link(world):
    """A recording whose every webhook before its stop was lost (recbot down) is adopted from its UPLOADING (or
    UPLOADED) webhook, its file to follow in the channel: INVOKED when it began, then stopped, and no step
    between (whether it was paused cannot be known, so none of it counts as recorded; not the RECORDING step a
    skipped state otherwise implies). One that began before the link, or failed, is not the channel's."""
    w = world
    linked_at = w.store.link("C1").linked_at
    w.clock.advance(10)
    began, now = linked_at + 1, w.clock.now
    stopping = RecordingUpdate("seen-late", w.meeting, Status.UPLOADING, session_id="s1", started_at=began,
                               stopped_at=now - 1, stop_reason="ALL_PEERS_LEFT")
    assert await w.service.news.apply_event(stopping) is Applied.ADOPTED_STOPPED
    rec = w.store.recording("seen-late")
    assert (rec.status, rec.origin, rec.stop_reason) == (Status.UPLOADING, Origin.UNSEEN, StopReason.EVERYONE_LEFT)
    assert [(e.status, e.at) for e in w.store.ledger(rec.id)] == [(Status.INVOKED, began),
                                                                  (Status.UPLOADING, now - 1)]
    assert kinds(w, rec.id) == ["adopted_unseen", "stopped"]
    uploaded = RecordingUpdate("seen-late", w.meeting, Status.UPLOADED, session_id="s1", started_at=began,
                               download_url="https://f/late.wav")
    await w.service.news.apply_event(uploaded)
    assert w.store.recording(rec.id).download_url == "https://f/late.wav"
    assert w.store.summary(rec.id, w.clock.now).recorded == 0 and kinds(w, rec.id)[-1] == "uploaded"

    older = RecordingUpdate("before-link", w.meeting, Status.UPLOADED, started_at=linked_at - 1,
                            download_url="https://f/old.wav")
    assert await w.service.news.apply_event(older) is Applied.ALREADY_STOPPED
    undated = RecordingUpdate("undated", w.meeting, Status.UPLOADED, download_url="https://f/u.wav")
    assert await w.service.news.apply_event(undated) is Applied.ALREADY_STOPPED
    failed = RecordingUpdate("failed", w.meeting, Status.ERRORED, started_at=began)
    assert await w.service.news.apply_event(failed) is Applied.ALREADY_STOPPED
    assert all(w.store.recording(r) is None for r in ("before-link", "undated", "failed"))


async def test_a_recording_first_heard_of_live_counts_as_recorded_only_from_when_recbot_learned_of_it(world):
    """A recording recbot never knew of, first heard of as RECORDING (its start's webhooks lost, or spent while
    recbot was down; RealtimeKit sends no INVOKED at all): whether it was paused before cannot be known, so its
    ledger says RECORDING from when recbot learned it, not from its start; the platform's 24-hour limit still
    counts from its start. Before, it counted as recorded from its start, paused stretches recbot never heard
    of included."""
    w = world
    w.clock.advance(60)
    began, now = w.clock.now - 30, w.clock.now
    live = RecordingUpdate("late-live", w.meeting, Status.RECORDING, session_id="s2", started_at=began)
    assert await w.service.news.apply_event(live) is Applied.ADOPTED
    ledger = [(e.status, e.at) for e in w.store.ledger("late-live")]
    assert ledger[0] == (Status.INVOKED, began) and ledger[1][0] is Status.RECORDING and ledger[1][1] >= now
    limit = w.store.timers.pending(Timer.TIME_LIMIT, "late-live")
    assert limit is not None and limit.payload["due"] == began + 86400
    assert w.store.recording("late-live").origin is Origin.MEETING


async def test_reconcile_is_budgeted_and_oldest_first(world):
    w = world
    recs = []
    for _ in range(3):
        await w.service.commands.handle(ALICE, parse("start --multi"))
    recs = w.store.recordings_of_meeting(w.meeting)
    w.clock.advance(100)
    assert await w.service.guards.reconcile(2) == 2
    assert await w.service.guards.reconcile(2) == 1  # the third; the two fresh ones are not due
    assert await w.service.guards.reconcile(2) == 0
    assert all(w.store.recording(r.id).status is Status.RECORDING for r in recs)


async def test_the_reconciler_leaves_a_recording_alone_while_an_action_on_it_is_under_way(world):
    w = world
    rec = await recording(w)
    w.clock.advance(100)
    assert w.store.leases.hold(recording_lease(rec.id), "another-process", ttl=60)  # its action's answer is the news
    assert await w.service.guards.reconcile(5) == 0
    w.store.leases.release(recording_lease(rec.id), "another-process")
    assert await w.service.guards.reconcile(5) == 1


async def test_a_look_answered_before_another_processs_pause_reached_the_platform_leaves_its_asked_mark(world):
    """Chaos run, two processes, seed 2 (17:48 UTC on 467e635): a pause the platform made at 17:48:16.2, asked by a
    process killed at once, was dated 5.5 s later, and a word said in between was shown. The asker had marked it
    asked; a look made aside (the reconciler's, which reads the recordings acted on once and then asks of each in
    turn; or a confirmation round) was answered RECORDING before the pause reached the platform, found nothing
    moved and, being asked after the mark, cleared it. Such a look now leaves a recording whose action lease is
    held alone when it applies too, not only when it begins: the pause, learned later, is dated when it was asked."""
    w = world
    rec = await recording(w)
    assert w.store.leases.hold(recording_lease(rec.id), "another-process", ttl=60)  # its pause on its way
    await w.store.write(lambda tx: tx.action_asked(rec.id))
    asked = w.store.recording(rec.id).unknown_since
    w.clock.advance(1)
    await w.service.truth.refresh(rec.id, source=Source.RECONCILER, aside=True)  # answered: RECORDING
    assert w.store.recording(rec.id).outcome_unknown  # the look said nothing of the pause on its way
    w.emulator.platform.act(time.time(), rec.id, "pause")  # it lands; its process dies with the answer
    w.store.leases.release(recording_lease(rec.id), "another-process")  # (its lease runs out)
    w.clock.advance(5)
    assert await w.service.guards.reconcile(5) == 1
    ledger = w.store.ledger(rec.id)
    assert ledger[-1].status is Status.PAUSED and ledger[-1].at == asked


@pytest.mark.parametrize(("platform_says", "recorded_for", "source", "reason"), [
    ("ALL_PEERS_LEFT", 60, Source.PLATFORM, StopReason.EVERYONE_LEFT),
    ("KICK_ALL", 60, Source.PLATFORM, StopReason.ENDED_FOR_EVERYONE),
    ("MAX_SECONDS_REACHED", 60, Source.PLATFORM, StopReason.TIME_LIMIT),
    ("INTERNAL_ERROR", TIME_LIMIT, Source.PLATFORM, StopReason.TIME_LIMIT),  # 24 hours in: the limit, whatever it says
    ("INTERNAL_ERROR", 60, Source.PLATFORM, StopReason.PLATFORM_ERROR),
    (None, 60, Source.PLATFORM, StopReason.FROM_MEETING),
    ("SOMETHING_NEW", 60, Source.RECONCILER, StopReason.OUTSIDE_SLACK),
])
def test_why_a_recording_stopped_is_a_stop_reason(platform_says, recorded_for, source, reason):
    """The platform's codes and what recbot saw become a `StopReason` (meaning); blocks.py words it."""
    report = Report("r1", Status.UPLOADING, stop_reason=platform_says, stopped_at=1000.0 + recorded_for)
    assert stop_reason(report, 1000.0, source, now=2e9) is reason


@pytest.mark.parametrize(("source", "origin"), [
    (Source.COMMAND, Origin.SLACK), (Source.BUTTON, Origin.SLACK), (Source.HOME, Origin.SLACK),
    (Source.AUTO, Origin.AUTO), (Source.WORKFLOW, Origin.WORKFLOW)])
def test_a_start_from_slack_keeps_how_it_began(source, origin):
    link = Link("C1", "T1", "m1", "Sync", "U1", 1000.0, None)
    d = decide_start(Report("r1", Status.INVOKED), link, started_by="U1", multi=False, source=source, now=1000.0)
    assert d.new_recording is not None
    assert d.new_recording["origin"] is origin and d.new_recording["source"] is source


async def test_a_recording_the_platform_no_longer_knows_fails_with_that_reason(world):
    w = world
    rec = await recording(w)
    w.emulator.platform.recordings.pop(rec.id)  # the platform answers 404 for it from now on
    await w.service.truth.refresh(rec.id)
    failed = w.store.recording(rec.id)
    assert failed.status is Status.ERRORED and failed.error_reason == ErrorReason.GONE  # stored as its value


async def test_a_stale_copy_never_moves_a_recording_twice(world):
    """An action holding a copy from before a slow platform call, while the reconciler moved on."""
    w = world
    rec = await recording(w)
    stale = rec  # taken while it was INVOKED, before the platform call that followed
    assert stale.status is Status.INVOKED
    uploaded = RecordingUpdate(rec.id, w.meeting, Status.UPLOADED, download_url="https://f/x.wav",
                               started_at=w.clock.now - 10, stopped_at=w.clock.now)
    news = Report.of(uploaded)
    assert decide(stale, [], news, actor=None, source="reconciler", now=w.clock.now, guardrails=Guardrails()).moved
    assert await w.store.write(w.service.truth.apply, rec.id, news, actor=None, source="reconciler")
    entries, notices_before = len(w.store.ledger(rec.id)), len(notices(w, rec.id))
    # A decision made from the stale copy is refused whole by the store, and deciding again moves nothing.
    stale_decision = decide(stale, [], news, actor="U0ALICE", source="command", now=w.clock.now,
                            guardrails=Guardrails())
    assert not w.service.writer.write(w.store, stale_decision)
    assert not await w.store.write(w.service.truth.apply, rec.id, news, actor="U0ALICE", source="command")
    assert len(w.store.ledger(rec.id)) == entries and len(notices(w, rec.id)) == notices_before
    assert not w.store.transition(rec.id, Status.UPLOADED, Status.UPLOADED, at=0, actor=None, source="x")


async def test_a_transcript_whose_webhook_never_came_is_fetched_after_the_upload(world):
    w = world
    assert (await w.store.write(w.service.after.set_setting, ALICE, "transcribe", "on")).ok
    p = w.emulator.platform
    p.meetings[w.meeting].transcribe_on_end = True
    rec = await recording(w)
    await w.service.commands.handle(ALICE, parse("stop"))
    for pid in list(p.live_session(w.meeting).participants):
        p.leave(time.time(), w.meeting, pid)
    later = time.time() + 1000
    p.tick(later)  # the session ends, then the platform writes its transcript: no webhook is delivered
    p.tick(later + p.timing.notes_delay)
    await w.service.truth.refresh(rec.id)
    assert w.store.recording(rec.id).status is Status.UPLOADED
    assert w.store.timers.pending(Timer.SESSION_FILES, rec.id)
    w.clock.advance(599)
    await w.service.guards.run_due_timers()
    assert "transcript" not in kinds(w, rec.id)
    w.clock.advance(1)
    await w.service.guards.run_due_timers()
    transcript = notices(w, rec.id)[-1]
    assert transcript["notice"] == "transcript" and "transcript-" in transcript["url"]
    await w.service.after.check_files(w.store.recording(rec.id), ["transcript"], 0)  # and never twice
    assert kinds(w, rec.id).count("transcript") == 1


async def test_a_burst_for_one_recording_costs_one_question(world):
    w = world
    rec = await recording(w)
    p, confirmations = w.emulator.platform, w.service.confirmations
    before = confirmations.calls
    for n in range(20):  # 20 webhooks within the window; the last says RECORDING, the truth is PAUSED
        p.act(time.time(), rec.id, "pause" if n % 2 == 0 else "resume")
    p.act(time.time(), rec.id, "pause")
    for n in range(21):
        status = Status.PAUSED if n % 2 == 0 else Status.RECORDING
        await w.service.news.apply_event(RecordingUpdate(rec.id, w.meeting, status))
    await until(lambda: not confirmations.pending, message="the confirmation")
    assert confirmations.calls - before == 1
    assert w.store.recording(rec.id).status is Status.PAUSED


async def test_a_report_asked_for_before_the_last_change_was_seen_is_not_applied(world):
    w = world
    rec = await recording(w)
    asked = time.time()
    stale = Report(rec.id, Status.PAUSED, asked_at=asked)  # what a GET said just before someone paused and resumed
    assert (await w.service.commands.handle(BOB, parse("pause"))).ok
    assert (await w.service.commands.handle(ALICE, parse("resume"))).ok
    with pytest.raises(Outdated):
        await w.store.write(w.service.truth.apply, rec.id, stale, actor=None, source="meeting")
    assert w.store.recording(rec.id).status is Status.RECORDING
    assert kinds(w, rec.id).count("paused") == 1  # no pause the platform did not make
    w.emulator.platform.act(time.time(), rec.id, "pause")  # asked after the resume was seen: applied
    fresh = await w.service.truth.ask(rec.id)
    assert fresh.status is Status.PAUSED
    assert await w.store.write(w.service.truth.apply, rec.id, fresh, actor=None, source="meeting")
    assert kinds(w, rec.id).count("paused") == 2


async def test_a_webhook_never_flips_recording_and_paused_itself_even_when_read_before_a_change(world):
    """The news path decides on the state it reads when it applies, so a PAUSED webhook read while another
    process was writing a resume is asked about, not applied."""
    w = world
    rec = await recording(w)
    assert await w.service.news.apply_event(RecordingUpdate(rec.id, w.meeting, Status.PAUSED)) is Applied.CONFIRMING
    await until(lambda: not w.service.confirmations.pending, message="the confirmation")
    assert w.store.recording(rec.id).status is Status.RECORDING and "paused" not in kinds(w, rec.id)


async def test_a_confirmation_waits_while_an_action_is_taken_on_the_recording(world):
    w = world
    rec = await recording(w)
    confirmations, leases = w.service.confirmations, w.store.leases
    w.emulator.platform.act(time.time(), rec.id, "pause")
    assert leases.hold(recording_lease(rec.id), "another-process", ttl=60)  # its pause is on the way
    before = confirmations.calls
    await w.service.news.apply_event(RecordingUpdate(rec.id, w.meeting, Status.PAUSED))
    await asyncio.sleep(0.5)
    assert confirmations.calls == before and rec.id in confirmations.pending
    leases.release(recording_lease(rec.id), "another-process")
    await until(lambda: not confirmations.pending, message="the confirmation")
    assert w.store.recording(rec.id).status is Status.PAUSED


async def test_an_action_that_takes_longer_than_its_lease_keeps_it_until_done(world):
    """A pause against a slow platform outlasts one lease (3 × the platform timeout): it is renewed, so no
    other process acts on the recording meanwhile."""
    w = world
    rec = await recording(w)
    service = Service(w.store, w.platform, guardrails=Guardrails(platform_timeout=0.2), clock=w.clock)  # leases: 0.6 s
    w.store.leases.clock = time.time  # leases run out in real time here
    w.emulator.api_faults.latency = 2.0
    try:
        pausing = asyncio.create_task(service.actions.act_one(ALICE, rec.id, "pause", None))
        await asyncio.sleep(1.2)  # twice the lease
        assert w.store.leases.holder(recording_lease(rec.id)) == service.actions.owner
    finally:
        w.emulator.api_faults.latency = 0.0
    _, done = await pausing
    assert done and w.store.leases.holder(recording_lease(rec.id)) is None


async def test_an_action_the_platform_did_while_its_process_died_is_learned_before_the_next(world):
    w = world
    rec = await recording(w)
    w.emulator.api_faults.next_mode, w.emulator.api_faults.next_count = "hang", 1  # done, then no answer
    w.emulator.api_faults.hang_seconds = 1.0
    pausing = asyncio.create_task(w.service.actions.act_one(BOB, rec.id, "pause", None))
    await until(lambda: w.emulator.platform.recordings[rec.id].status is Status.PAUSED, message="paused")
    pausing.cancel()  # the process dies before the answer came
    await asyncio.gather(pausing, return_exceptions=True)
    assert w.store.recording(rec.id).status is Status.RECORDING and w.store.recording(rec.id).outcome_unknown
    restarted = Service(w.store, w.platform, guardrails=Guardrails(), clock=w.clock)
    assert (await restarted.actions.act_one(ALICE, rec.id, "stop", None))[1]
    statuses = [e.status for e in w.store.ledger(rec.id)]
    assert statuses[-2:] == [Status.PAUSED, Status.UPLOADING]  # the pause is in the ledger, before the stop


async def test_a_resume_whose_answer_never_came_is_confirmed_from_its_news_while_its_own_look_waits(world):
    """Chaos run, two processes on PostgreSQL, seed 2 ('lost 1', 0f1dc5b4 in C009): `/rec resume` asked the
    platform, which resumed at once and answered too late (REC_PLATFORM_TIMEOUT); the action then looked, and
    the look waited on a busy platform for longer than the oracle's 15 s, all the while holding the
    recording's lease. The resume's webhook went to its confirmation round, which leaves a recording an action
    holds to that action's answer, and so did the reconciler; everyone left meanwhile, the stop's news was
    written, and the resume was never in the ledger. An action whose own answer did not come lets go of the
    lease before it looks, so the round confirms the news meanwhile."""
    w = world
    rec = await recording(w)
    assert (await w.service.commands.handle(BOB, parse("pause"))).ok
    platform = client_for(w.emulator, "dyte", timeout=0.5)
    service = Service(w.store, platform, guardrails=Guardrails(platform_timeout=0.5), clock=w.clock)
    look = asyncio.Event()

    class LookWaits:  # the action's look waits on a busy platform (the round's and everyone else's do not)
        def __getattr__(self, name):
            return getattr(platform, name)

        async def get_recording(self, recording_id):
            await look.wait()
            return await platform.get_recording(recording_id)

    service.actions.platform = LookWaits()
    w.emulator.api_faults.next_mode, w.emulator.api_faults.next_count = "hang", 1  # done, the answer too late
    w.emulator.api_faults.hang_seconds = 2.0
    try:
        resuming = asyncio.create_task(service.actions.act_one(BOB, rec.id, "resume", None))
        await until(lambda: w.emulator.platform.recordings[rec.id].status is Status.RECORDING, message="resumed")
        news = RecordingUpdate(rec.id, w.meeting, Status.RECORDING)
        assert await service.news.apply_event(news) is Applied.CONFIRMING  # the resume's webhook: asked which
        await until(lambda: w.store.recording(rec.id).status is Status.RECORDING, timeout=10,
                    message="the resume confirmed while the action's own look waits")
        w.emulator.platform.end_meeting(time.time(), w.meeting)  # everyone leaves
        stopped = w.emulator.platform.recordings[rec.id]
        stop = RecordingUpdate(rec.id, w.meeting, Status.UPLOADING, stopped_at=stopped.stopped_at,
                               stop_reason="ALL_PEERS_LEFT")
        assert await service.news.apply_event(stop) is Applied.APPLIED
        look.set()
        await resuming
        statuses = [e.status for e in w.store.ledger(rec.id)]  # (the look found it uploaded since)
        assert statuses[:5] == [Status.INVOKED, Status.RECORDING, Status.PAUSED, Status.RECORDING, Status.UPLOADING]
    finally:
        look.set()
        await platform.aclose()


async def test_news_of_the_resume_before_an_unanswered_pause_leaves_the_pause_dated_when_asked(world):
    """Chaos run, seed 3, two processes on PostgreSQL (C004): a pause the platform made at once whose answer
    died with its process; the webhook of the state before it, applied after the pause was asked, cleared
    the "outcome unknown" mark, and the pause learned 6 s later was dated then: the ledger (which cuts the
    transcript) said RECORDING over a line said while nothing recorded."""
    w = world
    rec = await recording(w)
    w.emulator.api_faults.next_mode, w.emulator.api_faults.next_count = "hang", 1  # done, then no answer
    w.emulator.api_faults.hang_seconds = 1.0
    asked = w.clock.now
    pausing = asyncio.create_task(w.service.actions.act_one(BOB, rec.id, "pause", None))
    await until(lambda: w.emulator.platform.recordings[rec.id].status is Status.PAUSED, message="paused")
    pausing.cancel()  # the process dies before the answer came
    await asyncio.gather(pausing, return_exceptions=True)
    w.clock.advance(2)
    assert await w.service.news.apply_event(RecordingUpdate(rec.id, w.meeting, Status.RECORDING)) is Applied.NO_CHANGE
    assert w.store.recording(rec.id).outcome_unknown  # still unknown: that news predates the pause
    w.clock.advance(4)
    restarted = Service(w.store, w.platform, guardrails=Guardrails(), clock=w.clock)
    assert await restarted.guards.reconcile(1) == 1
    last = w.store.ledger(rec.id)[-1]
    assert last.status is Status.PAUSED and asked <= last.at < asked + 1  # when asked, not 6 s later


async def test_news_waiting_for_its_confirmation_is_not_lost_with_the_process(world):
    w = world
    rec = await recording(w)
    w.emulator.platform.act(time.time(), rec.id, "pause")  # paused from the meeting
    assert w.store.leases.hold(recording_lease(rec.id), "another-process", ttl=60)  # so the question waits
    await w.service.news.apply_event(RecordingUpdate(rec.id, w.meeting, Status.PAUSED))
    w.service.confirmations.pending.clear()  # the process dies with the question unasked
    w.store.leases.release(recording_lease(rec.id), "another-process")
    assert w.store.recording(rec.id).outcome_unknown  # the oldest report: the reconciler asks first
    restarted = Service(w.store, w.platform, guardrails=Guardrails(), clock=w.clock)
    assert await restarted.guards.reconcile(1) == 1
    assert w.store.recording(rec.id).status is Status.PAUSED


async def test_many_recordings_are_confirmed_by_one_list_not_one_call_each(world):
    w = world
    first = await recording(w)
    for _ in range(4):
        assert (await w.service.commands.handle(ALICE, parse("start --multi"))).ok
    await asyncio.sleep(0.05)
    recs = w.store.recordings_of_meeting(w.meeting)
    for rec in recs:
        await w.service.truth.refresh(rec.id)
        w.emulator.platform.act(time.time(), rec.id, "pause")
    confirmations = w.service.confirmations
    instant = time.monotonic()  # the burst's five news come at one instant, however slow the machine (on a loaded
    confirmations.monotonic = lambda: instant  # one, the first was rightly confirmed alone before the last came)
    before = confirmations.calls
    await asyncio.gather(*(w.service.news.apply_event(RecordingUpdate(rec.id, w.meeting, Status.PAUSED))
                           for rec in recs))  # one burst
    assert len(confirmations.pending) == 5
    confirmations.monotonic = time.monotonic  # then time goes on
    await until(lambda: not confirmations.pending, message="the confirmations")
    assert len(recs) == 5 and first.id in {r.id for r in recs}
    assert confirmations.calls - before == 1  # one page lists all five
    assert all(w.store.recording(r.id).status is Status.PAUSED for r in recs)


async def test_a_webhook_the_store_could_not_take_is_applied_later_not_dropped(world):
    """A delivery whose decision meets a busy store (another process wrote first) stays pending, in order."""
    from bot.workers import Workers
    from tests.store.faults import Faults

    w = world
    rec = await recording(w)
    w.emulator.platform.act(time.time(), rec.id, "stop")
    body = json.dumps({"event": "recording.statusUpdate", "meeting": {"id": w.meeting},
                       "recording": {"id": rec.id, "meetingId": w.meeting, "status": "UPLOADING"}}).encode()
    w.store.deliveries.add(delivery_id="d1", body_hash="h1", flavour="dyte", webhook_id=None, body=body)
    faults = Faults(w.store)
    faults.fail_when, faults.fail_times = "UPDATE recordings SET status", 1
    workers = Workers(w.service, w.store)
    assert await workers.process_deliveries() == 0  # busy: it waits, nothing marked done
    assert w.store.deliveries.pending(limit=10)
    assert await workers.process_deliveries() == 1
    assert w.store.recording(rec.id).status is Status.UPLOADING


async def test_a_redelivery_waits_for_its_original_when_the_original_must_wait(world):
    """A delivery and its redelivery in one batch: if the original meets a busy store, the redelivery is
    not finished ahead of it (that would make the original look like the repeat, never applied)."""
    from bot.workers import REDELIVERY, Workers
    from tests.store.faults import Faults

    w = world
    rec = await recording(w)
    w.emulator.platform.act(time.time(), rec.id, "stop")
    body = json.dumps({"event": "recording.statusUpdate", "meeting": {"id": w.meeting},
                       "recording": {"id": rec.id, "meetingId": w.meeting, "status": "UPLOADING"}}).encode()
    for _ in range(2):
        w.store.deliveries.add(delivery_id="d1", body_hash="h1", flavour="dyte", webhook_id=None, body=body)
    faults = Faults(w.store)
    faults.fail_when, faults.fail_times = "UPDATE recordings SET status", 1
    workers = Workers(w.service, w.store)
    assert await workers.process_deliveries() == 0  # busy: nothing finished, the redelivery neither
    assert len(w.store.deliveries.pending(limit=10)) == 2
    assert await workers.process_deliveries() == 2
    outcomes = [r["outcome"] for r in w.store.db.all("SELECT outcome FROM deliveries ORDER BY id")]
    assert outcomes[0] != REDELIVERY and outcomes[1] == REDELIVERY
    assert w.store.recording(rec.id).status is Status.UPLOADING


async def test_a_listing_round_takes_in_news_still_settling(world):
    """A round that lists the active recordings anyway confirms the news that has not settled yet too,
    at no extra call, instead of leaving it for the next round (half a second later at Dyte's pace)."""
    w = world
    first = await recording(w)
    for _ in range(2):
        assert (await w.service.commands.handle(ALICE, parse("start --multi"))).ok
    recs = w.store.recordings_of_meeting(w.meeting)
    await asyncio.sleep(0.05)
    for rec in recs:
        await w.service.truth.refresh(rec.id)
    assert len(recs) == 3 and first.id in {r.id for r in recs}
    c, before = w.service.confirmations, w.service.confirmations.calls
    c._running = True  # this test runs the round itself
    for rec in recs:
        w.emulator.platform.act(time.time(), rec.id, "pause")
    settled, fresh = recs[:2], recs[2]
    for rec in settled:
        c.ask(rec.id)
        c.pending[rec.id] -= 1.0
        c.first[rec.id] -= 1.0
    c.ask(fresh.id)  # just now: alone it would wait for its news to settle
    assert await c.round() == 3
    assert c.pending == {} and c.calls - before == 1  # one page of the list
    assert all(w.store.recording(r.id).status is Status.PAUSED for r in recs)


async def test_a_batch_of_deliveries_is_applied_in_order_whatever_its_kinds(world):
    """Runs of a known recording's news go to the store in one trip; the rest (a body that is not a webhook,
    a recording to adopt, another kind of event) one by one, in the order they came."""
    from bot.workers import Workers

    w = world
    rec = await recording(w)
    w.emulator.platform.act(time.time(), rec.id, "pause")

    def update(rec_id: str, status: str) -> bytes:
        return json.dumps({"event": "recording.statusUpdate", "meeting": {"id": w.meeting},
                           "recording": {"id": rec_id, "meetingId": w.meeting, "status": status}}).encode()

    bodies = [update(rec.id, "PAUSED"), b"not json", update("elsewhere", "RECORDING"), update(rec.id, "PAUSED"),
              json.dumps({"event": "meeting.chatSynced", "meeting": {"id": w.meeting}}).encode(),
              update(rec.id, "RECORDING")]
    for n, body in enumerate(bodies):
        w.store.deliveries.add(delivery_id=f"d{n}", body_hash=f"h{n}", flavour="dyte", webhook_id=None, body=body)
    assert await Workers(w.service, w.store).process_deliveries() == len(bodies)
    outcomes = [r["outcome"] for r in w.store.db.all("SELECT outcome FROM deliveries ORDER BY id")]
    assert outcomes[0] == outcomes[3] == "confirming"  # stored as it always was; a flip is asked about, never applied
    assert outcomes[1].startswith("unparseable") and outcomes[2] == "adopted"
    assert outcomes[4].startswith("ignored meeting.chatSynced") and outcomes[5] == "no change"
    await until(lambda: not w.service.confirmations.pending, message="the confirmation")
    assert w.store.recording(rec.id).status is Status.PAUSED


@pytest.mark.engines("sqlite")  # PostgreSQL has no lock for all writers: its writers never wait on each other
async def test_news_that_writes_nothing_is_decided_while_another_process_holds_the_write_lock(world):
    """News of meetings no channel links (much of what a busy organisation sends) writes nothing, so it is
    decided in a read: the ingest process, committing deliveries under SQLite's one write lock, never waits
    behind it (a write trip that read a hundred of them made the ingest's p99 28-39% worse). The news that
    does write still goes in order after it."""
    import sqlite3

    w = world
    rec = await recording(w)
    w.emulator.platform.act(time.time(), rec.id, "stop")
    unlinked = [("", RecordingUpdate(f"r{n}", "another-meeting", Status.RECORDING)) for n in range(3)]
    ingest = sqlite3.connect(w.path, isolation_level=None)
    ingest.execute("BEGIN IMMEDIATE")  # as the ingest process holds it while it commits a group
    try:
        outcomes, busy = await w.service.news.apply_updates(
            [*unlinked, ("", RecordingUpdate("r9", None, Status.RECORDING))])
    finally:
        ingest.execute("ROLLBACK")
        ingest.close()
    assert outcomes == [Applied.NOT_LINKED] * 3 + [Applied.NO_MEETING] and not busy
    outcomes, busy = await w.service.news.apply_updates(
        [*unlinked, ("", RecordingUpdate(rec.id, w.meeting, Status.UPLOADING)), unlinked[0]])
    assert outcomes == [Applied.NOT_LINKED] * 3 + [Applied.APPLIED, Applied.NOT_LINKED] and not busy
    assert w.store.recording(rec.id).status is Status.UPLOADING


def test_a_deliverys_stored_outcome_is_the_meaning_worded_with_what_the_news_was_of():
    from bot.platform.models import FileKind
    from bot.platform.webhooks import Ignored, SessionFile
    from bot.workers import logged

    assert logged(RecordingUpdate("r", "m", Status.PAUSED), Applied.CONFIRMING) == "confirming"
    assert logged(Ignored("meeting.chatSynced"), Applied.IGNORED) == \
        "ignored meeting.chatSynced: not an event recbot acts on"
    assert logged(SessionFile(FileKind.SUMMARY, "m", "s", "https://f/s"), Applied.HELD) == \
        "summary held: a pause overlapped the session"
    assert logged(MeetingEvent(MeetingKind.LEFT, "m"), Applied.PEOPLE_THERE) == "meeting left: people are still there"


async def test_while_the_door_is_flooded_deliveries_wait_stored_and_are_all_applied_after(world):
    """Past `FLOOD` deliveries a second at this process's door, the worker applies one batch and then leaves
    the cores to the door for `FLOOD_PAUSE`; nothing is dropped, and the order is kept."""
    from bot.workers import BATCH, FLOOD, Workers

    w = world
    body = json.dumps({"event": "meeting.chatSynced", "meeting": {"id": w.meeting}}).encode()
    for n in range(BATCH + 50):
        w.store.deliveries.add(delivery_id=f"d{n}", body_hash=f"h{n}", flavour="dyte", webhook_id=None, body=body)
    workers = Workers(w.service, w.store)
    for _ in range(int(FLOOD) + 1):  # a second's flood, all at once
        workers.wake_deliveries()
    assert workers.flooded()
    applying = asyncio.create_task(workers.process_deliveries())
    await until(lambda: len(w.store.deliveries.pending(limit=BATCH + 50)) == 50, message="the first batch")
    await asyncio.sleep(0.1)
    assert len(w.store.deliveries.pending(limit=BATCH + 50)) == 50 and not applying.done()  # the pause
    assert await applying == BATCH + 50
    ids = [r["id"] for r in w.store.db.all("SELECT id FROM deliveries ORDER BY processed_at, id")]
    assert ids == sorted(ids)


async def test_a_resume_whose_answer_comes_after_the_news_of_the_stop_is_in_the_ledger_before_the_stop(world):
    """Chaos runs, every full one ('lost'): a resume the platform made just before the recording stopped (the
    meeting ended) was missing from the ledger, because the news of the stop was written before the resume's
    answer, which then moved nothing. The answer still proves the resume: it goes in the ledger before the
    stop, dated no earlier than the platform made it (the earlier of its answer and the stop), and the thread
    says it."""
    w = world
    rec = await recording(w)
    w.clock.now = time.time()
    assert (await w.service.commands.handle(BOB, parse("pause"))).ok
    w.emulator.api_faults.next_mode, w.emulator.api_faults.next_count = "hang", 1  # done, the answer late
    w.emulator.api_faults.hang_seconds = 1.0
    w.clock.now = time.time()
    asked = w.clock.now
    resuming = asyncio.create_task(w.service.actions.act_one(BOB, rec.id, "resume", None))
    platform = w.emulator.platform
    await until(lambda: platform.recordings[rec.id].status is Status.RECORDING, message="resumed")
    platform.end_meeting(time.time(), w.meeting)  # the recording stops with the meeting, before the answer came
    resumed, stopped = (h["at"] for h in platform.history if h["recording_id"] == rec.id
                        and h["cause"] in ("resume", "all_peers_left"))
    w.clock.now = time.time()
    news = RecordingUpdate(rec.id, w.meeting, Status.UPLOADING, stopped_at=stopped, stop_reason="ALL_PEERS_LEFT")
    assert await w.service.news.apply_event(news) is Applied.APPLIED  # the news of the stop wins the race
    assert not resuming.done()
    line, ok = await resuming
    assert ok, line
    ledger = w.store.ledger(rec.id)
    assert [e.status for e in ledger] == [Status.INVOKED, Status.RECORDING, Status.PAUSED, Status.RECORDING,
                                          Status.UPLOADING]
    late = ledger[3]
    assert resumed <= late.at <= stopped and asked <= late.at  # never earlier than the platform resumed
    assert (late.actor, late.source) == (BOB.user_id, BOB.via)
    assert ledger[4].at == stopped
    said = notices(w, rec.id)[-1]
    assert (said["notice"], said["before_stop"], said["actor"]) == ("resumed", True, BOB.user_id)
    # the same answer applied again (saved later, say): nothing more
    again = Report(rec.id, Status.RECORDING, acted_at=asked)
    assert not await w.store.write(w.service.truth.apply, rec.id, again, actor=BOB.user_id, source=BOB.via)
    assert len(w.store.ledger(rec.id)) == 5 and notices(w, rec.id)[-1] == said


def test_an_actions_answer_after_the_stop_is_dated_privacy_first_and_only_when_it_is_news():
    """`late_step`, pure: a resume's RECORDING no earlier than the platform made it (the earlier of now and the
    stop), a pause's PAUSED no later (when it was asked); nothing for an answer older than the ledger's last
    state before the stop, a webhook or a look (they are not an action's own answer), or a step already there."""
    from bot.ledger import LedgerEntry
    from bot.service.transitions import late_step

    def ledger(*steps):
        return [LedgerEntry(Status(s), at, None, "platform", None) for s, at in steps]

    paused = ledger(("INVOKED", 0), ("RECORDING", 2), ("PAUSED", 10), ("UPLOADING", 20), ("UPLOADED", 23))
    recording = ledger(("INVOKED", 0), ("RECORDING", 2), ("UPLOADING", 20))
    how = {"actor": "U0BOB", "source": "button", "reason": None}

    def late(entries, status, acted_at, now=30.0, **report):
        return late_step(entries, Report("r1", Status(status), acted_at=acted_at, **report), now=now, **how)

    step = late(paused, "RECORDING", acted_at=15)
    assert (step.expected, step.new, step.at, step.actor) == (Status.PAUSED, Status.RECORDING, 20, "U0BOB")
    assert late(paused, "RECORDING", acted_at=15, now=18).at == 18  # the answer came before the stop
    assert late(recording, "PAUSED", acted_at=15).at == 15  # a pause: when it was asked
    assert late(paused, "RECORDING", acted_at=9) is None  # asked before that pause: not news
    assert late(paused, "PAUSED", acted_at=15) is None  # already the ledger's state before the stop
    assert late(paused, "RECORDING", acted_at=15, asked_at=14.0) is None  # a look, not the action's answer
    assert late(paused, "RECORDING", acted_at=None) is None  # a webhook, or an answer without its ask
    assert late(ledger(("INVOKED", 0), ("RECORDING", 2), ("PAUSED", 10)), "RECORDING", acted_at=15) is None


async def test_a_pause_is_not_asked_of_the_platform_while_its_asked_mark_cannot_be_written(world):
    """Chaos run, one process, seed 3: a pause's answer died with its process, and the restarted one dated
    the pause when it learned it, because the "outcome unknown" mark (`Records.action_asked`) had given way
    to a busy store: the words said in between were shown. A store that stays busy now refuses the pause,
    changing nothing, rather than asking the platform unmarked."""
    from tests.store.faults import Faults

    w = world
    rec = await recording(w)
    faults = Faults(w.store)
    faults.fail_when, faults.fail_times = "unknown_since = COALESCE", 1000  # action_asked: always busy
    reply = await w.service.commands.handle(ALICE, parse("pause"))
    assert not reply.ok and words(reply)[0].startswith(":warning: recbot could not reach its database")
    assert w.emulator.platform.recordings[rec.id].status is Status.RECORDING  # the platform was not asked
    assert w.store.recording(rec.id).status is Status.RECORDING


async def test_a_pause_whose_asked_mark_meets_a_busy_store_once_is_marked_before_the_platform_is_asked(world):
    """The mark's write is tried again briefly: once written, the pause goes to the platform, and a process
    that died with its answer would leave the ledger to date the pause when it was asked."""
    from tests.store.faults import Faults

    w = world
    rec = await recording(w)
    faults = Faults(w.store)
    faults.fail_when, faults.fail_times = "unknown_since = COALESCE", 1
    platform, marked = w.service.actions.platform, []
    pause = platform.pause_recording

    async def pause_recording(recording_id):
        marked.append(w.store.recording(recording_id).outcome_unknown)
        return await pause(recording_id)

    platform.pause_recording = pause_recording
    reply = await w.service.commands.handle(ALICE, parse("pause"))
    assert reply.ok, words(reply)[0]
    assert faults.fail_times == 0 and marked == [True]  # busy once, then marked before the platform was asked
    assert w.store.recording(rec.id).status is Status.PAUSED
