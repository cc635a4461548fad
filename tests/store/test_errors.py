"""The store's errors say what happened, the same on both engines: busy only for "not now"."""

import pytest

import bot.asgi_server
import bot.config
import bot.emulator.errors
import bot.platform.errors
import bot.platform.webhooks
import bot.service.decisions
import bot.service.truth
import bot.slack.installs
import bot.slack.sender
import bot.store.sealed
from bot.errors import RecbotError
from bot.store import Duplicate, Store, StoreBusy, StoreError
from tests.conftest import database


@pytest.fixture
def store(tmp_path, engine):
    s = Store(database(tmp_path, "e.sqlite3"), clock=lambda: 1000.0)
    yield s
    s.close()


def test_a_mistake_in_sql_is_an_error_at_once_not_busy(store):
    with pytest.raises(StoreError) as raised:
        store.db.execute("SELEC 1")
    assert not isinstance(raised.value, StoreBusy)
    with pytest.raises(StoreError) as raised:
        store.db.all("SELECT * FROM no_such_table")
    assert not isinstance(raised.value, StoreBusy)


def test_a_taken_unique_key_is_duplicate_on_both_engines_and_leaves_nothing(store):
    insert = "INSERT INTO oauth_states (state, expire_at) VALUES (?, ?)"
    store.db.execute(insert, ("s1", 1.0))
    with pytest.raises(Duplicate), store.transaction():
        store.db.execute(insert, ("s2", 1.0))
        store.db.execute(insert, ("s1", 2.0))
    assert [r["state"] for r in store.db.all("SELECT state FROM oauth_states ORDER BY state")] == ["s1"]
    store.db.execute(insert, ("s3", 1.0))  # the connection goes on working after it


def test_a_broken_constraint_other_than_unique_is_a_store_error(store):
    with pytest.raises(StoreError) as raised:
        store.db.execute("INSERT INTO oauth_states (state, expire_at) VALUES (?, ?)", ("s1", None))
    assert not isinstance(raised.value, (StoreBusy, Duplicate))


def test_every_error_recbot_raises_has_one_base():
    raised = [bot.config.ConfigError, StoreError, StoreBusy, Duplicate, bot.store.sealed.SealError,
              bot.platform.errors.PlatformError, bot.platform.errors.Disconnected,
              bot.platform.webhooks.WebhookError, bot.platform.webhooks.SignatureError,
              bot.platform.webhooks.WebhookParseError, bot.slack.installs.NotInstalled,
              bot.slack.installs.RefreshFailed, bot.slack.installs.NeedsReinstall,
              bot.slack.sender.RespondFailed, bot.asgi_server.PortBusy, bot.emulator.errors.EmuError,
              bot.service.decisions.Stale, bot.service.truth.Outdated, bot.service.truth.RetryLater]
    assert all(issubclass(cls, RecbotError) for cls in raised)
