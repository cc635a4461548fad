"""Slack's mrkdwn: escaping any text a person typed that recbot shows back, and markdown turned into it."""

import re


def escape(text: str) -> str:
    """Slack's three control characters (https://api.slack.com/reference/surfaces/formatting#escaping)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_LINK = re.compile(r"\[([^\]\n]{1,200})\]\((https?://[^\s)]{1,2000})\)")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(?:\[( |x|X)\]\s+)?(.*)$")


def from_markdown(text: str) -> str:
    """Markdown (as the platform writes summaries) in Slack's mrkdwn: headings and bold as `*bold*`,
    italics as `_it_`, `~~x~~` as `~x~`, bullets as `•`, `[label](url)` as `<url|label>`. What Slack
    would read as a control character is escaped first; code spans are left as they are."""
    out = []
    fenced = False
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip().startswith("```"):
            fenced = not fenced
            out.append("```")
            continue
        if fenced:
            out.append(escape(line))
            continue
        out.append(_line(line))
    return "\n".join(out).strip()


def _line(line: str) -> str:
    parts = re.split(r"(`[^`\n]+`)", line)  # code spans stay as typed (escaped)
    converted = [escape(part) if n % 2 else _inline(escape(part)) for n, part in enumerate(parts)]
    line = "".join(converted)
    if m := _HEADING.match(line):
        return f"*{m.group(1).strip('*')}*" if m.group(1) else ""
    if m := _BULLET.match(line):
        box = {" ": "☐ ", "x": "☑ ", "X": "☑ "}.get(m.group(2) or "", "")
        return f"{m.group(1)}• {box}{m.group(3)}"
    return line


def _inline(part: str) -> str:
    links: list[str] = []

    def keep(m: re.Match) -> str:  # links first, so that their URLs are not read as emphasis
        links.append(f"<{m.group(2)}|{m.group(1).replace('|', '¦')}>")
        return f"\x00{len(links) - 1}\x00"

    part = _LINK.sub(keep, part)
    part = _BOLD.sub(lambda m: f"\x01{m.group(2)}\x01", part)
    part = _ITALIC.sub(lambda m: f"_{m.group(1)}_", part)
    part = _STRIKE.sub(lambda m: f"~{m.group(1)}~", part)
    part = part.replace("\x01", "*")
    return re.sub("\x00(\\d+)\x00", lambda m: links[int(m.group(1))], part)
