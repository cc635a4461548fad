"""Every word recbot says to the person who asked, from the service's meaning (`outcomes.Reply`).

Text a person typed (meeting titles, the platform's messages) goes through `escape`.
"""

from __future__ import annotations

import math
from typing import Any

from bot.ledger import clock_text, duration_text
from bot.mrkdwn import escape
from bot.service.outcomes import Line, Refusal, Reply, Say
from bot.slack import blocks, notes, views

USAGE = """*`/rec` commands*
• `/rec link ‹meeting id or URL›`: link this channel to a meeting
• `/rec new [title]`: create a meeting and link it
• `/rec start [--multi]`: start recording (`--multi` records another alongside an active one)
• `/rec pause [#n] [for 10m]`: pause (anyone here may pause); `for` resumes by itself
• `/rec resume [#n]`, `/rec stop [#n]`: resume or stop
• `/rec mark [text]`: bookmark this moment in what is recording; the final reply lists the marks
• `/rec status`, `/rec history`: what is recording now, and what was recorded
• `/rec summary`: the last session's summary, in its recording's thread
• `/rec find ‹words›`: search what was recorded in this channel's meetings (`"a phrase"` in quotes)
• `/rec settings`: this channel's settings (auto-record, transcripts, summaries, notice, reminders)
• `/rec allow @user`, `/rec deny @user`, `/rec unallow @user`, `/rec who`: who may control recordings here
  (`unallow` takes back an allow or a deny)
• `/rec end`: stop the recordings and end the meeting for everyone (asks first)
• `/rec unlink`: remove the link (history is kept)
• `/rec connect`, `/rec disconnect`: the workspace's own Dyte or RealtimeKit account (workspace admins)"""

BUSY = (":warning: recbot could not reach its database (it is busy or locked), so it did nothing. "
        "Try again in a moment; if it persists, tell whoever runs recbot.")
WORKING = {"link": ":link: Checking the meeting…", "new": ":sparkles: Creating a meeting…",
           "start": ":hourglass_flowing_sand: Starting the recording…", "pause": ":double_vertical_bar: Pausing…",
           "resume": ":arrow_forward: Resuming…", "stop": ":black_square_for_stop: Stopping…",
           "end": "", "settings": "", "mark": "", "connect": "", "disconnect": "", "find": "",
           "summary": ":hourglass_flowing_sand: Asking for the summary…"}
# "": nothing in the ack; the answer (a form, a confirmation, where the mark is) follows at once
WORKING_DEFAULT = "Working on it…"

REFUSALS = {
    Refusal.DENIED: "A controller of this channel has barred you from recording actions here.",
    Refusal.OTHER_WORKSPACE: "People from another workspace can pause a recording here, but not control it otherwise.",
    Refusal.NOT_CONTROLLER: "Only this channel's controllers can do that: whoever linked it, workspace admins, and "
                            "people they `/rec allow`. Anyone here can pause.",
}
PLATFORM = {"dyte": "Dyte", "realtimekit": "Cloudflare RealtimeKit"}
VERB = {"pause": "paused", "resume": "resumed", "stop": "stopped", "start": "started"}
DOING = {"link": "reach the meeting", "new": "reach the meeting", "start": "start the recording",
         "refresh_link": "fetch a fresh link", "end": "end the meeting"}


def words(reply: Reply) -> tuple[str, list[dict[str, Any]] | None]:
    """The reply as (text, blocks or None)."""
    if len(reply.lines) == 1:
        line = reply.lines[0]
        p = line.params
        if line.say is Say.STATUS:
            text, out = views.status_view(p["link"], p["lines"])
            if p.get("settings") is not None and len(out) < blocks.MESSAGE_BLOCKS:
                out.append({"type": "context", "elements": [blocks.mrkdwn(notes.settings_brief(p["settings"]))]})
            return text, out
        if line.say is Say.HISTORY:
            return views.history_view(p["lines"])
        if line.say is Say.WHO:
            return views.who_view(p["link"], p["members"])
        if line.say is Say.END_CONFIRM:
            return views.end_confirm_view(p["link"], p["active"])
        if line.say is Say.FIND:
            return notes.found(line.params)
        if line.say in (Say.SETTINGS, Say.SETTING_SET):
            lead = f"Set `{p['name']}`. " if line.say is Say.SETTING_SET else ""
            text = lead + notes.settings_text(p["settings"])
            return text, [blocks.section(text)]
    return "\n".join(sentence(line) for line in reply.lines), None


def _states(active: list[tuple[int, str]], joiner: str) -> str:
    return ", ".join(f"#{handle}{joiner}{status.lower()}" for handle, status in active)


def sentence(line: Line) -> str:
    """One line in words. Every text parameter is escaped here, once, whoever typed it."""
    p: dict[str, Any] = {k: escape(v) if isinstance(v, str) else v for k, v in line.params.items()}
    say = line.say
    tag = f"#{p['handle']}" if p.get("handle") is not None else "the recording"
    match say:
        case Say.HELP:
            return USAGE
        case Say.BUSY:
            return BUSY
        case Say.FAILED:
            return (":warning: Something went wrong inside recbot, so it may not have done that. It is logged; try "
                    "again, and if it happens again, tell whoever runs recbot.")
        case Say.NOT_LINKED:
            return ("This channel is not linked to a meeting yet. Link one with `/rec link ‹meeting id or URL›` "
                    "or create one with `/rec new [title]`.")
        case Say.REFUSED:
            if p.get("wait"):  # whether they are an admin could not be asked (a 429 holds users.info) or answered
                return (f":hourglass: Slack is asking recbot to slow down, or did not answer, so it cannot check "
                        f"whether you are a workspace admin; try again in {max(1, math.ceil(p['wait']))} s.")
            return f":no_entry: {REFUSALS[p['reason']]}"
        case Say.NO_SUCH_MEETING:
            return (f"No meeting `{p['ref']}` exists on the platform. Check the id or URL, "
                    "or create one with `/rec new [title]`.")
        case Say.PLATFORM_FAILED:
            return platform_failure(p)  # already escaped
        case Say.LINKED:
            what = "Created and linked" if p["created"] else "Linked"
            before = f" (it was linked to `{p['before']}`)" if p.get("before") else ""
            return (f":link: {what} this channel to *{p['title'] or 'untitled meeting'}* (`{p['meeting_id']}`)"
                    f"{before}. Start recording with `/rec start`.")
        case Say.CREATED_UNSAVED:
            return (f":warning: Created the meeting *{p['title']}* (`{p['meeting_id']}`), but recbot could not "
                    f"save the link (its database is busy). Link it with `/rec link {p['meeting_id']}` in a moment.")
        case Say.UNLINKED:
            n = p["still_active"]
            tail = f" {n} recording(s) still running keep their cards and buttons here." if n else ""
            return f"Unlinked this channel from `{p['meeting_id']}`. Past recordings keep their history.{tail}"
        case Say.ALREADY_ACTIVE:
            offer = "`/rec resume` to continue it, or " if p["paused"] else ""
            return (f"This meeting already has an active recording: "
                    f"{', '.join(f'#{h} ({s.lower()})' for h, s in p['active'])}. Use {offer}"
                    "`/rec start --multi` to record another one alongside it.")
        case Say.START_REFUSED:
            return (f"The platform refused: {p['message']}. A recording started from the meeting may "
                    "already be running; see `/rec status`, or use `/rec start --multi`.")
        case Say.STARTING:
            return (f":red_circle: Starting recording #{p['handle']} of *{p['title'] or 'the meeting'}*. "
                    "Its card is in the channel.")
        case Say.NO_SUCH_HANDLE:
            return f"There is no recording #{p['handle']} of this meeting. `/rec status` lists them."
        case Say.NOTHING_TO_ACT:
            return f"Nothing to {p['action']}: {_states(p['active'], ' is ') or 'nothing is active'}."
        case Say.FOREIGN_BUTTON:
            return "That button does not belong to a recording of this channel."
        case Say.WRONG_STATE:
            return f"{tag} is {p['status'].lower()}, so there is nothing to {p['action']}."
        case Say.ACT_CONFLICT:
            now = (p.get("now") or "unknown").lower()
            return f"{tag} could not be {VERB[p['action']]}: {p['message']} (it is {now})."
        case Say.ACTED:
            if p["action"] == "pause" and p.get("duration"):
                return f"{tag} paused for {duration_text(p['duration'])}; it resumes by itself."
            return f"{tag} {VERB[p['action']]}."
        case Say.SAVED_LATER:
            return (f":warning: The platform has {VERB[p['action']]} {tag}, but recbot could not save it yet (its "
                    "database is busy). It keeps trying; the card and thread will follow.")
        case Say.SNOOZE_NOT_PAUSED:
            return f"{tag} is {p['status'].lower()} now; no reminder to snooze."
        case Say.SNOOZED:
            return f"OK, I will remind you again in {duration_text(p['delay'])} if {tag} is still paused."
        case Say.NO_DOWNLOAD_LINK:
            return f"{tag} has no download link (it is {p['status'].lower()})."
        case Say.FRESH_LINK:
            return f"Fresh link for {tag}: <{p['url']}|download>, valid until {blocks.date(p.get('expiry'))}."
        case Say.LINKER_STAYS:
            return "The person who linked this channel stays a controller; relink the channel to change that."
        case Say.ALLOWED:
            return f"<@{p['user']}> can now start, resume and stop recordings in this channel."
        case Say.UNALLOWED:
            return (f"<@{p['user']}> is neither allowed nor barred here any more: like everyone in the channel, "
                    "they can pause, and do more only if they are a workspace admin.")
        case Say.ENDED:
            if p["kicked"] is None:
                return "The meeting has no live session now, so there is nobody to send away."
            n = p["kicked"]
            return f":checkered_flag: Ended the meeting for everyone ({n} participant{'s' if n != 1 else ''} left it)."
        case Say.NOTHING_TO_MARK:
            if p["paused"]:
                return "Nothing is being recorded (it is paused), so there is nothing to mark."
            return "Nothing is being recorded, so there is nothing to mark. Start with `/rec start`."
        case Say.MARKED:
            what = f": {p['text']}" if p.get("text") else ""
            return f":bookmark: Marked {tag} at `{clock_text(p['offset'])}` in the file{what}."
        case Say.NO_SESSION:
            return "No session of this meeting has been recorded here yet, so there is no summary to ask for."
        case Say.SUMMARY_THERE:
            return (f"The summary is already in {tag}'s thread. A fresh link: <{p['url']}|download>, valid until "
                    f"{blocks.date(p.get('expiry'))}.")
        case Say.SUMMARY_POSTED:
            return f":clipboard: Posted the summary in {tag}'s thread."
        case Say.SUMMARY_HELD:
            return (f":lock: The summary of {tag}'s session is held: a pause overlapped the session, and the "
                    "platform's summary covers what was said off the record too. A controller can post it with the "
                    "button in the thread.")
        case Say.SUMMARY_NEVER:
            return (f":lock: The summary of {tag}'s session is not posted: a pause overlapped the session, and this "
                    "channel never posts such a summary (`/rec settings summary-after-pause`).")
        case Say.SUMMARY_RELEASED:
            return f":clipboard: Posted the held summary in {tag}'s thread."
        case Say.SUMMARY_ASKED:
            return (f":hourglass_flowing_sand: The platform is writing the summary; it follows in {tag}'s thread "
                    "when ready.")
        case Say.SETTING_INVALID:
            return f"Not set: {p['message']}"
        case Say.STEP_NO_CHANNEL:
            return "This step needs a channel linked to a meeting: choose one in Workflow Builder."
        case Say.STEP_MINUTES:
            return "A timed pause lasts from 1 to 1440 minutes; leave `minutes` empty to pause until resumed."
        case Say.WORKFLOWS_OFF:
            return ("Nobody ran this workflow (a scheduled or event trigger), and this channel does not let such "
                    "workflows act: a controller can allow them with `/rec settings workflows on`. Pausing is "
                    "always allowed.")
        case Say.DENIED:
            return f"<@{p['user']}> can no longer take recording actions in this channel, pausing included."
        case Say.ADMINS_ONLY:
            return (":no_entry: Only workspace admins and owners can connect or disconnect the workspace's platform "
                    "account.")
        case Say.CONNECTED:
            hook = {"registered": "registered", "updated": "updated", "kept": "already registered"}.get(p["webhook"])
            tail = (f"The platform sends its webhooks to {p['webhook_url']} ({hook})." if hook else
                    f":warning: recbot could not register its webhook at {p['webhook_url']} ({p.get('message')}); "
                    "run `/rec connect` again once recbot is reachable there.")
            return (f":white_check_mark: Connected this workspace's own {PLATFORM[p['flavour']]} account "
                    f"(`{p['name']}`). Meetings linked from now on in this workspace live there; channels linked "
                    f"before keep theirs. {tail}")
        case Say.CONNECT_REFUSED:
            return (f":warning: {PLATFORM[p['flavour']]} did not accept those credentials ({p['message']}), so "
                    "nothing changed. Check them and run `/rec connect` again.")
        case Say.DISCONNECTED:
            n = p["links"]
            tail = (f" {n} channel(s) linked to meetings on it can no longer record until they are linked again "
                    "or the account is connected again." if n else "")
            return (f"Disconnected the workspace's own {PLATFORM[p['flavour']]} account: new links use recbot's "
                    f"default account.{tail}")
        case Say.NOT_CONNECTED:
            return ("This workspace uses recbot's default platform account; there is nothing to disconnect. "
                    "`/rec connect` connects the workspace's own.")
    return words(Reply([line]))[0]


def platform_failure(p: dict[str, Any]) -> str:
    """A platform error as a sentence a person can act on; never a stack trace."""
    doing = p["doing"]
    what = DOING.get(doing) or f"{doing} #{p['handle']}"
    message = str(p.get("message") or "")
    failure = p["failure"]
    if failure == "unavailable":
        text = (f":warning: Could not {what}: the recording platform is not answering ({message}). "
                "Try again in a minute.")
    elif failure == "rate_limited":
        text = (f":hourglass: Could not {what}: the platform asks us to slow down. Try again in "
                f"{max(1, round(p.get('retry_after') or 1))} s.")
    elif failure == "not_found":
        text = f"Could not {what}: the platform does not know it ({message})."
    elif failure == "disconnected":
        text = (f":warning: Could not {what}: this meeting is on the workspace's own platform account, which was "
                "disconnected. A workspace admin can connect it again with `/rec connect`.")
    elif failure == "unauthorized":
        text = (f":warning: Could not {what}: the platform rejected recbot's credentials. Tell whoever runs recbot "
                "to run `recbot check`.")
    else:
        text = f"Could not {what}: {message}"
    if p.get("tail") == "maybe":
        text += " It may still happen: the card will show what the platform does."
    elif p.get("tail") == "unchanged":
        text += " Nothing changed."
    return text
