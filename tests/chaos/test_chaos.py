"""The chaos run, short: a dozen recordings, every kind of fault, one SIGKILL. (`python -m tests.chaos.run`
is the full one: 100 recordings over 20 channels, three kills.)"""

from tests.chaos.run import chaos


async def test_short_chaos_run_loses_duplicates_and_misstates_nothing(tmp_path):
    result = await chaos(recordings=12, channels=4, kills=1, seed=11, folder=str(tmp_path), timeout=240)
    details = result["details"]
    assert result["recordings"] >= 8
    assert result["faults_total"] >= 25 and result["faults"]["bot_killed"] == 1
    assert (result["lost"], result["duplicated"], result["wrong"]) == (0, 0, 0), details
    assert result["unhandled_count"] == 0, result["unhandled_errors"]


async def test_two_processes_on_postgres_killed_in_turn_lose_duplicate_and_misstate_nothing(tmp_path, postgres):
    result = await chaos(recordings=12, channels=4, kills=3, seed=13, folder=str(tmp_path), timeout=240,
                         processes=2, database=postgres.new_database())
    details = result["details"]
    assert result["processes"] == 2 and result["engine"] == "postgresql"
    assert result["recordings"] >= 8 and result["faults"]["bot_killed"] == 3
    assert (result["lost"], result["duplicated"], result["wrong"]) == (0, 0, 0), details
    assert result["unhandled_count"] == 0, "\n\n".join(result["unhandled_errors"])
