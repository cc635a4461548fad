"""The one check of a /rec command, pure: the ack and the handler ask it alike."""

import pytest

from bot.models import Actor, Link, Role
from bot.service.outcomes import Refusal
from bot.service.permissions import Allowed, Refused, check

LINK = Link(channel_id="C1", team_id="T1", meeting_id="m1", meeting_title="Sync", linked_by="UALICE",
            linked_at=0.0, broken_reason=None)


def person(user: str, team: str = "T1") -> Actor:
    return Actor(user_id=user, channel_id="C1", team_id=team, via="command")


def test_a_command_in_a_channel_not_linked_is_refused_as_such_unless_it_links():
    assert check(person("UBOB"), "pause", None, None, admin=False) == Refused(None)
    assert check(person("UBOB"), "pause", None, None, admin=None) == Refused(None)  # no admin needed to say so
    assert check(person("UBOB"), "link", None, None, admin=False) == Allowed(None, None)
    assert check(person("UBOB"), "history", None, None, admin=None) == Allowed(None, None)


def test_anyone_may_pause_and_a_deny_bars_everything():
    assert check(person("UBOB"), "pause", LINK, None, admin=None) == Allowed(LINK, None)
    assert check(person("UEVE", "T2"), "pause", LINK, None, admin=None) == Allowed(LINK, None)
    assert check(person("UBOB"), "pause", LINK, Role.DENY, admin=True) == Refused(Refusal.DENIED)


def test_what_controllers_do_turns_on_being_one():
    assert check(person("UALICE"), "stop", LINK, None, admin=None) == Allowed(LINK, None)  # linked it
    assert check(person("UBOB"), "stop", LINK, Role.ALLOW, admin=None) == Allowed(LINK, Role.ALLOW)
    assert check(person("UBOB"), "stop", LINK, None, admin=False) == Refused(Refusal.NOT_CONTROLLER)
    assert check(person("UBOB"), "stop", LINK, None, admin=True) == Allowed(LINK, None)
    assert check(person("UEVE", "T2"), "stop", LINK, None, admin=True) == Refused(Refusal.OTHER_WORKSPACE)


@pytest.mark.parametrize("command", ["stop", "start", "allow", "settings"])
def test_only_an_unknown_admin_leaves_it_open(command):
    assert check(person("UBOB"), command, LINK, None, admin=None) is None
    assert check(person("UBOB"), command, LINK, Role.DENY, admin=None) == Refused(Refusal.DENIED)


def test_the_audit_says_why():
    assert Refused(None).detail == "not linked"
    assert Refused(Refusal.DENIED).detail == Refusal.DENIED.value
