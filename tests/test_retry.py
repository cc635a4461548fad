"""The one retry policy (bot/retry.py): pure schedules, and the loop that waits out a named error."""

import pytest

from bot.retry import Backoff, patiently


def test_each_wait_doubles_up_to_the_cap():
    assert Backoff(0.25, 2.0).delays(4) == (0.25, 0.5, 1.0, 2.0)
    assert [Backoff(1.0, 60.0).delay(n) for n in (0, 5, 6, 500)] == [1.0, 32.0, 60.0, 60.0]


def test_a_retry_after_replaces_the_schedule_and_jitter_only_lengthens():
    assert Backoff(0.25, 8.0).delay(0, asked=3.0) == 3.0
    waits = [Backoff(0.5, 60.0, jitter=0.3).delay(2) for _ in range(200)]
    assert all(2.0 <= w <= 2.6 for w in waits) and len(set(waits)) > 1


class Busy(Exception):
    pass


async def test_patiently_tries_once_more_than_it_waits_and_lets_the_last_error_out():
    tries = []

    async def work():
        tries.append(1)
        raise Busy

    with pytest.raises(Busy):
        await patiently(work, (0.0, 0.0), Busy)
    assert len(tries) == 3


async def test_patiently_returns_the_first_answer_and_lets_other_errors_out_at_once():
    answers = iter([Busy(), "done"])

    async def work():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert await patiently(work, (0.0, 0.0), Busy) == "done"

    async def broken():
        raise KeyError("x")

    with pytest.raises(KeyError):
        await patiently(broken, (0.0,), Busy)
