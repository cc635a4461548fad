"""The emulator's transcript and summary read like a meeting and a summary of it."""

import itertools

import pytest

from bot.emulator import notes

ANN_AND_BEN = [{"name": "Ann", "joined_at": 100.0, "left_at": None},
               {"name": "Ben", "joined_at": 101.0, "left_at": 150.0}]


def test_turns_say_the_script_in_order_each_line_once_per_round():
    said = notes.cues(ANN_AND_BEN, 100.0, 230.0)
    assert [c.text for c in said[:len(notes.SCRIPT)]] == [line for line, _, _ in notes.SCRIPT]
    assert [c.speaker for c in said[:4]] == ["Ann", "Ben", "Ann", "Ben"]
    assert all(a.start <= b.start for a, b in itertools.pairwise(said))
    assert not any(c.speaker == "Ben" and c.start > 50.0 for c in said)  # nothing after he left


def test_the_summary_credits_each_point_to_whoever_made_it_and_says_no_minute_s():
    said = notes.cues(ANN_AND_BEN, 100.0, 230.0)
    text = notes.summary_markdown("Launch sync", ANN_AND_BEN, 130 / 60, said)
    assert "*Launch sync* ran for about 2 minutes with Ann and Ben." in text
    assert "(s)" not in text
    points = [line for line in text.splitlines() if line.startswith("- **")]
    assert len(points) == len(set(points)) >= 4
    for cue in said[:len(notes.SCRIPT)]:  # each point is a line that was said, by its speaker
        point = dict((line, p) for line, p, _ in notes.SCRIPT)[cue.text]
        if point:
            assert f"- **{cue.speaker}** {point}." in points
    assert "Ben pulls the sign-up numbers together." in text  # Ben said he would
    assert "Ann drafts the note to customers." in text


def test_a_short_meeting_is_summed_up_as_short():
    alone = [{"name": "Ann", "joined_at": 0.0, "left_at": 20.0}]
    text = notes.summary_markdown("", alone, 20 / 60, notes.cues(alone, 0.0, 20.0))
    assert "*The meeting* ran for under a minute with Ann." in text and "None were agreed." in text


@pytest.mark.parametrize(("minutes", "words"), [(0.4, "under a minute"), (1.2, "about 1 minute"),
                                                (60.2, "about 1 hour"), (125, "about 2 hours 5 minutes")])
def test_durations_in_words(minutes, words):
    assert notes.summary_markdown("m", [], minutes, []).count(f" ran for {words} with nobody.") == 1


def test_the_workbench_panel_says_what_the_session_waits_for():
    from bot.emulator.state import Platform, Timing
    from bot.workbench.server import meeting_status

    p = Platform(Timing(start_delay=0, upload_delay=0, empty_stop=20, session_end=30, notes_delay=2))
    m = p.create_meeting(0, "Demo", transcribe_on_end=True, summarize_on_end=True)
    assert meeting_status(p.outlook(m.id, 0), []) == "no session yet: join to start one"
    ann = p.join(0, m.id, "Ann")
    p.start_recording(1, m.id)
    p.tick(1)
    assert meeting_status(p.outlook(m.id, 1), [{"id": ann, "name": "Ann"}]) == "live · 1 person in it"
    p.leave(10, m.id, ann)
    said = meeting_status(p.outlook(m.id, 15), [])
    assert said.startswith("everyone left: the session ends in 25 s") and said.endswith(
        "then transcript and summary expected in about 27 s"), said
    assert "; the recording stops in 15 s;" in said
    p.tick(40)
    assert meeting_status(p.outlook(m.id, 41), []) == "the session ended; transcript and summary expected in about 1 s"
    p.tick(42)
    assert meeting_status(p.outlook(m.id, 43), []).startswith("the session ended; transcript and summary written")
