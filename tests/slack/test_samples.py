"""The local Slack sends and answers what Slack does: each sample in ../shared/specs/slack-samples/ (from
Slack's own SDK tests and method reference, see its ORIGIN.md) is held against the local Slack's payload or
answer of the same kind. Every key of the sample must be there, with the same nesting (object, list or
value); keys Slack adds only for other content (a shortcut's own, an app's user token) are named below
with the reason. What the local Slack sends is read as it went over the wire, to the real app."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.workbench.slack_oauth import CLIENT_ID, CLIENT_SECRET, Token
from bot.workbench.socket_mode import Envelope
from bot.workbench.stack import BOT_TOKEN
from tests.conftest import ALICE, CHANNEL, SPECS, linked_stack, until

SAMPLES = SPECS / "slack-samples"
ORG, GRID_TEAM, GRID_USER, GRID_CHANNEL = "E0ORG", "T0GRID", "U0GINA", "C0GRID"

# Samples this test does not hold the local Slack to, and why.
ELSEWHERE = {
    "errors.chat.postMessage.subset.json": "refusals: the outbox's tests (tests/e2e/test_slack_limits.py)",
    "errors.chat.update.subset.json": "refusals: the outbox's tests (tests/e2e/test_slack_limits.py)",
    "rate_limits.per_method.slack-api-ref.txt": "rate tiers: bot/slack/limits.py and its tests",
    "response.chat.getPermalink.error.json": "recbot never calls chat.getPermalink",
    "response.chat.getPermalink.success.json": "recbot never calls chat.getPermalink",
    "response.chat.getPermalink.success_with_thread.json": "recbot never calls chat.getPermalink",
    "response.conversations.info.error.json": "recbot never calls conversations.info",
    "response.conversations.info.success.json": "recbot never calls conversations.info",
    "response.conversations.info.success_im.json": "recbot never calls conversations.info",
    "response.conversations.info.success_im_num_members.json": "recbot never calls conversations.info",
    "response.oauth.v2.access.success_with_sign_in_with_slack.json": "recbot does not use Sign in with Slack",
}
# Keys of a sample that the local Slack leaves out on purpose: (sample, path) -> why.
NOT_OURS = {
    ("socket_envelope.interactive.shortcut.json", ".payload.action_ts"): "a shortcut's own: recbot has none",
    ("socket_envelope.interactive.shortcut.json", ".payload.callback_id"): "a shortcut's own: recbot has none",
    ("socket_envelope.events_api.app_mention.json", ".payload.event_context"): "message events' only",
    ("socket_envelope.events_api.message.json", ".payload.event_context"): "message events' only",
    ("response.oauth.v2.access.success.json", ".authed_user.scope"): "recbot asks for no user scope",
    ("response.oauth.v2.access.success.json", ".authed_user.access_token"): "recbot asks for no user scope",
    ("response.oauth.v2.access.success.json", ".authed_user.token_type"): "recbot asks for no user scope",
    **{("response.oauth.v2.access.success_with_token_rotation.json", f".authed_user.{k}"):
       "recbot asks for no user scope" for k in ("scope", "access_token", "token_type", "expires_in", "refresh_token")},
}
# What is in these depends on what was said, not on Slack's shape.
CONTENT = {".event", ".blocks", ".view.blocks", ".view.state.values", ".message.attachments", ".payload.event"}


def sample(name: str) -> Any:
    """A sample: JSON, or the payload dict (or form body) as it stands in bolt-python's tests."""
    path = SAMPLES / name
    if not SAMPLES.exists():
        pytest.skip(f"{SAMPLES} is absent: the shared specs live beside the project, not in it")
    text = path.read_text()
    if name.endswith(".json"):
        return json.loads(text)
    start = text.find("= ")
    if text.lstrip().startswith('"event"'):  # lines cut from the middle of the dict: its top is above them
        body, start = "{" + text, 0
    else:
        body = text[start + 2:]
    literal = body[:_closing(body) + 1]
    value = ast.literal_eval(literal)
    return dict(parse_qsl(value)) if isinstance(value, str) else value


def _closing(text: str) -> int:
    """Where the bracket that opens `text` closes."""
    depth, quote = 0, None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote and text[i - 1] != "\\" else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError("unbalanced sample")


def kind_of(value: Any) -> str:
    return "object" if isinstance(value, dict) else "list" if isinstance(value, list) else "value"


def differences(theirs: Any, ours: Any, name: str, path: str = "") -> list[str]:
    """Where `ours` lacks a key of Slack's `theirs` or nests it otherwise (null stands for any value)."""
    if path in CONTENT or (name, path) in NOT_OURS:
        return []
    if theirs is None:
        return []
    if kind_of(theirs) != kind_of(ours):
        return [f"{path or '.'}: {kind_of(theirs)} in Slack's, {kind_of(ours) if ours is not None else 'null'} here"]
    if isinstance(theirs, dict):
        found = []
        for key, value in theirs.items():
            if key not in ours:
                if (name, f"{path}.{key}") not in NOT_OURS:
                    found.append(f"{path}.{key}: missing")
                continue
            found += differences(value, ours[key], name, f"{path}.{key}")
        return found
    if isinstance(theirs, list) and theirs and ours:
        return differences(theirs[0], ours[0], name, f"{path}[0]")
    return []


def same_shape(name: str, ours: Any) -> None:
    found = differences(sample(name), ours, name)
    assert not found, f"{name}: the local Slack differs from Slack: {found}"


def test_every_sample_is_held_to_something():
    if not SAMPLES.exists():
        pytest.skip(f"{SAMPLES} is absent: the shared specs live beside the project, not in it")
    here = Path(__file__).read_text()
    for path in sorted(SAMPLES.iterdir()):
        if path.name != "ORIGIN.md":
            assert path.name in ELSEWHERE or f'"{path.name}"' in here, f"{path.name} is compared nowhere"


def wire(stack) -> list[tuple[str, Any]]:
    """Every request the local Slack sends the app from now on, as (content type, decoded body)."""
    seen: list[tuple[str, Any]] = []

    async def keep(request: httpx.Request) -> None:
        raw, kind = request.content.decode(), request.headers.get("content-type", "")
        if kind.startswith("application/json"):
            seen.append(("json", json.loads(raw)))
        else:
            form = dict(parse_qsl(raw))
            seen.append(("payload", json.loads(form["payload"])) if "payload" in form else ("form", form))

    stack.http.event_hooks["request"].append(keep)
    return seen


async def test_what_the_local_slack_sends_the_app_is_shaped_as_slack_sends_it(tmp_path):
    if not SAMPLES.exists():
        pytest.skip(f"{SAMPLES} is absent: the shared specs live beside the project, not in it")
    async with linked_stack(tmp_path) as s:
        s.slack.installs.add_workspace(GRID_TEAM, "Grid", enterprise_id=ORG, channels=(GRID_CHANNEL,))
        s.slack.add_user(GRID_USER, "gina", team_id=GRID_TEAM)
        sent = wire(s)
        # a workspace of an Enterprise Grid org (bolt-python's samples are of one)
        await s.command(GRID_USER, "help", channel=GRID_CHANNEL)
        await s.click(GRID_USER, "rec_refresh_link", "nothing", channel=GRID_CHANNEL)
        await s.command(ALICE, "settings")
        form = await until(lambda: s.slack.views, message="the settings form")
        await s.submit(GRID_USER, form[-1]["view"], {})
        form_body, click, submission = sent[0][1], sent[1][1], sent[3][1]
        same_shape("slash_command.bolt-python.py.txt", form_body)
        same_shape("block_actions.bolt-python.py.txt", click)
        same_shape("view_submission.bolt-python.py.txt", submission)
        for kind, payload, name in (("slash_commands", form_body, "socket_envelope.slash_commands.json"),
                                    ("interactive", click, "socket_envelope.interactive.shortcut.json")):
            envelope = Envelope("env-1", kind, payload)
            envelope.attempts = 1
            same_shape(name, json.loads(envelope.message()))

        # an org-wide install: its events' authorization has no team, its buttons no team
        s.slack.installs.tokens["xoxb-org"] = Token(None, ORG)
        await s.event({"type": "app_home_opened", "user": GRID_USER, "channel": "D0G", "tab": "messages",
                       "event_ts": "1.000001"})
        await s.click(GRID_USER, "rec_refresh_link", "nothing", channel=GRID_CHANNEL)
        home, org_click = sent[-2][1], sent[-1][1]
        same_shape("app_home_opened.orgwide.bolt-python.py.txt", home)
        assert home["authorizations"][0]["team_id"] is None and home["authorizations"][0]["is_enterprise_install"]
        # Bolt reads such a click's workspace from user.team_id and its org from `enterprise` (reference/slack.md)
        assert org_click["team"] is None and org_click["user"]["team_id"] == GRID_TEAM
        assert org_click["enterprise"]["id"] == ORG and org_click["is_enterprise_install"] is True
        for name in ("socket_envelope.events_api.app_mention.json", "socket_envelope.events_api.message.json"):
            envelope = Envelope("env-2", "events_api", home)
            envelope.attempts = 1
            same_shape(name, json.loads(envelope.message()))

        # the events about an org-wide install itself come with the org alone
        await s.event({"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0NOBODY"]}}, org=ORG)
        same_shape("tokens_revoked.bolt-python.py.txt", sent[-1][1])
        await s.event({"type": "app_uninstalled"}, org=ORG)
        same_shape("app_uninstalled.bolt-python.py.txt", sent[-1][1])

        same_shape("socket_hello.json", s.slack.socket.hello())
        same_shape("socket_disconnect.json", s.slack.socket.goodbye("too_many_websockets"))


async def answer(call) -> dict[str, Any]:
    try:
        return (await call).data
    except SlackApiError as exc:
        return exc.response.data


async def test_what_the_local_slack_answers_is_shaped_as_slack_answers_it(tmp_path):
    if not SAMPLES.exists():
        pytest.skip(f"{SAMPLES} is absent: the shared specs live beside the project, not in it")
    async with linked_stack(tmp_path) as s:
        api = f"{s.slack_server.url}/api/"
        bot = AsyncWebClient(token=BOT_TOKEN, base_url=api)
        # shapes, not rates: history is Tier 1 (one call a minute, 6 s at TEST_SCALE), called five times here;
        # the limits have tests of their own (test_local_slack_rates.py, e2e/test_slack_limits.py)
        s.slack.limits.on = False
        posted = await answer(bot.chat_postMessage(channel=CHANNEL, text="hello"))
        same_shape("response.chat.postMessage.success.json", posted)
        same_shape("response.chat.update.success.json",
                   await answer(bot.chat_update(channel=CHANNEL, ts=posted["ts"], text="hello again")))
        same_shape("response.chat.postEphemeral.success.json",
                   await answer(bot.chat_postEphemeral(channel=CHANNEL, user=ALICE, text="psst")))
        same_shape("response.conversations.history.success.json",
                   await answer(bot.conversations_history(channel=CHANNEL, limit=1)))
        same_shape("response.conversations.history.success_with_timestamp_inclusive.json",
                   await answer(bot.conversations_history(channel=CHANNEL, limit=1, latest=posted["ts"],
                                                         inclusive=True)))
        same_shape("response.conversations.history.success_with_formatted_messages.json",
                   await answer(bot.conversations_history(channel=CHANNEL, limit=1)))
        same_shape("response.users.info.success.json", await answer(bot.users_info(user=ALICE)))
        view = {"type": "modal", "title": {"type": "plain_text", "text": "Form"},
                "submit": {"type": "plain_text", "text": "Save"}, "blocks": []}
        same_shape("response.views.open.success.json",
                   await answer(bot.views_open(trigger_id=s.slack.trigger(ALICE), view=view)))
        same_shape("response.views.publish.success.json",
                   await answer(bot.views_publish(user_id=ALICE, view={"type": "home", "blocks": []})))
        same_shape("response.auth.test.success.json", await answer(bot.auth_test()))
        same_shape("response.auth.test.success_with_bot_token.json", await answer(bot.auth_test()))
        same_shape("response.apps.connections.open.success.json",
                   await answer(AsyncWebClient(base_url=api).apps_connections_open(app_token=s.slack.socket.app_token)))
        s.slack.installs.rotation = True
        for name, rotation in (("response.oauth.v2.access.success.json", False),
                               ("response.oauth.v2.access.success_with_token_rotation.json", True)):
            s.slack.installs.rotation = rotation
            s.slack.installs.add_workspace(GRID_TEAM, "Grid", enterprise_id=ORG)
            s.slack.installs.codes["code"] = {"team_id": GRID_TEAM, "enterprise_id": ORG, "user": ALICE,
                                              "scope": "commands", "at": time.time()}
            same_shape(name, await answer(AsyncWebClient(base_url=api).oauth_v2_access(
                client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code="code")))

        # refusals: {"ok": false, "error"}, with response_metadata.messages where Slack explains an argument
        s.slack.not_member.add("C0GONE")
        too_big = {"type": "modal", "title": {"type": "plain_text", "text": "Form"},
                   "blocks": [{"type": "divider"}] * 101}
        refusals = {
            "response.chat.postMessage.error.json": bot.chat_postMessage(channel="C0GONE", text="x"),
            "response.chat.update.error.json": bot.chat_update(channel=CHANNEL, ts="1.000000", text="x"),
            "response.chat.postEphemeral.error.json": bot.chat_postEphemeral(channel="C0GONE", user=ALICE, text="x"),
            "response.conversations.history.error.json": bot.conversations_history(channel="C0GONE"),
            "response.users.info.error.json": bot.users_info(user="U0NOBODY"),
            "response.views.open.error.json": bot.views_open(trigger_id=s.slack.trigger(ALICE), view=too_big),
            "response.views.publish.error.json": bot.views_publish(user_id=ALICE, view={**too_big, "type": "home"}),
            "response.auth.test.error_with_no_token.json": AsyncWebClient(base_url=api).auth_test(),
            "response.oauth.v2.access.error.json": AsyncWebClient(base_url=api).oauth_v2_access(
                client_id="nobody", client_secret="x", code="x"),
        }
        for name, call in refusals.items():
            refused = await answer(call)
            assert refused["ok"] is False, (name, refused)
            same_shape(name, refused)
        s.slack.installs.strict = True
        same_shape("response.auth.test.error.json", await answer(AsyncWebClient(token="xoxb-forged",
                                                                                base_url=api).auth_test()))
