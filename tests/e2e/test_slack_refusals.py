"""Refusals recbot has never seen (CONTRACT.md "Slack's limits": a refusal recbot does not know is never a
reason to drop a message), end to end: signed requests into the real app, the local Slack answering in each
of the shapes Slack, or a proxy on the way, answers (bot/workbench/slack_api.py `ODD`), and what Slack shows
once it takes the calls again. Direct calls outside the outbox (auth.test, a response_url) keep the 429 holds.
"""

import asyncio
import itertools
import logging

import pytest

from bot.models import Status
from bot.slack.holds import Holds
from bot.slack.identity import Identity
from bot.web import Options
from bot.workbench.slack_limits import ODD
from bot.workbench.stack import TEST_SCALE
from tests.conftest import ADMIN, ALICE, BOB, linked_stack, until
from tests.e2e.helpers import button_ids, card_of, reply_to, run, started, status_is, thread_texts

TRANSIENT = ("new_error_5xx", "proxy_502", "fatal_error", "internal_error", "request_timeout", "service_unavailable")
UNKNOWN = ("new_error", "new_error_warned", "new_error_4xx")


def drained(stack) -> bool:
    return not {"pending", "sending"} & set(stack.runtime.store.outbox.counts())


def lines(caplog, needle: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if needle in r.getMessage()]


@pytest.mark.parametrize("shape", [*TRANSIENT, *UNKNOWN])
async def test_a_pause_clicked_while_slack_answers_what_recbot_never_saw_shows_on_the_card_in_full(
        linked, shape, caplog):
    """The card's edit after a click meets the refusal once: recbot logs which method and which error, tries
    the same edit again after a short backoff, and the card shows the pause with its Resume button, as it
    would have without the refusal. The thread says it once."""
    caplog.set_level(logging.WARNING, logger="bot.slack.outbox")
    rec = await started(linked, ALICE)
    await until(lambda: drained(linked), timeout=15, message="drained")
    linked.slack.refuse("chat.update", shape, when=lambda args: "Paused" in str(args.get("text")))
    await linked.click(BOB, "rec_pause", rec.id)
    await status_is(linked, rec.id, Status.PAUSED)
    await until(lambda: "Paused" in card_of(linked, rec).text and drained(linked), timeout=15,
                message="the card, paused")
    assert "rec_resume" in button_ids(card_of(linked, rec))  # the full card, not a degraded one
    assert sum("paused by" in t for t in thread_texts(linked, rec)) == 1
    status, _, body = ODD[shape]
    said = lines(caplog, "chat.update answered HTTP")
    assert said and f"HTTP {status}" in said[0], said
    if isinstance(body, dict):
        assert body["error"] in said[0]
        if "response_metadata" in body:  # what Slack said of it is in the line too
            assert "a reason recbot never read" in said[0] and "superfluous_charset" in said[0]
    assert not linked.runtime.store.outbox.counts().get("failed")
    assert linked.slack.limits.inside == []


async def test_a_reply_refused_again_and_again_with_an_unknown_error_is_kept_and_never_sent_in_a_hot_loop(
        tmp_path, engine, caplog):
    """A thread reply refused in every form, with an error recbot does not know: never given up, never sent in a
    hot loop (once at its most compact, each try waits the outbox's backoff: capped at 1 s here, a minute in
    production), and its thread waits behind it; once Slack takes it, the reply and the one after it show, in
    order."""
    caplog.set_level(logging.WARNING, logger="bot.slack.outbox")
    options = Options(slack_scale=TEST_SCALE, card_interval=0.1, max_backoff=1.0)
    async with linked_stack(tmp_path, options=options) as s:
        rec = await started(s, ALICE)
        await until(lambda: any("is recording" in t for t in thread_texts(s, rec)), message="the first news")
        s.slack.refuse("chat.postMessage", "some_brand_new_error", times=0,
                       when=lambda args: bool(args.get("thread_ts")) and "resumed by" not in str(args.get("text")))
        await run(s, BOB, "pause")
        await run(s, ALICE, "resume")

        def tries() -> list[float]:
            return [c["at"] for c in s.slack.calls if c.get("error") == "some_brand_new_error"]

        await until(lambda: len(tries()) >= 9, timeout=30, message="nine tries")
        at = tries()
        assert all(b - a >= 0.45 for a, b in itertools.pairwise(at[4:])), at  # 0.5 s at the least
        assert not any("resumed by" in t for t in thread_texts(s, rec))  # the thread keeps its order
        assert not s.runtime.store.outbox.counts().get("failed")
        said = lines(caplog, "some_brand_new_error")
        assert any("chat.postMessage" in line and "a refusal recbot does not know" in line for line in said), said
        assert any("at its most compact" in line for line in said), said
        s.slack.refusing.clear()  # Slack takes it again
        await until(lambda: any("resumed by" in t for t in thread_texts(s, rec)), timeout=15,
                    message="the thread, after Slack recovered")
        texts = thread_texts(s, rec)
        order = [next((n for n, t in enumerate(texts) if words in t), None)
                 for words in ("is recording", "would not show here", "resumed by")]
        assert None not in order and order == sorted(order), texts  # the pause, in its last form, held the thread


@pytest.mark.parametrize("shape", ["new_error_4xx", "proxy_502"])
async def test_a_response_url_answering_what_recbot_never_saw_still_gets_the_answer_to_the_person(linked, shape):
    """The answer to a command goes on its response_url; when that answers a 4xx recbot does not know, or a
    proxy's HTML 502, the person still sees the answer (the 502: on the response_url, later; the 4xx: in the
    channel, only to them)."""
    rec = await started(linked, ALICE)
    linked.slack.refuse("response_url", shape)
    before = len(linked.slack.ephemeral_for(BOB))
    response = await linked.command(BOB, "pause")
    assert response.status_code == 200
    answer = await reply_to(linked, BOB, before, timeout=15)
    assert "Paused" in answer or "paused" in answer, answer
    await status_is(linked, rec.id, Status.PAUSED)
    assert not linked.runtime.store.outbox.counts().get("failed")


async def test_after_a_429_on_a_response_url_no_answer_goes_there_before_retry_after(linked):
    """Slack documents no 429 for a response_url; should one come, it holds every answer there as a method's
    429 does, and the answer arrives after it."""
    await started(linked, ALICE)
    linked.slack.refuse("response_url", "ratelimited")
    before = len(linked.slack.ephemeral_for(BOB))
    await linked.command(BOB, "pause")
    answer = await reply_to(linked, BOB, before, timeout=15)
    assert "paused" in answer.lower(), answer
    assert ("", "response_url") in linked.slack.limits.holds  # Slack did answer 429 there
    assert linked.slack.limits.inside == []


async def test_auth_test_keeps_a_429_hold_and_is_not_asked_inside_it(stack):
    """recbot asks who it is (auth.test) at start and again while Slack does not say: after a 429, not before
    Retry-After has passed, from any process (the hold is in the store)."""
    runtime = stack.runtime
    stack.slack.faults.retry_after = 1
    stack.slack.faults.next_mode, stack.slack.faults.next_count = "429", 1
    now = [1000.0]
    identity = Identity(runtime.identity.client, runtime.identity.token, runtime.courier.holds, clock=lambda: now[0])
    other = Identity(runtime.identity.client, runtime.identity.token, Holds(runtime.store),  # another process's
                     clock=lambda: now[0])

    def asked() -> int:
        return len([c for c in stack.slack.calls if c["method"] == "auth.test"])

    before = asked()
    await identity.warm()
    assert asked() == before + 1 and stack.slack.faults.counts["429"] == 1
    assert await other.holds.held("", "auth.test") > 0  # written to the store, for every process
    now[0] += Identity.AGAIN + 1  # its own wait is over, Slack's is not: not asked
    await identity.warm()
    await other.warm()
    assert asked() == before + 1
    while await other.holds.held("", "auth.test") > 0:  # Retry-After passes
        await asyncio.sleep(0.05)
    now[0] += 2 * Identity.AGAIN  # and each one's own wait
    await other.warm()
    assert asked() == before + 2 and other._info and other._info["user_id"]
    assert stack.slack.limits.inside == []


@pytest.mark.parametrize("shape", ["proxy_502", "new_error"])
async def test_an_admin_slack_did_not_answer_about_is_told_to_try_again_not_refused(linked, shape):
    """Whether someone is a workspace admin (users.info) decides a stop by someone who did not start the
    recording: when Slack fails that question, or answers what recbot does not know, recbot does not let them
    in (failing closed) but says it could not check, not that they may not; asked again, Slack answers."""
    rec = await started(linked, ALICE)
    linked.slack.refuse("users.info", shape)
    _, reply = await run(linked, ADMIN, "stop")
    assert "did not answer" in reply and "try again in" in reply and ":no_entry:" not in reply, reply
    assert linked.runtime.store.recording(rec.id).status is Status.RECORDING
    await run(linked, ADMIN, "stop")
    await status_is(linked, rec.id, Status.UPLOADED)
