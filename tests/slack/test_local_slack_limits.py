"""The local Slack holds what it hands out to Slack's limits (reference/slack-limits.md): a response_url
takes 5 answers within 30 minutes; a trigger_id opens one form, within 3 seconds."""

import json

import httpx

from bot.workbench.slack_api import FakeSlack


def local_slack() -> tuple[FakeSlack, httpx.AsyncClient]:
    slack = FakeSlack()
    slack.url = "http://slack.local"
    return slack, httpx.AsyncClient(transport=httpx.ASGITransport(app=slack.app), base_url=slack.url)


async def answer(http: httpx.AsyncClient, url: str, text: str) -> httpx.Response:
    return await http.post(url, json={"response_type": "ephemeral", "text": text})


async def test_a_response_url_takes_five_answers_then_404():
    slack, http = local_slack()
    async with http:
        url = slack.new_response_url("C1", "U1")
        for n in range(5):
            assert (await answer(http, url, f"answer {n}")).status_code == 200
        sixth = await answer(http, url, "answer 6")
        assert (sixth.status_code, sixth.text) == (404, "used_url")
        assert [e["text"] for e in slack.ephemeral_for("U1")] == [f"answer {n}" for n in range(5)]


async def test_a_response_url_takes_nothing_after_30_minutes():
    slack, http = local_slack()
    async with http:
        url = slack.new_response_url("C1", "U1")
        assert (await answer(http, url, "in time")).status_code == 200
        now = slack.clock()
        slack.clock = lambda: now + 30 * 60 + 1
        late = await answer(http, url, "too late")
        assert (late.status_code, late.text) == (404, "expired_url")
        assert (await answer(http, f"{slack.url}/response_url/C1/U1/forged", "x")).status_code == 404


async def views_open(http: httpx.AsyncClient, trigger_id: str) -> dict:
    view = {"type": "modal", "title": {"type": "plain_text", "text": "Settings"}, "blocks": []}
    response = await http.post("/api/views.open", headers={"authorization": "Bearer xoxb-local"},
                               data={"trigger_id": trigger_id, "view": json.dumps(view)})
    return response.json()


async def test_a_trigger_opens_one_form_within_three_seconds():
    slack, http = local_slack()
    async with http:
        trigger = slack.trigger("U1")
        assert (await views_open(http, trigger))["ok"]
        assert (await views_open(http, trigger))["error"] == "exchanged_trigger_id"
        late = slack.trigger("U1")
        now = slack.clock()
        slack.clock = lambda: now + 3.5
        assert (await views_open(http, late))["error"] == "expired_trigger_id"
        assert (await views_open(http, "123.456.never-handed-out"))["error"] == "invalid_trigger_id"
        assert len(slack.views) == 1
