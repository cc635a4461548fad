"""What the emulated platform writes after a session: a transcript (WebVTT and JSON) with its
participants as speakers at the times they were there, and a markdown summary of it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

LINES = ("Thanks for joining, let's get started.", "Here is where things stand this week.",
         "I have a question about the timeline.", "Let's take that as an action item.",
         "I'll follow up in the channel.", "Sounds good, thanks everyone.")


@dataclass(frozen=True)
class Cue:
    speaker: str
    start: float  # seconds from the session's start
    end: float
    text: str


def cues(attendance: list[dict[str, Any]], session_start: float, session_end: float) -> list[Cue]:
    """Each person speaks every few seconds while they were there, round-robin through LINES (once at
    least, however short their stay)."""
    out: list[Cue] = []
    for n, person in enumerate(attendance):
        joined = max(person["joined_at"], session_start) - session_start
        end = (person["left_at"] or session_end) - session_start
        out.append(Cue(person["name"], round(joined, 3), round(max(joined + 0.5, min(end, joined + 3.0)), 3),
                       LINES[n % len(LINES)]))
        line, t = n + 1, joined + 10.0 + n
        while t + 3.0 <= end and len(out) < 2000:
            out.append(Cue(person["name"], round(t, 3), round(t + 3.0, 3), LINES[line % len(LINES)]))
            line, t = line + 1, t + 10.0 + n
    return sorted(out, key=lambda c: (c.start, c.speaker))


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
    names = list(dict.fromkeys(p["name"] for p in attendance)) or ["nobody"]
    who = ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]
    points = [f"- **{c.speaker}**: {c.text}" for c in all_cues[:6]] or ["- Nothing was said."]
    return (f"## Summary ({summary_type.replace('_', ' ')})\n\n"
            f"*{title or 'The meeting'}* ran for about {max(1, round(minutes))} minute(s) with {who}.\n\n"
            "### Key points\n\n" + "\n".join(points) + "\n\n"
            "### Action items\n\n"
            f"1. {names[0]} follows up in the channel.\n"
            "2. Everyone reviews the recording before the next meeting.\n")
