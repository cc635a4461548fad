"""The workbench page's state: a version never names content the same answer does not hold."""

import httpx

from bot.workbench.demo import start_demo
from tests.browser.test_workbench import _port


async def test_an_answer_that_lands_while_the_state_is_read_is_drawn_on_the_next_poll(tmp_path):
    """The page redraws only when the version moves. The state handler awaits the store while it reads; an
    ephemeral that lands meanwhile must not be covered by the version of an answer that does not hold it
    (the page then never drew it: CI's browser tests waited in vain for a refusal and a card's Paused)."""
    stack, server, url = await start_demo("127.0.0.1", _port(), str(tmp_path / "demo.sqlite3"))
    workbench = next(r.endpoint.__self__ for r in server.app.routes if r.path == "/api/state")
    slack = stack.slack
    read = workbench.workspaces

    async def meanwhile():  # the bot's reply reaches the local Slack while the page's state is being read
        answer = await read()
        slack.ephemeral.append({"channel": "C0DEMO", "user": "U0ALICE", "text": "landed meanwhile", "at": 0.0})
        slack._bump()
        return answer

    try:
        async with httpx.AsyncClient(base_url=url) as page:
            workbench.workspaces = meanwhile
            first = (await page.get("/api/state")).json()
            workbench.workspaces = read
            second = (await page.get("/api/state")).json()
        assert "landed meanwhile" not in [e["text"] for e in first["ephemeral"]]
        assert "landed meanwhile" in [e["text"] for e in second["ephemeral"]]
        assert second["version"] != first["version"]  # so the page draws it
    finally:
        await server.stop()
        await stack.stop()
