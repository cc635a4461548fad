"""Hypothesis: any /rec text, any webhook body, any button value: a clean answer, never a crash."""

import json
import time
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import load_settings
from bot.emulator.delivery import Signer
from bot.models import Command
from bot.slack.grammar import Unparsed, parse
from bot.web import Options, create_app
from bot.workbench.stack import BOT_TOKEN, SIGNING_SECRET
from tests.conftest import served

SIGNER = Signer()
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(st.text())
def test_any_text_is_a_command_or_usage(text):
    result = parse(text)
    assert isinstance(result, Command | Unparsed)
    if isinstance(result, Unparsed):
        assert result.text.startswith(result.message)


@FUZZ
@given(st.lists(st.sampled_from(["pause", "stop", "resume", "#1", "#99999999", "for", "10m", "<@U1>", "--multi",
                                 "link", "start", "<http://x|y>", "0s", "25h", "`", "*", "\u2014multi"]), max_size=6))
def test_any_sequence_of_grammar_words(words):
    assert isinstance(parse(" ".join(words)), Command | Unparsed)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": "http://127.0.0.1:9/",
           "DYTE_ORG_ID": "o", "DYTE_API_KEY": "k", "DYTE_API_URL": "http://127.0.0.1:9/v2",
           "REC_DATABASE": str(folder / "fuzz.sqlite3")}
    key = SIGNER.key.public_key()
    app = create_app(load_settings(env), Options(webhook_key=key, start_workers=False))
    with served(app) as c:
        c.runtime = app.state.runtime
        yield c


def deliveries(client) -> int:
    return client.runtime.store.db.all("SELECT COUNT(*) AS n FROM deliveries")[0]["n"]


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4), max_leaves=12)
webhookish = st.fixed_dictionaries({"event": st.sampled_from(["recording.statusUpdate", "meeting.ended",
                                                              "meeting.started", "x"])}, optional={
    "recording": st.dictionaries(st.sampled_from(["id", "status", "meetingId", "fileSize", "stoppedTime"]),
                                 json_values, max_size=5),
    "meeting": st.dictionaries(st.sampled_from(["id", "sessionId", "title", "endedAt"]), json_values, max_size=4)})


@FUZZ
@given(body=st.one_of(st.binary(max_size=300), json_values.map(lambda v: json.dumps(v).encode()),
                      webhookish.map(lambda v: json.dumps(v).encode())), signed=st.booleans())
def test_any_webhook_body_gets_2xx_400_401_or_413_and_unsigned_changes_nothing(client, body, signed):
    before = deliveries(client)
    headers = {"content-type": "application/json"}
    if signed:
        headers["dyte-signature"] = SIGNER.sign(body)
    response = client.post("/webhooks", content=body, headers=headers)
    assert response.status_code in (200, 400, 401, 413), response.text
    if not signed:
        assert response.status_code == 401 and deliveries(client) == before
    if response.status_code != 200:
        assert deliveries(client) == before


def signed_form(raw: str) -> dict:
    from slack_sdk.signature import SignatureVerifier

    ts = str(int(time.time()))
    return {"content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": ts,
            "x-slack-signature": SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=raw)}


@FUZZ
@given(value=st.one_of(st.text(max_size=200), st.integers().map(str), st.just("")),
       action=st.sampled_from(["rec_pause", "rec_resume", "rec_stop", "rec_refresh_link", "rec_snooze"]))
def test_any_button_value_is_refused_cleanly(client, value, action):
    payload = {"type": "block_actions", "user": {"id": "U0X", "team_id": "T0"}, "team": {"id": "T0"},
               "channel": {"id": "C0X"}, "container": {"type": "message"},
               "trigger_id": f"{time.time_ns()}.1",  # each its own, as Slack gives: a repeat is dropped
               "response_url": "http://127.0.0.1:9/r", "actions": [{"action_id": action, "value": value}]}
    raw = urlencode({"payload": json.dumps(payload)})
    before = client.runtime.store.db.all("SELECT COUNT(*) AS n FROM audit WHERE outcome = 'refused'")[0]["n"]
    response = client.post("/slack/events", content=raw, headers=signed_form(raw))
    assert response.status_code == 200
    deadline = time.monotonic() + 2  # the refusal is recorded by the work spawned after the ack
    while time.monotonic() < deadline:
        after = client.runtime.store.db.all("SELECT COUNT(*) AS n FROM audit WHERE outcome = 'refused'")[0]["n"]
        if after == before + 1:
            break
        time.sleep(0.01)
    assert after == before + 1
    assert client.runtime.store.db.all("SELECT COUNT(*) AS n FROM recordings")[0]["n"] == 0
