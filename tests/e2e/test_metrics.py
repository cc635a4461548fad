"""GET /metrics after real traffic: commands, clicks, webhooks, a 429 from the local Slack and a platform error,
each counted right. (Several recbot processes: tests/multi/test_metrics_processes.py.)"""

import asyncio
import json
from collections import Counter

from prometheus_client.parser import text_string_to_metric_families

from bot.models import Status
from tests.conftest import ALICE, EVE, until
from tests.e2e.helpers import run, started, status_is
from tests.e2e.test_pipeline import sign

CONTRACT = ("recbot_commands_total", "recbot_webhooks_total", "recbot_outbox_pending", "recbot_outbox_oldest_seconds",
            "recbot_slack_ratelimited_total", "recbot_platform_requests_total", "recbot_platform_budget_used_ratio",
            "recbot_active_recordings")


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def scrape(http, url: str) -> tuple[dict, set[str]]:
    response = await http.get(f"{url}/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name for f in text_string_to_metric_families(response.text)}
    return parse(response.text), families


def delta(after: dict, before: dict, name: str, **labels) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def settled(emulator) -> int:
    """How many webhooks the emulator has delivered, once none has been for a moment (none is in flight)."""
    seen = -1
    while seen != len(emulator.deliverer.log):
        seen = len(emulator.deliverer.log)
        await asyncio.sleep(0.3)
    return seen


def value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def test_metrics_count_commands_clicks_webhooks_slack_and_platform_calls(linked):
    s = linked
    delivered = await settled(s.emulator)
    before, _ = await scrape(s.http, s.bot_url)
    slack_calls = len(s.slack.calls)

    rec = await started(s, ALICE)  # start: ok, and webhooks that move it to RECORDING
    await run(s, ALICE, "frobnicate")  # a usage error
    await run(s, ALICE, "link not-a-meeting")  # the platform answers 404: a refusal
    await s.click(ALICE, "rec_pause", rec.id)
    await status_is(s, rec.id, Status.PAUSED)
    s.slack.faults.next_mode, s.slack.faults.next_count = "429", 1  # the next Slack call is refused once
    await s.click(EVE, "rec_resume", rec.id)  # another workspace's user: refused
    await run(s, ALICE, "resume")
    await status_is(s, rec.id, Status.RECORDING)
    body, headers = sign(s, {"event": "recording.statusUpdate"})
    headers["dyte-signature"] = "AAAA"  # forged
    forged = await s.http.post(s.webhook_url, content=body, headers=headers)
    assert forged.status_code == 401
    await until(lambda: s.slack.faults.counts["429"] == 1, message="the 429")
    await until(lambda: not {"pending", "sending"} & set(s.runtime.store.outbox.counts()), timeout=10,
                message="the outbox drained")
    await settled(s.emulator)

    after, families = await scrape(s.http, s.bot_url)
    assert set(CONTRACT) <= families | {f + "_total" for f in families}

    assert delta(after, before, "recbot_commands_total", command="start", outcome="ok") == 1
    assert delta(after, before, "recbot_commands_total", command="resume", outcome="ok") == 1
    assert delta(after, before, "recbot_commands_total", command="unknown", outcome="usage") == 1
    assert delta(after, before, "recbot_commands_total", command="link", outcome="refused") == 1
    assert delta(after, before, "recbot_clicks_total", action="pause", outcome="ok") == 1
    assert delta(after, before, "recbot_clicks_total", action="resume", outcome="refused") == 1
    assert delta(after, before, "recbot_platform_requests_total", operation="GET /meetings/{id}", status="404") == 1
    assert delta(after, before, "recbot_platform_requests_total", operation="POST /recordings", status="201") + \
        delta(after, before, "recbot_platform_requests_total", operation="POST /recordings", status="200") == 1

    # every webhook the emulator delivered, by event and the answer it got; and the forged one
    sent = Counter((json.loads(d["body"])["event"], str(d["status"])) for d in s.emulator.deliverer.log[delivered:])
    assert sent, "the emulator delivered webhooks"
    for (event, answer), n in sent.items():
        assert delta(after, before, "recbot_webhooks_total", event=event, answer=answer) == n, (event, answer)
    assert delta(after, before, "recbot_webhooks_total", event="unknown", answer="401") == 1

    # Slack: each call the local Slack saw, by method and outcome; the 429 counted on its own as well
    calls = s.slack.calls[slack_calls:]
    limited = [c for c in calls if not c["ok"] and c["method"] != "response_url"]
    assert len(limited) == 1
    method = limited[0]["method"]
    assert delta(after, before, "recbot_slack_ratelimited_total", method=method) == 1
    assert delta(after, before, "recbot_slack_calls_total", method=method, outcome="ratelimited") == 1
    for name, n in Counter(c["method"] for c in calls if c["ok"]).items():
        assert delta(after, before, "recbot_slack_calls_total", method=name, outcome="ok") == n, name

    # gauges read at scrape time: one recording, recording; nothing waiting; this process holds its jobs
    assert value(after, "recbot_active_recordings", state="RECORDING") == 1
    assert value(after, "recbot_active_recordings", state="PAUSED") == 0
    assert not any(v for (name, _), v in after.items() if name == "recbot_outbox_pending")
    assert value(after, "recbot_jobs_held", lease="deliveries") == 1
    used = [v for (name, _), v in after.items() if name == "recbot_platform_budget_used_ratio"]
    assert used and all(0 < v < 1 for v in used)
    # latencies: acks timed, and the webhook's card edit and thread replies timed from the webhook's arrival
    assert delta(after, before, "recbot_ack_seconds_count") >= 6
    assert delta(after, before, "recbot_webhook_to_slack_seconds_count", kind="thread") >= 1
    assert delta(after, before, "recbot_store_trip_seconds_count", outcome="ok") > 10
    # labels are bounded: no recording, meeting, channel or user id anywhere
    text = (await s.http.get(f"{s.bot_url}/metrics")).text
    for an_id in (rec.id, s.meeting_id, "C0DEMO", ALICE):
        assert an_id not in text


async def test_workflow_steps_are_counted_by_step_and_outcome(linked):
    s = linked
    before, _ = await scrape(s.http, s.bot_url)
    for user in (ALICE, EVE):  # a controller; someone of another workspace, refused
        event, _ = await s.run_step("start_recording", user=user)
        await until(lambda e=event: s.slack.executions[e["function_execution_id"]]["state"] != "running",
                    message="the step's end")
    after, _ = await scrape(s.http, s.bot_url)
    step = next(dict(k[1])["step"] for k in after if k[0] == "recbot_workflow_steps_total")
    assert delta(after, before, "recbot_workflow_steps_total", step=step, outcome="ok") == 1
    assert delta(after, before, "recbot_workflow_steps_total", step=step, outcome="refused") == 1


async def test_the_outbox_backlog_is_seen_while_slack_refuses(linked):
    s = linked
    s.slack.faults.rates = {"500": 1.0}  # Slack fails every call: what waits is counted, with the oldest's age
    await run(s, ALICE, "start")
    await until(lambda: s.runtime.store.outbox.counts().get("pending"), message="a waiting row")
    samples, _ = await scrape(s.http, s.bot_url)
    waiting = {dict(labels)["kind"]: v for (name, labels), v in samples.items() if name == "recbot_outbox_pending"}
    assert sum(waiting.values()) >= 1
    assert all(value(samples, "recbot_outbox_oldest_seconds", kind=k) >= 0 for k in waiting)
    s.slack.faults.rates = {}


async def test_rec_metrics_off_serves_no_metrics_and_a_host_port_serves_them_apart(tmp_path):
    from bot.asgi_server import _free_port
    from tests.conftest import make_stack

    async with make_stack(tmp_path, env={"REC_METRICS": "off"}) as s:
        assert (await s.http.get(f"{s.bot_url}/metrics")).status_code == 404
    port = _free_port("127.0.0.1")
    async with make_stack(tmp_path, env={"REC_METRICS": f"127.0.0.1:{port}"}) as s:
        assert (await s.http.get(f"{s.bot_url}/metrics")).status_code == 404  # not on the public routes
        _, families = await scrape(s.http, f"http://127.0.0.1:{port}")
        assert "recbot_outbox_pending" in families
