"""The local Slack limits as Slack does (../shared/reference/slack-limits.md): per method and workspace,
a channel's posts, 429 with Retry-After, calls inside a Retry-After window counted, Tier-1 history of
at most 15 messages, chat.update's 4,000 characters. Called over HTTP, as recbot's clients call it."""

import httpx
import pytest

from bot.slack.limits import HISTORY_LIMIT, limit_of, per_channel
from bot.workbench.slack_api import FakeSlack

TOKEN = {"authorization": "Bearer xoxb-anything"}  # a token it never issued: the default workspace's


@pytest.fixture
async def slack():
    fake = FakeSlack(scale=10.0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app), base_url="http://slack") as http:
        async def call(method: str, **args):
            response = await http.post(f"/api/{method}", json=args, headers=TOKEN)
            return response.status_code, response.headers.get("retry-after"), response.json()
        fake.call = call
        yield fake


async def test_chat_update_is_tier_3_per_workspace_and_a_429_window_counts_calls_made_inside_it(slack):
    status, _, posted = await slack.call("chat.postMessage", channel="C1", text="card")
    assert status == 200 and posted["ok"]
    allowed = limit_of("chat.update", 10.0).calls
    assert allowed == 50
    for n in range(allowed):
        status, _, body = await slack.call("chat.update", channel="C1", ts=posted["ts"], text=f"edit {n}")
        assert status == 200 and body["ok"]
    status, retry_after, body = await slack.call("chat.update", channel="C1", ts=posted["ts"], text="one more")
    assert (status, body["error"]) == (429, "ratelimited")
    assert retry_after.isdigit() and int(retry_after) >= 1  # whole seconds, as Slack sends it
    assert slack.limits.inside == []  # the first 429 is Slack's answer, not the app's fault
    status, _, _ = await slack.call("chat.update", channel="C1", ts=posted["ts"], text="too soon")
    assert status == 429 and len(slack.limits.inside) == 1  # a call Slack asked the app not to make
    status, _, body = await slack.call("chat.postEphemeral", channel="C1", user="U1", text="another method")
    assert status == 200 and body["ok"]  # limits are per method


async def test_posts_are_limited_per_channel(slack):
    burst = per_channel(10.0).calls
    for n in range(burst):
        assert (await slack.call("chat.postMessage", channel="C1", text=f"m{n}"))[0] == 200
    assert (await slack.call("chat.postMessage", channel="C1", text="over"))[0] == 429


async def test_history_is_tier_1_and_returns_at_most_15_messages_a_page(slack):
    slack.limits.on = False  # to fill the channel
    for n in range(20):
        await slack.call("chat.postMessage", channel="C1", text=f"m{n}")
    slack.limits.on = True
    _, _, page = await slack.call("conversations.history", channel="C1", limit=200)
    assert len(page["messages"]) == HISTORY_LIMIT and page["has_more"]
    assert page["messages"][0]["text"] == "m19"  # newest first
    status, _, _ = await slack.call("conversations.history", channel="C1", limit=15,
                                    cursor=page["response_metadata"]["next_cursor"])
    assert status == 429  # one a minute (at scale 10: one in 6 s)
    slack.limits.holds.clear()
    slack.limits.calls.clear()
    oldest = page["messages"][4]["ts"]  # m15
    _, _, since = await slack.call("conversations.history", channel="C1", oldest=oldest, inclusive=True)
    assert [m["text"] for m in since["messages"]] == ["m19", "m18", "m17", "m16", "m15"]


async def test_chat_update_refuses_text_over_4000_characters(slack):
    _, _, posted = await slack.call("chat.postMessage", channel="C1", text="card")
    _, _, body = await slack.call("chat.update", channel="C1", ts=posted["ts"], text="x" * 4001)
    assert body == {"ok": False, "error": "msg_too_long"}


async def test_it_answers_any_refusal_slack_documents_when_told(slack):
    slack.refuse("chat.postMessage", "msg_blocks_too_long", when=lambda args: bool(args.get("blocks")))
    _, _, body = await slack.call("chat.postMessage", channel="C1", text="t", blocks=[
        {"type": "section", "text": {"type": "mrkdwn", "text": "t"}}])
    assert body["error"] == "msg_blocks_too_long"
    _, _, body = await slack.call("chat.postMessage", channel="C1", text="plain")
    assert body["ok"]
