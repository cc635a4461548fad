"""The transcript as recbot reads it and cuts it (pure): RealtimeKit's headerless CSV, a header's names with
their aliases, and the ledger's cut (a line straddling a pause is withheld)."""

from bot.ledger import LedgerEntry, summarize
from bot.models import Status
from bot.transcript import Line, Parsed, cut, parse_csv, to_csv


def entry(status: Status, at: float) -> LedgerEntry:
    return LedgerEntry(status=status, at=at, actor=None, source="test", reason=None)


def test_realtimekits_documented_rows_have_no_header_and_times_in_milliseconds():
    text = ('"1000","peer-123","user-456","cust-789","Alice","Hello everyone"\n'
            '"3000","peer-234","","","Bob","Hi, Alice"\n')
    parsed = parse_csv(text)
    assert parsed.lines == [Line(1.0, None, "Alice", "Hello everyone"), Line(3.0, None, "Bob", "Hi, Alice")]
    assert parse_csv(to_csv([(1.0, "Alice", "Hello everyone"), (3.0, "Bob", "Hi, Alice")])).lines == parsed.lines


def test_a_header_is_read_by_its_names_with_aliases_and_bad_rows_are_counted():
    text = ("\ufeffTimestamp,Display Name,Text,endTime\n2026-01-01T00:00:05Z,Ann,hi there,2026-01-01T00:00:07Z\n"
            "not a time,Bo,lost\n12.5,Cy,seconds from the start,\n,Dee,\n")
    parsed = parse_csv(text)
    assert [(x.speaker, x.text, x.absolute) for x in parsed.lines] == [("Ann", "hi there", True),
                                                                    ("Cy", "seconds from the start", False)]
    assert parsed.lines[0].end == parsed.lines[0].start + 2 and parsed.lines[1].start == 12.5
    assert parsed.skipped == 2
    assert parse_csv("startTime,participantName,transcript\n").lines == []
    assert parse_csv("").lines == []


def test_a_line_is_kept_only_wholly_inside_recorded_time():
    ledger = [entry(Status.RECORDING, 100), entry(Status.PAUSED, 110), entry(Status.RECORDING, 120),
              entry(Status.UPLOADING, 130)]
    s = summarize(ledger, 200)
    lines = [Line(start, None, "Ann", text) for start, text in (
        (1, "before the start"), (2, "one"), (11, "across the pause"), (15, "off the record"),
        (23, "after"), (31.5, "across the stop"))]  # the session began at 98; a line lasts 0.5 s a word, 1 s at least
    result = cut(Parsed(lines, 1), 98.0, [("r1", s)])
    assert [(k.text, k.places) for k in result.kept] == [("one", (("r1", 0.0),)), ("after", (("r1", 11.0),))]
    assert result.withheld == 5 and result.paused  # four lines and the unreadable row
    assert cut(Parsed(lines, 0), None, [("r1", s)]).kept == []  # times that cannot be placed: nothing is kept


def test_two_recordings_back_to_back_are_one_stretch():
    one = summarize([entry(Status.RECORDING, 0), entry(Status.UPLOADING, 10)], 50)
    two = summarize([entry(Status.RECORDING, 10), entry(Status.UPLOADING, 20)], 50)
    result = cut(Parsed([Line(9.5, 11.0, "Ann", "spans both")], 0), 0.0, [("a", one), ("b", two)])
    assert [k.places for k in result.kept] == [(("a", 9.5),)] and not result.paused
