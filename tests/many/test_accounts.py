"""Each workspace's own platform account (`/rec connect`), and what no workspace may do to another's."""

import json

from bot.emulator.app import Credentials
from bot.models import Status
from tests.conftest import ALICE, CHANNEL, until
from tests.e2e.helpers import ack_text, run, status_is
from tests.e2e.test_pipeline import sign
from tests.many.test_install import BETA, BETA_CHANNEL, BETA_USER, many, posts_in, record_once

BETA_ADMIN = "U0BADMIN"
BETA_ACCOUNT = Credentials(org_id="beta-org", api_key="beta-key-0123456789", account_id="beta-account",
                           app_id="betaapp0000000000000000000000000b", token="beta-token-0123456789")


def with_beta(tmp_path):
    s = many(tmp_path)
    s.slack.add_user(BETA_ADMIN, "bo", admin=True, team_id=BETA)
    s.beta = s.emulator.add_account(BETA_ACCOUNT)
    return s


def connect_values(platform="dyte", public_url=None, **fields):
    values = {"platform": {"value": {"type": "static_select", "selected_option": {"value": platform}}},
              "public_url": {"value": {"type": "plain_text_input", "value": public_url}}}
    for name, value in fields.items():
        values[name] = {"value": {"type": "plain_text_input", "value": value}}
    return values


async def open_connect_form(s, user=BETA_ADMIN):
    before = len(s.slack.views)
    response = await s.command(user, "connect", channel=BETA_CHANNEL)
    assert response.status_code == 200
    form = await until(lambda: s.slack.views[before:], message="the connect form")
    return form[0]["view"]


async def connected(s, **overrides) -> str:
    """Connect Beta's own Dyte org through the form; returns the DM recbot answered with."""
    view = await open_connect_form(s)
    dms = len(posts_in(s, BETA_ADMIN))
    fields = {"org_id": BETA_ACCOUNT.org_id, "api_key": BETA_ACCOUNT.api_key} | overrides
    response = await s.submit(BETA_ADMIN, view, connect_values(public_url=s.bot_url, **fields))
    assert response.status_code == 200 and not response.text, response.text
    found = await until(lambda: posts_in(s, BETA_ADMIN)[dms:], message="recbot's answer")
    return found[0]["args"]["text"]


async def test_connect_checks_the_credentials_keeps_them_sealed_and_registers_the_webhook(tmp_path, caplog):
    caplog.set_level("DEBUG")
    async with with_beta(tmp_path) as s:
        await s.install()
        await s.install(BETA)
        _, refused = await run(s, BETA_USER, "connect", channel=BETA_CHANNEL)
        assert "Only workspace admins" in refused
        view = await open_connect_form(s)
        assert view["callback_id"] == "rec_connect"
        assert s.bot_url in json.dumps(view)  # the public URL, learnt from the install pages, offered
        # a field missing: said on the field, before anything is tried
        missing = await s.submit(BETA_ADMIN, view, connect_values(public_url=s.bot_url, org_id="beta-org"))
        assert json.loads(missing.text)["errors"] == {"api_key": "Needed for Dyte."}
        # wrong credentials: the platform says no, nothing is kept
        answer = await connected(s, api_key="not-the-key")
        assert "did not accept those credentials" in answer and "nothing changed" in answer
        assert s.runtime.store.workspaces.account_of(BETA) is None
        answer = await connected(s)
        assert "Connected this workspace's own Dyte account" in answer and "(registered)" in answer
        account = s.runtime.store.workspaces.account_of(BETA)
        assert account["credentials"] == {"org_id": "beta-org", "api_key": BETA_ACCOUNT.api_key}
        [hook] = s.beta.webhooks.values()
        assert hook["url"] == f"{s.bot_url}/webhooks/{account['route']}"
        assert not s.emulator.platform.webhooks or all(h["url"] == s.webhook_url
                                                       for h in s.emulator.platform.webhooks.values())
        # connecting again keeps the route and the webhook
        assert "(already registered)" in await connected(s)
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("recbot.sqlite3*"))
        assert BETA_ACCOUNT.api_key.encode() not in raw
    assert BETA_ACCOUNT.api_key not in caplog.text


async def test_a_connected_workspace_records_on_its_own_account_from_command_to_download_link(tmp_path):
    async with with_beta(tmp_path) as s:
        await s.install()
        await s.install(BETA)
        await connected(s)
        _, answer = await run(s, BETA_USER, "new Beta weekly", channel=BETA_CHANNEL)
        assert "Created and linked" in answer
        link = s.runtime.store.link(BETA_CHANNEL)
        assert link.meeting_id in s.beta.meetings and link.meeting_id not in s.emulator.platform.meetings
        await s.control(f"meetings/{link.meeting_id}/join?account=beta-org", {"name": "Ann"})
        await run(s, BETA_USER, "start", channel=BETA_CHANNEL)
        [rec] = await until(lambda: s.runtime.store.recordings_of_meeting(link.meeting_id), message="the recording")
        assert rec.account == link.account != ""
        await status_is(s, rec.id, Status.RECORDING)
        await run(s, BETA_USER, "stop", channel=BETA_CHANNEL)
        await status_is(s, rec.id, Status.UPLOADED, timeout=10)
        card = s.slack.channel(BETA_CHANNEL)[0]
        await until(lambda: any("ownload" in m.text for m in s.slack.thread(BETA_CHANNEL, card.ts)),
                    message="the download link in Beta's thread")
        routes = {d["account"] for d in s.runtime.store.db.all("SELECT account FROM deliveries")}
        assert routes == {link.account}  # every webhook came on Beta's own route
        # the other workspace still records on the environment's account
        other = await record_once(s, ALICE, CHANNEL)
        assert s.runtime.store.recording(other).account == ""


async def test_disconnect_leaves_links_on_that_account_saying_so(tmp_path):
    async with with_beta(tmp_path) as s:
        await s.install(BETA)
        await connected(s)
        await run(s, BETA_USER, "new", channel=BETA_CHANNEL)
        _, refused = await run(s, BETA_USER, "disconnect", channel=BETA_CHANNEL)
        assert "Only workspace admins" in refused
        _, answer = await run(s, BETA_ADMIN, "disconnect", channel=BETA_CHANNEL)
        assert "Disconnected" in answer and "1 channel(s)" in answer
        _, answer = await run(s, BETA_USER, "start", channel=BETA_CHANNEL)
        assert "disconnected" in answer and "/rec connect" in answer
        _, again = await run(s, BETA_ADMIN, "disconnect", channel=BETA_CHANNEL)
        assert "nothing to disconnect" in again
        route = s.runtime.store.link(BETA_CHANNEL).account
        gone = await s.http.post(f"{s.bot_url}/webhooks/{route}", content=b"{}")
        assert gone.status_code == 404


async def test_no_workspace_can_link_control_or_hear_anothers(tmp_path):
    async with with_beta(tmp_path) as s:
        await s.install()
        await s.install(BETA)
        alpha_rec = await record_once(s, ALICE, CHANNEL)
        alpha_meeting = s.runtime.store.recording(alpha_rec).meeting_id
        # a meeting id of another workspace, on the shared default account: not found, not linked
        _, answer = await run(s, BETA_USER, f"link {alpha_meeting}", channel=BETA_CHANNEL)
        assert "No meeting" in answer and s.runtime.store.link(BETA_CHANNEL) is None
        # ... and on Beta's own account, where it does not exist
        await connected(s)
        _, answer = await run(s, BETA_USER, f"link {alpha_meeting}", channel=BETA_CHANNEL)
        assert "No meeting" in answer and s.runtime.store.link(BETA_CHANNEL) is None
        # a button value copied from Alpha's card, pressed in Beta's channel and on Beta's App Home
        before = len(s.slack.ephemeral_for(BETA_USER))
        await s.click(BETA_USER, "rec_pause", alpha_rec, channel=BETA_CHANNEL)
        reply = await until(lambda: s.slack.ephemeral_for(BETA_USER)[before:], message="the refusal")
        assert "does not belong" in reply[0]["text"]
        response = await s.click(BETA_USER, "rec_stop", alpha_rec, home=True)
        assert response.status_code == 200
        await until(lambda: s.runtime.store.db.all("SELECT 1 FROM audit WHERE user_id = ? AND action = "
                                                   "'button:stop' AND outcome = 'refused'", BETA_USER),
                    message="the home press refused")
        assert s.runtime.store.recording(alpha_rec).status is Status.RECORDING
        # a webhook of one account on another's route: verified, stored, and never applied
        route = s.runtime.store.workspaces.account_of(BETA)["route"]
        stop = {"event": "recording.statusUpdate", "recording": {"id": alpha_rec, "meetingId": alpha_meeting,
                                                                 "status": "UPLOADED", "outputFileName": "x"},
                "meeting": {"id": alpha_meeting}}
        body, headers = sign(s, stop, uuid="cross-1")
        answered = await s.http.post(f"{s.bot_url}/webhooks/{route}", content=body, headers=headers)
        assert answered.status_code == 200
        outcome = await until(lambda: s.runtime.store.db.scalar(
            "SELECT outcome FROM deliveries WHERE delivery_id = 'cross-1' AND processed_at IS NOT NULL"),
            message="the delivery processed")
        assert outcome.startswith("refused")
        assert s.runtime.store.recording(alpha_rec).status is Status.RECORDING
        # nothing of Alpha's was ever posted with Beta's token, nor the reverse
        assert {c["team"] for c in posts_in(s, CHANNEL)} == {"T0DEMO"}


async def test_connect_without_a_secret_key_in_one_workspace_mode_says_why(tmp_path):
    from tests.conftest import ADMIN, make_stack

    async with make_stack(tmp_path) as s:
        response = await s.command(ADMIN, "connect")
        assert response.status_code == 200 and ack_text(response) == ""
        reply = await until(lambda: s.slack.ephemeral_for(ADMIN), message="the answer")
        assert "REC_SECRET_KEY" in reply[0]["text"]
