"""What the emulated platform writes after a session: a transcript with its participants as speakers at the
times they were there (and whatever they said through the `say` control), and a markdown summary of it.

The transcript is RealtimeKit's CSV: no header row; start time in milliseconds from the session's start,
peer id, user id, custom participant id, participant name, text (Cloudflare's docs, see docs/platform.md).
WebVTT and JSON copies are published beside it as extras."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.transcript import to_csv

# A short meeting, said in turn by whoever is there: each line, what a summary keeps of it (a key point
# after the speaker's name), and the action item it gives ({who} is the speaker), if any.
SCRIPT: tuple[tuple[str, str | None, str | None], ...] = (
    ("Thanks for joining. Let's start with where the launch stands.", "opened with where the launch stands", None),
    ("The beta went out on Monday; most of the feedback so far is about sign-up.",
     "reported that the beta went out on Monday, with most feedback about sign-up", None),
    ("Do we keep the date if sign-up needs another week?",
     "asked whether the date holds if sign-up needs another week", None),
    ("I'd rather move the date than ship a sign-up that loses people.",
     "would rather move the date than ship a sign-up that loses people", None),
    ("Then let's decide on Thursday, with the numbers in front of us.",
     "proposed deciding on Thursday, with the numbers", "Everyone decides on the launch date on Thursday."),
    ("I'll pull the sign-up numbers together before then.", None, "{who} pulls the sign-up numbers together."),
    ("I can draft the note to customers either way.", None, "{who} drafts the note to customers."),
    ("Anything else before we close?", None, None),
    ("Nothing from me. Thanks, everyone.", None, None),
)


@dataclass(frozen=True)
class Cue:
    speaker: str
    start: float  # seconds from the session's start
    end: float
    text: str


def cues(attendance: list[dict[str, Any]], session_start: float, session_end: float) -> list[Cue]:
    """Each person speaks when they join and every few seconds while they are there; the turns, in time
    order, say SCRIPT's lines one after another (round again in a long meeting)."""
    turns: list[tuple[float, float, str]] = []
    for n, person in enumerate(attendance):
        joined = max(person["joined_at"], session_start) - session_start
        end = (person["left_at"] or session_end) - session_start
        turns.append((round(joined, 3), round(max(joined + 0.5, min(end, joined + 3.0)), 3), person["name"]))
        t = joined + 10.0 + n
        while t + 3.0 <= end and len(turns) < 2000:
            turns.append((round(t, 3), round(t + 3.0, 3), person["name"]))
            t += 10.0 + n
    turns.sort(key=lambda turn: (turn[0], turn[2]))
    return [Cue(who, start, end, SCRIPT[n % len(SCRIPT)][0]) for n, (start, end, who) in enumerate(turns)]


def transcript_csv(all_cues: list[Cue]) -> str:
    return to_csv((c.start, c.speaker, c.text) for c in all_cues)


def webvtt(all_cues: list[Cue]) -> str:
    def stamp(seconds: float) -> str:
        h, rest = divmod(seconds, 3600)
        m, s = divmod(rest, 60)
        return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"

    blocks = [f"{n}\n{stamp(c.start)} --> {stamp(c.end)}\n<v {c.speaker}>{c.text}"
              for n, c in enumerate(all_cues, start=1)]
    return "WEBVTT\n\n" + "\n\n".join(blocks) + "\n"


def transcript_json(all_cues: list[Cue]) -> str:
    return json.dumps([{"speaker": c.speaker, "start": c.start, "end": c.end, "text": c.text} for c in all_cues])


def summary_markdown(title: str, attendance: list[dict[str, Any]], minutes: float, all_cues: list[Cue],
                     summary_type: str = "general") -> str:
    """What a summary of `all_cues` says: who was there and for how long, the key points in the order they
    were made, and the action items, each credited to whoever said it."""
    names = list(dict.fromkeys(p["name"] for p in attendance)) or ["nobody"]
    who = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
    meaning = {line: (point, action) for line, point, action in SCRIPT}
    points, actions = [], []
    for cue in all_cues[:len(SCRIPT)]:  # past that the script only comes round again
        point, action = meaning.get(cue.text, (None, None))
        if point:
            points.append(f"- **{cue.speaker}** {point}.")
        if action:
            actions.append(action.format(who=cue.speaker))
    return (f"## Summary ({summary_type.replace('_', ' ')})\n\n"
            f"*{title or 'The meeting'}* ran for {_duration(minutes)} with {who}.\n\n"
            "### Key points\n\n" + ("\n".join(points) or "- Nothing was said.") + "\n\n"
            "### Action items\n\n" + ("\n".join(f"{n}. {a}" for n, a in enumerate(actions, start=1))
                                      or "None were agreed.") + "\n")


def _duration(minutes: float) -> str:
    if minutes < 1:
        return "under a minute"
    hours, rest = divmod(round(minutes), 60)
    parts = [f"{hours} hour{'s' * (hours != 1)}"] * bool(hours) + [f"{rest} minute{'s' * (rest != 1)}"] * bool(rest)
    return "about " + " ".join(parts)
