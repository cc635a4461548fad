"""What each of Slack's refusals does to an outbox row (`bot/slack/not_ok.py`): pure functions, no Slack."""

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from bot.slack.not_ok import Answer, NotOk, answer, not_ok


def refused(error: str = "", status: int = 200, retry_after: float = 0.0) -> NotOk:
    return NotOk(method="chat.postMessage", status=status, error=error, said="", retry_after=retry_after)


def decide(r: NotOk, *, level: int = 0, most_compact: int = 3, tried_once_more: bool = False,
           modal: bool = False, many: bool = True) -> Answer:
    return answer(r, modal=modal, channel=True, many=many, level=level, most_compact=most_compact,
                  tried_once_more=tried_once_more)


def slack_error(status: int, data: dict, headers: dict | None = None) -> SlackApiError:
    response = SlackResponse(client=None, http_verb="POST", api_url="https://slack.com/api/chat.update",
                             req_args={}, data=data, headers=headers or {}, status_code=status)
    return SlackApiError("refused", response)


def test_a_refusal_is_read_the_same_whatever_its_shape():
    said = not_ok(slack_error(200, {"ok": False, "error": "some_new_error", "warning": "superfluous_charset",
                                     "response_metadata": {"messages": ["[ERROR] why"]}}))
    assert (said.method, said.status, said.error) == ("chat.update", 200, "some_new_error")
    assert said.said == "superfluous_charset; [ERROR] why" and not said.known
    assert "a refusal recbot does not know" in str(said) and "[ERROR] why" in str(said)
    proxy = not_ok(slack_error(502, {}))  # an HTML page: slack_sdk hands on an empty body
    assert (proxy.status, proxy.error) == (502, "") and "does not know" not in str(proxy)
    limited = not_ok(slack_error(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}))
    assert limited.limited and limited.retry_after == 7.0


@pytest.mark.parametrize("error, status", [("", 502), ("some_new_outage", 503), ("fatal_error", 200),
                                           ("internal_error", 200), ("request_timeout", 200),
                                           ("service_unavailable", 503)])
def test_slack_or_a_proxy_failing_sends_the_same_again_later(error, status):
    assert decide(refused(error, status)) is Answer.AGAIN
    assert decide(refused(error, status), level=3) is Answer.AGAIN  # never given up


def test_a_refusal_recbot_does_not_know_is_sent_once_more_as_it_was_then_degraded_then_kept():
    new = refused("some_new_error", 400)
    assert decide(new) is Answer.ONCE_MORE
    assert decide(new, tried_once_more=True) is Answer.DEGRADE
    assert decide(new, level=3, tried_once_more=True) is Answer.KEEP_TRYING
    assert decide(refused("msg_too_long")) is Answer.DEGRADE  # a refusal of what was sent: compact at once


def test_documented_refusals_end_as_documented():
    assert decide(refused("ratelimited", 429, 1.0)) is Answer.HOLD
    assert decide(refused("message_limit_exceeded")) is Answer.HOLD
    assert decide(refused("ekm_access_denied")) is Answer.GIVE_UP
    assert decide(refused("token_revoked")) is Answer.DROP
    assert decide(refused("token_revoked"), many=False) is Answer.ONCE_MORE  # one workspace: not uninstalled
    assert decide(refused("not_in_channel")) is Answer.LOST_CHANNEL
    assert decide(refused("expired_trigger_id"), modal=True) is Answer.ELSEWHERE

