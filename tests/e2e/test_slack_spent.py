"""What Slack hands out with a request is limited: a response_url takes 5 answers within 30 minutes, a
trigger_id opens one form within 3 seconds. An answer Slack no longer takes on the response_url still reaches
the person (in the channel, only to them; by direct message where recbot cannot post there), and a form that
could not open says what to do instead."""

import pytest

from tests.conftest import ALICE, BOB, CHANNEL, until
from tests.e2e.helpers import ack_text, started


def spend_response_urls(stack, how: str) -> None:
    """From now on, Slack hands out response_urls as recbot will find them when it answers: handed out more than
    30 minutes ago (recbot was slow, or down), or already used five times."""
    issue = stack.slack.new_response_url

    def spent(channel: str, user: str) -> str:
        url = issue(channel, user)
        issued = stack.slack.response_urls[url.split("/response_url/", 1)[1]]
        if how == "expired_url":
            issued["at"] -= 31 * 60
        else:
            issued["uses"] = 5
        return url

    stack.slack.new_response_url = spent


def answers_to(stack, user: str, channel: str) -> list[str]:
    """What only `user` sees in `channel`, as chat.postEphemeral left it."""
    return [e["text"] for e in stack.slack.ephemeral if e["user"] == user and e["channel"] == channel]


@pytest.mark.parametrize("how", ["expired_url", "used_url"])
async def test_an_answer_slack_no_longer_takes_on_the_response_url_reaches_the_person_in_the_channel(linked, how):
    spend_response_urls(linked, how)
    before = len(answers_to(linked, ALICE, CHANNEL))
    await started(linked, ALICE, "start")  # "Starting…" in the ack; "Started recording #1" follows
    found = await until(lambda: [t for t in answers_to(linked, ALICE, CHANNEL)[before:] if "#1" in t],
                        message="the answer, in the channel, to Alice alone")
    assert "recording" in found[0].lower()
    assert how in {r["error"] for r in linked.slack.refusals}  # it was tried on the response_url first
    assert [c for c in linked.slack.calls if c["method"] == "chat.postEphemeral" and c["ok"]
            and c["args"].get("user") == ALICE]
    assert not linked.runtime.store.outbox.counts().get("failed")


async def test_where_recbot_cannot_post_the_spent_answer_comes_as_a_direct_message(linked):
    spend_response_urls(linked, "expired_url")
    linked.slack.not_member.add(CHANNEL)  # a private channel recbot was removed from
    response = await linked.command(ALICE, f"allow <@{BOB}|bob>")
    assert response.status_code == 200
    dm = await until(lambda: [m for m in linked.slack.messages.values() if m.channel == ALICE],
                     message="the answer as a direct message")
    assert BOB in dm[0].text
    assert not linked.runtime.store.outbox.counts().get("failed")


async def test_a_settings_form_slack_no_longer_opens_says_what_to_type_instead(linked):
    issue = linked.slack.trigger

    def late(user: str) -> str:  # recbot reaches views.open 4 s after Slack handed the trigger out
        trigger_id = issue(user)
        linked.slack.triggers[trigger_id]["at"] -= 4
        return trigger_id

    linked.slack.trigger = late
    response = await linked.command(ALICE, "settings")
    assert response.status_code == 200
    said = await until(lambda: [t for t in answers_to(linked, ALICE, CHANNEL) if "did not open" in t],
                       message="why the form did not open, to Alice")
    assert "/rec settings NAME VALUE" in said[0] and "3 seconds" in said[0]
    assert linked.slack.views == []  # Slack opened nothing
    assert [c for c in linked.slack.calls if c["method"] == "views.open" and c["args"].get("trigger_id")]
    assert not linked.runtime.store.outbox.counts().get("failed")

    linked.slack.trigger = issue  # in time, the same command opens the form
    await linked.command(ALICE, "settings")
    await until(lambda: linked.slack.views, message="the settings form")
    assert ack_text(response) == ""
