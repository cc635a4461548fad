"""The local Slack keeps workspaces apart as Slack does: it records which workspace's token made each call,
knows whose each channel and person is, and refuses a call with a token that cannot see them (counted in
`crossed`, and in its dump for runs in another process)."""

import httpx

from bot.slack.limits import Limit
from bot.workbench.slack_api import FakeSlack
from bot.workbench.slack_oauth import CLIENT_ID, CLIENT_SECRET


async def install(http: httpx.AsyncClient, **choice: str) -> dict:
    """oauth.v2.access's answer through Slack's own steps: the authorize page (a workspace, or an org), then the
    code exchanged."""
    allowed = await http.get("/oauth/v2/authorize", params={"client_id": CLIENT_ID, "state": "s",
                                                            "redirect_uri": "http://recbot.local/done", **choice})
    code = httpx.URL(allowed.headers["location"]).params["code"]
    answer = (await http.post("/api/oauth.v2.access", data={"code": code}, auth=(CLIENT_ID, CLIENT_SECRET))).json()
    assert answer["ok"], answer
    return answer


async def installed(http: httpx.AsyncClient, **choice: str) -> str:
    """A token through Slack's own steps."""
    return (await install(http, **choice))["access_token"]


TWO = [{"team_id": "T0A", "name": "Alpha"}, {"team_id": "T0B", "name": "Beta"}]


async def refresh(http: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    grant = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return await http.post("/api/oauth.v2.access", data=grant, auth=(CLIENT_ID, CLIENT_SECRET))


async def call(http: httpx.AsyncClient, token: str, method: str, **args: str) -> dict:
    return (await http.post(f"/api/{method}", data=args, headers={"authorization": f"Bearer {token}"})).json()


async def test_a_token_reaches_its_own_workspace_and_its_orgs_and_nothing_else_each_refusal_counted():
    slack = FakeSlack()
    slack.url = "http://slack.local"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=slack.app), base_url=slack.url) as http:
        configured = await http.post("/_slack/workspaces", json={"strict": True, "workspaces": [
            {"team_id": "T0ALPHA", "name": "Alpha", "channels": ["C0A"], "users": [{"id": "U0A", "name": "ann"}]},
            {"team_id": "T0BETA", "name": "Beta", "channels": ["C0B"], "users": [{"id": "U0B", "name": "bea"}]},
            {"team_id": "T0G1", "name": "Grid One", "enterprise_id": "E0G", "channels": ["C0G1"],
             "users": [{"id": "U0G1", "name": "gina"}]},
            {"team_id": "T0G2", "name": "Grid Two", "enterprise_id": "E0G", "channels": ["C0G2"],
             "users": [{"id": "U0G2", "name": "gus"}]}]})
        assert configured.json()["ok"]
        alpha, beta = await installed(http, team="T0ALPHA"), await installed(http, team="T0BETA")
        org, grid_one = await installed(http, org="E0G"), await installed(http, team="T0G1")

        for token, channel in ((alpha, "C0A"), (beta, "C0B"), (org, "C0G1"), (org, "C0G2"), (grid_one, "C0G1")):
            assert (await call(http, token, "chat.postMessage", channel=channel, text="hi"))["ok"], (token, channel)
        assert (await call(http, alpha, "users.info", user="U0A"))["ok"]
        assert (await call(http, org, "users.info", user="U0G2"))["ok"]
        assert (await call(http, grid_one, "users.info", user="U0G2"))["ok"]  # Grid's people belong to the org
        slack.add_user("U0GUEST", "guest", team_id="T0ELSEWHERE")  # a Slack Connect guest: a workspace it does not hold
        assert (await call(http, alpha, "users.info", user="U0GUEST"))["ok"]
        assert slack.installs.crossed == []

        refused = [await call(http, beta, "chat.postMessage", channel="C0A", text="hi"),
                   await call(http, beta, "chat.update", channel="C0A", ts="1.0", text="hi"),
                   await call(http, org, "chat.postMessage", channel="C0B", text="hi"),
                   await call(http, grid_one, "chat.postMessage", channel="C0G2", text="hi"),
                   await call(http, beta, "users.info", user="U0A"),
                   await call(http, alpha, "chat.postEphemeral", channel="C0A", user="U0B", text="hi"),
                   await call(http, alpha, "views.publish", user_id="U0G1", view='{"type": "home", "blocks": []}')]
        assert [r["error"] for r in refused] == ["channel_not_found"] * 4 + ["user_not_found", "user_not_in_channel",
                                                                             "user_not_found"]
        assert [(c["method"], c["token_of"]) for c in slack.installs.crossed] == [
            ("chat.postMessage", "T0BETA"), ("chat.update", "T0BETA"), ("chat.postMessage", "E0G"),
            ("chat.postMessage", "T0G1"), ("users.info", "T0BETA"), ("chat.postEphemeral", "T0ALPHA"),
            ("views.publish", "T0ALPHA")]
        assert all(m.team != "T0BETA" for m in slack.channel("C0A"))  # nothing landed
        dump = (await http.get("/_slack/messages", params={"everything": "1"})).json()
        assert len(dump["crossed"]) == 7
        made = [(c["method"], c["team"], c["ok"]) for c in dump["everything"] if c["method"] == "chat.update"]
        assert made == [("chat.update", "T0BETA", False)]  # each call with the workspace of its token


async def test_an_org_wide_tokens_calls_count_in_the_workspace_they_act_in():
    """Slack's limits are per method per workspace per app: one workspace of the org spending its budget leaves
    the other's, as recbot's outbox schedules (by the workspace of each row)."""
    slack = FakeSlack()
    slack.url = "http://slack.local"
    slack.limits.tighter["conversations.history"] = Limit(1, 60)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=slack.app), base_url=slack.url) as http:
        await http.post("/_slack/workspaces", json={"strict": True, "workspaces": [
            {"team_id": team, "name": team, "enterprise_id": "E0G", "channels": [channel]}
            for team, channel in (("T0G1", "C0G1"), ("T0G2", "C0G2"))]})
        org = await installed(http, org="E0G")
        assert (await call(http, org, "conversations.history", channel="C0G1"))["ok"]
        assert (await call(http, org, "conversations.history", channel="C0G2"))["ok"]
        again = await http.post("/api/conversations.history", data={"channel": "C0G1"},
                                headers={"authorization": f"Bearer {org}"})
        assert again.status_code == 429 and again.json()["error"] == "ratelimited"


async def test_rotating_tokens_as_slack_publishes_them_a_refresh_token_once_the_old_token_until_it_expires():
    """docs.slack.dev/authentication/using-token-rotation: "Refresh tokens are designed to be used once" (revoked
    after a grace period whose length is not published: none here); "Calling oauth.v2.access will not immediately
    invalidate your existing access token"; at most 2 active tokens after a refresh, the oldest others revoked.
    The run in another process turns it on through /_slack/workspaces."""
    slack = FakeSlack()
    slack.url = "http://slack.local"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=slack.app), base_url=slack.url) as http:
        await http.post("/_slack/workspaces", json={"strict": True, "rotation": True, "lifetime": 7260,
                                                    "refresh_delays": [0.01, 0.01], "workspaces": [
                                                        {"team_id": "T0A", "name": "Alpha", "channels": ["C0A"]}]})
        assert slack.installs.lifetime == 7260 and slack.installs.refresh_delays == (0.01, 0.01)
        first = await install(http, team="T0A")
        assert first["access_token"].startswith("xoxe.xoxb-1-") and first["expires_in"] == 7260
        second = (await refresh(http, first["refresh_token"])).json()
        assert second["ok"] and second["access_token"] != first["access_token"]
        assert (await refresh(http, first["refresh_token"])).json() == {"ok": False, "error": "invalid_refresh_token"}
        for token in (first["access_token"], second["access_token"]):  # the old one too, until it expires
            assert (await call(http, token, "chat.postMessage", channel="C0A", text="hi"))["ok"]
        third = (await refresh(http, second["refresh_token"])).json()  # three would be active: the oldest revoked
        assert (await call(http, first["access_token"], "auth.test"))["error"] == "token_revoked"
        for token in (second["access_token"], third["access_token"]):
            assert (await call(http, token, "auth.test"))["ok"]
        slack.installs.tokens[second["access_token"]].expires_at = 0
        assert (await call(http, second["access_token"], "auth.test"))["error"] == "token_expired"


async def test_a_429_on_one_installs_refresh_holds_that_workspaces_refreshes_not_anothers():
    """Slack's limits are per workspace: the chaos run counted another install's refresh, made after one install's
    429, as a call inside its Retry-After window (the local Slack held every refresh, recbot that workspace's)."""
    slack = FakeSlack()
    slack.url = "http://slack.local"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=slack.app), base_url=slack.url) as http:
        await http.post("/_slack/workspaces", json={"strict": True, "rotation": True, "workspaces": TWO})
        refresh_tokens = [(await install(http, team=team))["refresh_token"] for team in ("T0A", "T0B")]
        slack.faults.retry_after, slack.faults.next_mode, slack.faults.next_count = 30, "429", 1

        assert (await refresh(http, refresh_tokens[0])).status_code == 429  # Alpha's: held 30 s
        assert (await refresh(http, refresh_tokens[1])).json()["ok"]  # Beta's is not
        assert slack.limits.inside == []
        assert (await refresh(http, refresh_tokens[0])).status_code == 429  # Alpha's again, inside its window
        assert [c["team"] for c in slack.limits.inside] == ["T0A"]


async def test_a_spent_refresh_token_counts_in_its_own_workspace():
    """CI's chaos run counted a refresh inside a Retry-After window: three installs' refresh tokens were spent by a
    kill mid-refresh, and the local Slack counted every spent one in no workspace, so a 429 on one held the others
    (recbot holds the workspace it refreshed). A refused refresh token is still its install's."""
    slack = FakeSlack()
    slack.url = "http://slack.local"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=slack.app), base_url=slack.url) as http:
        await http.post("/_slack/workspaces", json={"strict": True, "rotation": True, "workspaces": TWO})
        spent = []
        for team in ("T0A", "T0B"):
            spent.append((await install(http, team=team))["refresh_token"])
            assert (await refresh(http, spent[-1])).json()["ok"]  # spent: used once
        assert [slack.installs.refreshing(token) for token in spent] == ["T0A", "T0B"]
        slack.faults.retry_after, slack.faults.next_mode, slack.faults.next_count = 30, "429", 1
        assert (await refresh(http, spent[0])).status_code == 429  # Alpha's: held 30 s
        answer = await refresh(http, spent[1])
        assert answer.json() == {"ok": False, "error": "invalid_refresh_token"}  # Beta's: refused, not held
        assert slack.limits.inside == []
