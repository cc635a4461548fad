"""Enterprise Grid as Slack sends it: an org-wide install's events carry `authorizations[0]` with no team,
its interactive payloads `team: null`; workspaces of the org are granted and revoked with events."""

import json

from bot.models import Status
from bot.slack.limits import Limit
from tests.conftest import make_stack, until
from tests.e2e.helpers import run, status_is
from tests.many.test_install import posts_in, record_once

ORG, ONE, TWO = "E0ORG", "T0GRID1", "T0GRID2"
GINA, GUS = "U0G1", "U0G2"  # one person in each workspace of the org


async def grid(s):
    """Two workspaces of one org, recbot installed org-wide."""
    s.slack.installs.add_workspace(ONE, "Grid One", enterprise_id=ORG, channels=("C0GRID1",))
    s.slack.installs.add_workspace(TWO, "Grid Two", enterprise_id=ORG, channels=("C0GRID2",))
    s.slack.add_user(GINA, "gina", team_id=ONE)
    s.slack.add_user(GUS, "gus", team_id=TWO)
    done = await s.install(org=ORG)
    assert "every workspace of" in done.text, done.text


async def test_app_home_of_an_org_wide_install_opens_from_an_event_whose_authorization_has_no_team(tmp_path):
    async with make_stack(tmp_path, oauth=True) as s:
        await grid(s)
        rec_id = await record_once(s, GINA, "C0GRID1")
        response = await s.event({"type": "app_home_opened", "user": GINA, "channel": "D0G1", "tab": "home",
                                  "event_ts": "1.000001"})
        assert response.status_code == 200
        home = await until(lambda: s.slack.homes.get(GINA), message="App Home published")
        assert "<#C0GRID1>" in json.dumps(home) and "rec_pause" in json.dumps(home)
        publish = [c for c in s.slack.calls if c["method"] == "views.publish" and c["ok"]]
        assert publish[-1]["team"] == ORG  # with the org's own token: the only one Slack gave recbot
        # queued under Gina's workspace, where the event occurred, not under the org (the chaos run over four
        # workspaces, docs/reliability.md); scheduled, as a call that names no channel, for the org (below)
        queued = s.runtime.store.db.one("SELECT team_id, enterprise_id FROM outbox WHERE kind = 'home' "
                                        "ORDER BY id DESC LIMIT 1")
        assert queued is not None and (queued["team_id"], queued["enterprise_id"]) == (ONE, ORG)
        # the Pause button on that App Home: a payload with `team: null`, acted on like any other
        await s.click(GINA, "rec_pause", rec_id, home=True)
        await status_is(s, rec_id, Status.PAUSED)


async def test_a_workspace_removed_from_the_org_install_gets_nothing_more_and_is_served_again_once_added(tmp_path):
    async with make_stack(tmp_path, oauth=True) as s:
        await grid(s)
        one = await record_once(s, GINA, "C0GRID1")
        two = await record_once(s, GUS, "C0GRID2")
        await until(lambda: len(posts_in(s, "C0GRID2")) >= 2, message="the card and its first reply in Grid Two")
        store = s.runtime.store

        answered = await s.team_access(ORG, [TWO], granted=False)
        assert answered.status_code == 200
        await until(lambda: any(a["action"] == "team_access_revoked" and a["target"] == TWO
                                for a in store.audit_log()), message="the revocation audited")
        assert store.workspaces.find_install(ORG, ONE) is not None  # the org's install serves the others still
        assert store.link("C0GRID2") is not None  # and the history stays

        # the meeting in Grid Two ends: nothing reaches Slack there (Slack would refuse it), Grid One carries on
        posted_two = len(posts_in(s, "C0GRID2"))
        last = store.db.scalar("SELECT MAX(id) FROM outbox")
        await s.control(f"meetings/{store.recording(two).meeting_id}/end", {})
        await status_is(s, two, Status.UPLOADED)
        await until(lambda: (rows := store.db.all("SELECT state FROM outbox WHERE team_id = ? AND id > ?", TWO, last))
                    and all(r["state"] in ("failed", "dropped") for r in rows), message="Grid Two's later rows ended")
        assert len(posts_in(s, "C0GRID2")) == posted_two
        before_one = len(posts_in(s, "C0GRID1"))
        await s.click(GINA, "rec_pause", one, channel="C0GRID1")
        await status_is(s, one, Status.PAUSED)
        await until(lambda: len(posts_in(s, "C0GRID1")) > before_one, message="Grid One's pause in its thread")

        # added back: audited, and the workspace's commands are answered and its posts go out again
        assert (await s.team_access(ORG, [TWO], granted=True)).status_code == 200
        await until(lambda: any(a["action"] == "team_access_granted" and a["target"] == TWO
                                for a in store.audit_log()), message="the grant audited")
        await record_once(s, GUS, "C0GRID2")
        await until(lambda: len(posts_in(s, "C0GRID2")) > posted_two, message="a new card in Grid Two")


async def test_the_settings_form_of_an_org_wide_install_opens_and_saves_with_no_team_in_the_payload(tmp_path):
    async with make_stack(tmp_path, oauth=True) as s:
        await grid(s)
        await record_once(s, GINA, "C0GRID1")  # Gina linked #grid1: she controls it
        await s.command(GINA, "settings", channel="C0GRID1")
        opened = await until(lambda: s.slack.views, message="the settings form")
        view = opened[0]["view"]
        assert view["private_metadata"] == "C0GRID1"
        values = {"auto-record": {"value": {"type": "checkboxes", "selected_options": [{"value": "on"}]}}}
        saved = await s.submit(GINA, view, values)  # team: null, the workspace in view.app_installed_team_id
        assert saved.status_code == 200 and not saved.text
        await until(lambda: s.runtime.store.notes.settings("C0GRID1").get("auto-record") == "on", message="saved")


async def test_a_workflow_step_of_another_workspace_of_the_org_cannot_act_on_this_ones_recording(tmp_path):
    """An org-wide install's function_executed carries no team in authorizations[0]: the step still belongs to
    the workspace it ran in, so an admin of Grid Two cannot stop Grid One's recording by naming its channel,
    and a scheduled step there cannot either, though Grid One's channel allowed its own workflows."""
    async with make_stack(tmp_path, oauth=True) as s:
        await grid(s)
        s.slack.users[GUS]["is_admin"] = True  # an admin of Grid Two, nothing in Grid One
        rec_id = await record_once(s, GINA, "C0GRID1")
        await run(s, GINA, "settings workflows on", channel="C0GRID1")
        for user in (GUS, None):
            event, answer = await s.run_step("stop_recording", channel="C0GRID1", user=user, team=TWO)
            assert answer.status_code == 200
            assert event["inputs"]["channel_id"] == "C0GRID1"
            execution = s.slack.executions[event["function_execution_id"]]
            await until(lambda e=execution: e["state"] != "running", message="the step's end")
            assert execution["state"] == "failed" and "workspace" in execution["error"], execution
        assert s.runtime.store.recording(rec_id).status is Status.RECORDING
        # Grid One's own controller still can, from Grid One
        event, _ = await s.run_step("stop_recording", channel="C0GRID1", user=GINA, team=ONE)
        execution = s.slack.executions[event["function_execution_id"]]
        await until(lambda: execution["state"] != "running", message="the step's end")
        assert execution["state"] == "completed", execution
        assert s.runtime.store.recording(rec_id).status in (Status.UPLOADING, Status.UPLOADED)


def home_opened(user: str, n: int) -> dict:
    return {"type": "app_home_opened", "user": user, "channel": f"D0{user}", "tab": "home", "event_ts": f"{n}.000001"}


async def test_after_a_429_on_an_org_wide_installs_app_home_no_workspace_of_the_org_publishes_in_its_window(tmp_path):
    """An org-wide token's call that names no channel (views.publish, users.info, files.getUploadURLExternal)
    counts, as the local Slack reads Slack's silence on it, for the whole org: after Grid Two's App Home is
    answered 429, Grid One's waits out the window too (the chaos run's calls inside a Retry-After window were
    the org's uploads, each workspace held apart: docs/reliability.md)."""
    async with make_stack(tmp_path, oauth=True) as s:
        await grid(s)
        s.slack.add_user("U0G1B", "gia", team_id=ONE)
        s.slack.limits.tighter["views.publish"] = Limit(1, 3.0)
        await s.event(home_opened(GINA, 1))
        await until(lambda: s.slack.homes.get(GINA), message="Gina's App Home")
        await s.event(home_opened(GUS, 2))  # the org's second views.publish within 3 s: 429
        await until(lambda: s.slack.limits.answered_429 >= 1, message="Slack's 429 on Gus's App Home")
        await s.event(home_opened("U0G1B", 3))  # Grid One, inside the org's window
        await until(lambda: s.slack.homes.get(GUS) and s.slack.homes.get("U0G1B"), timeout=15,
                    message="both App Homes, once the window is over")
        assert s.slack.limits.inside == []


async def test_after_a_429_on_users_info_of_an_org_wide_install_no_workspace_of_the_org_asks_in_its_window(tmp_path):
    """The admin question (users.info, a direct call) of an org-wide install is held for the whole org after a
    429, as the outbox's calls that name no channel are; and one is asked at a time."""
    async with make_stack(tmp_path, oauth=True) as s:
        await grid(s)
        for user, team in (("U0G1B", ONE), ("U0G1C", ONE), ("U0G2B", TWO)):
            s.slack.add_user(user, user.lower(), team_id=team)
        one, two = await record_once(s, GINA, "C0GRID1"), await record_once(s, GUS, "C0GRID2")
        s.slack.limits.tighter["users.info"] = Limit(1, 4.0)
        _, reply = await run(s, "U0G1B", "stop", channel="C0GRID1")  # not the linker: only an admin could
        assert reply.startswith(":no_entry:"), reply
        _, reply = await run(s, "U0G2B", "stop", channel="C0GRID2")  # the org's second within 4 s: 429
        assert "slow down" in reply, reply
        _, reply = await run(s, "U0G1C", "stop", channel="C0GRID1")  # Grid One, inside the org's window
        assert "slow down" in reply, reply
        assert s.slack.limits.answered_429 == 1 and s.slack.limits.inside == []
        for rec in (one, two):
            assert s.runtime.store.recording(rec).status is Status.RECORDING
