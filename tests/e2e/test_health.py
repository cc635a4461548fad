"""/healthz on both engines: what a load balancer and `recbot serve`'s starters ask before sending traffic."""

from bot.store.schema import MIGRATIONS


async def test_health_answers_with_the_schema_and_the_outbox_on_both_engines(stack):
    """On PostgreSQL the schema's version was read with a CREATE TABLE, which a read may not run: /healthz
    answered 500 and the chaos run's bots never came up."""
    answer = await stack.http.get(f"{stack.bot_url}/healthz")
    assert answer.status_code == 200, answer.text
    health = answer.json()
    assert health["ok"] is True and health["schema_version"] == len(MIGRATIONS), health
