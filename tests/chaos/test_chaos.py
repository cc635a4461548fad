"""The chaos run, short: a dozen recordings, every kind of fault, SIGKILLs aimed at the moments that matter,
lines said throughout and looked for at the end. (`python -m tests.chaos.run` is the full one: 100
recordings over 20 channels, twelve kills.)"""

import pytest

from tests.chaos.run import chaos, token

LOST_RESUME = ("open (docs/reliability.md): a resume whose answer loses the race to the news of the stop is "
               "missing from the ledger ('lost')")


def assert_held(result: dict, *, lost_is_open: bool = False) -> None:
    """Everything the run checks. With `lost_is_open`, a recording whose ledger misses a step (the open race
    above) makes the test an expected failure, but only after every other check held."""
    details = result["details"]
    assert result["recordings"] >= 8
    assert (result["duplicated"], result["wrong"]) == (0, 0), details
    assert result["unhandled_count"] == 0, "\n\n".join(result["unhandled_errors"])
    assert result["lines_unrecorded"] > 0 and result["lines_recorded"] > 0
    assert result["paused_words_shown"] == 0, details["shown"]  # nothing said off the record reached Slack
    assert result["recorded_not_findable"] == 0, details["not_findable"]
    if result["lost"] and lost_is_open:
        pytest.xfail(f"{LOST_RESUME}: {details['lost']}")
    assert result["lost"] == 0, details


@pytest.mark.xfail(strict=False, reason=f"{LOST_RESUME}, in most runs since meetings end in the run")
async def test_short_chaos_run_loses_duplicates_misstates_and_shows_nothing(tmp_path):
    result = await chaos(recordings=12, channels=4, kills=3, seed=11, folder=str(tmp_path), timeout=240, spacing=5)
    assert result["faults_total"] >= 25 and result["faults"]["bot_killed"] == 3
    assert sum(n for moment, n in result["kills_by_moment"].items() if moment != "anywhere") >= 2
    assert_held(result)
    assert result["slack_calls_inside_retry_after"] == 0  # every 429 waited out, across SIGKILLs too


async def test_two_processes_on_postgres_killed_in_turn_lose_duplicate_misstate_and_show_nothing(tmp_path, postgres):
    result = await chaos(recordings=12, channels=4, kills=3, seed=13, folder=str(tmp_path), timeout=240,
                         processes=2, database=postgres.new_database(), spacing=5)
    assert result["processes"] == 2 and result["engine"] == "postgresql"
    assert result["faults"]["bot_killed"] == 3
    assert_held(result, lost_is_open=True)  # seen once in the lead's full run of 2026-12-07, passing alone


def test_no_word_said_in_a_run_is_inside_another():
    """The privacy oracle looks for each line's word as a substring of what Slack got: seed 3 reported
    "zkrq" and "zkyq" as shown, found inside "zkrqq" and "zkyqq" said later and rightly recorded."""
    for n in range(5000):
        word = token(n)
        inner = {word[i:j] for i in range(len(word)) for j in range(i + 4, len(word) + 1)
                 if word[i:i + 2] == "zk" and word[j - 1] == "q"}
        assert inner == {word}, word
    assert len({token(n) for n in range(5000)}) == 5000
