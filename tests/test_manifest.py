"""manifest.yml and its Socket Mode twin: valid against Slack's schemas, and in step with the code."""

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot.service.workflows import STEPS
from bot.slack.actions import BUTTON_ACTIONS
from bot.slack.blocks import BUTTONS, LABEL
from bot.slack.oauth import SCOPES
from tests.conftest import shared_spec

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ["manifest.yml", "manifest-socket.yml"]


@pytest.mark.parametrize("name", MANIFESTS)
@pytest.mark.parametrize("schema", ["slack-manifest.schema.1.0.0.json", "schemastore-slack-app-manifest.json"])
def test_valid_against_the_schema(name, schema):
    validator = jsonschema.Draft7Validator(json.loads(shared_spec(schema).read_text()))
    manifest = yaml.safe_load((ROOT / name).read_text())
    if schema.startswith("schemastore"):  # SchemaStore's schema predates custom steps: the rest, against it
        manifest = {k: v for k, v in manifest.items() if k != "functions"}
        manifest["settings"] = {k: v for k, v in manifest["settings"].items() if k != "function_runtime"}
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(manifest)]
    assert errors == []


def official_functions_validator():
    schema = json.loads(shared_spec("slack-manifest.schema.1.0.0.json").read_text())
    return jsonschema.Draft7Validator({**schema, "$ref": "#/definitions/app-manifests.v1.hermes.functions"})


@pytest.mark.parametrize("name", MANIFESTS)
def test_the_workflow_steps_are_slacks_functions_with_the_inputs_recbot_trusts(name):
    manifest = yaml.safe_load((ROOT / name).read_text())
    functions = manifest["functions"]
    assert list(official_functions_validator().iter_errors(functions)) == []
    assert set(functions) == set(STEPS)
    assert manifest["_metadata"]["major_version"] == 2  # a workflow app (custom steps) is a v2 manifest
    assert manifest["settings"]["function_runtime"] == "remote"
    for callback_id, step in functions.items():
        inputs, outputs = step["input_parameters"], step["output_parameters"]
        assert inputs["channel_id"] == {**inputs["channel_id"], "type": "slack#/types/channel_id", "is_required": True}
        assert inputs["interactivity"]["type"] == "slack#/types/interactivity"
        assert not any(spec["type"] == "slack#/types/user_id" for spec in inputs.values())  # nothing names the actor
        timed = {"minutes"} if callback_id == "pause_recording" else set()
        assert set(inputs) == {"channel_id", "interactivity"} | timed
        assert {n: (o["type"], o["is_required"]) for n, o in outputs.items()} == {
            "recording_id": ("string", True), "status": ("string", True)}
    assert yaml.safe_load((ROOT / "manifest.yml").read_text())["functions"] == functions


def test_a_broken_step_is_caught():
    functions = yaml.safe_load((ROOT / "manifest.yml").read_text())["functions"]
    del functions["start_recording"]["output_parameters"]
    functions["stop_recording"]["input_parameters"]["channel_id"].pop("type")
    assert len(list(official_functions_validator().iter_errors(functions))) == 2


def test_a_broken_manifest_is_caught():
    validator = jsonschema.Draft7Validator(json.loads(shared_spec("slack-manifest.schema.1.0.0.json").read_text()))
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    manifest["features"]["slash_commands"][0]["command"] = "rec"
    assert list(validator.iter_errors(manifest))


def listened_to():
    source = "\n".join(p.read_text() for p in (ROOT / "bot" / "slack").glob("*.py"))
    return set(re.findall(r'app\.command\("([^"]+)"\)', source)), set(re.findall(r'app\.event\("([^"]+)"\)', source))


@pytest.mark.parametrize("name", MANIFESTS)
def test_every_command_and_event_listened_to_is_declared_and_the_reverse(name):
    manifest = yaml.safe_load((ROOT / name).read_text())
    commands, events = listened_to()
    assert {c["command"] for c in manifest["features"]["slash_commands"]} == commands == {"/rec"}
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == events | {"function_executed"}  # steps
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True  # app_home_opened needs it


def test_every_button_the_bot_shows_has_a_listener_and_the_reverse():
    shown = {f"rec_{a}" for actions in BUTTONS.values() for a in actions} | {"rec_snooze"}
    assert all(BUTTON_ACTIONS.match(a) for a in shown)
    assert {f"rec_{a}" for a in LABEL} == shown
    assert not BUTTON_ACTIONS.match("xrec_pause") and not BUTTON_ACTIONS.match("rec_pause_not")


def test_fewest_scopes_and_modes():
    http = yaml.safe_load((ROOT / "manifest.yml").read_text())
    socket = yaml.safe_load((ROOT / "manifest-socket.yml").read_text())
    assert http["oauth_config"]["scopes"]["bot"] == ["commands", "chat:write", "users:read", "channels:history",
                                                     "groups:history", "calls:write", "files:write"] == list(SCOPES)
    assert socket["oauth_config"]["scopes"]["bot"] == http["oauth_config"]["scopes"]["bot"]
    assert http["oauth_config"]["redirect_urls"] == ["https://recbot.example.com/slack/oauth_redirect"]
    assert http["settings"]["socket_mode_enabled"] is False and socket["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in json.dumps(socket) and "url" not in socket["features"]["slash_commands"][0]
    assert socket["features"]["slash_commands"][0]["usage_hint"] == http["features"]["slash_commands"][0]["usage_hint"]
