"""`POST /meetings`: the options a meeting is made with, checked as the platform checks them and kept
as given, so that the meeting object answers them back (Cloudflare's SDK `MeetingCreateParams`)."""

from __future__ import annotations

from typing import Any

from bot.emulator.errors import EmuError

SUMMARY_TYPES = ("general", "team_meeting", "sales_call", "client_check_in", "interview", "daily_standup",
                 "one_on_one_meeting", "lecture", "code_review")
TEXT_FORMATS = ("plain_text", "markdown")
LANGUAGES = ("en-US", "en-IN", "de", "hi", "sv", "ru", "pl", "el", "fr", "nl")
WRITE_ONLY = ("access_key", "secret", "password", "private_key")  # storage secrets: never answered back


def meeting_options(body: dict[str, Any], flavour: str) -> dict[str, Any]:
    """The keyword arguments of `Platform.create_meeting` for a request body; 400 for a bad one."""
    title = body.get("title")
    if title is not None and not isinstance(title, str):
        raise EmuError(400, 'BAD_REQUEST: "title" must be a string')
    options: dict[str, Any] = {"title": title}
    rtk = flavour == "realtimekit"
    for name in ("record_on_start", "summarize_on_end", *(("transcribe_on_end",) if rtk else ())):
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            raise EmuError(400, f'BAD_REQUEST: "{name}" must be a boolean')
        options[name] = bool(value)
    keep_alive = body.get("session_keep_alive_time_in_secs") if rtk else None  # RealtimeKit's only
    if keep_alive is not None and (isinstance(keep_alive, bool) or not isinstance(keep_alive, int | float)
                                   or not 60 <= keep_alive <= 600):
        raise EmuError(400, 'BAD_REQUEST: "session_keep_alive_time_in_secs" must be a number from 60 to 600')
    options["keep_alive"] = keep_alive
    ai = _object(body, "ai_config")
    summarization, transcription = _object(ai, "summarization"), _object(ai, "transcription")
    _one_of(summarization, "summary_type", SUMMARY_TYPES)
    _one_of(summarization, "text_format", TEXT_FORMATS)
    _one_of(transcription, "language", LANGUAGES)
    if "word_limit" in summarization and (not isinstance(summarization["word_limit"], int)
                                          or isinstance(summarization["word_limit"], bool)):
        raise EmuError(400, 'BAD_REQUEST: "ai_config.summarization.word_limit" must be an integer')
    if "summary_type" in summarization:
        options["summary_type"] = summarization["summary_type"]
    if rtk and "ai_config" in body:
        options["ai_config"] = ai
    if rtk and "recording_config" in body:
        config = _object(body, "recording_config")
        storage = config.get("storage_config")
        if isinstance(storage, dict):
            config = {**config, "storage_config": {k: v for k, v in storage.items() if k not in WRITE_ONLY}}
        options["recording_config"] = config
    return options


def _object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name, {})
    if not isinstance(value, dict):
        raise EmuError(400, f'BAD_REQUEST: "{name}" must be an object')
    return value


def _one_of(body: dict[str, Any], name: str, allowed: tuple[str, ...]) -> None:
    if name in body and body[name] not in allowed:
        raise EmuError(400, f'BAD_REQUEST: "{name}" must be one of {", ".join(allowed)}')
