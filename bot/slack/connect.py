"""`/rec connect`: the form for a workspace's own platform account, and reading what was typed in it.

Both platforms' fields are on one form (a modal cannot change its fields without a round trip); the
ones of the platform not chosen are ignored. What is missing or malformed is said on its field.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bot.service.accounts import FIELDS
from bot.slack.blocks import plain, section

LABELS = {"org_id": "Dyte organization ID", "api_key": "Dyte API key", "account_id": "Cloudflare account ID",
          "app_id": "RealtimeKit app ID", "api_token": "Cloudflare API token (Realtime permission)"}
PLATFORMS = {"dyte": "Dyte", "realtimekit": "Cloudflare RealtimeKit"}


def connect_modal(flavour: str, public_url: str | None, channel_id: str) -> dict[str, Any]:
    options = [{"text": plain(label), "value": value} for value, label in PLATFORMS.items()]

    def field(name: str) -> dict[str, Any]:
        return {"type": "input", "block_id": name, "optional": True, "label": plain(LABELS[name]),
                "element": {"type": "plain_text_input", "action_id": "value", "max_length": 200}}

    url = {"type": "plain_text_input", "action_id": "value", "max_length": 200,
           "placeholder": plain("https://rec.example.com")}
    if public_url:
        url["initial_value"] = public_url
    return {
        "type": "modal", "callback_id": "rec_connect", "private_metadata": channel_id,
        "title": plain("Connect an account", 24), "submit": plain("Connect", 24), "close": plain("Cancel", 24),
        "blocks": [
            section("The workspace's own Dyte or RealtimeKit account, for meetings linked from now on. recbot "
                    "checks the credentials with the platform, keeps them encrypted, and registers its webhook "
                    "there. Channels linked before keep their meeting's account."),
            {"type": "input", "block_id": "platform", "label": plain("Platform"),
             "element": {"type": "static_select", "action_id": "value", "options": options,
                         "initial_option": next(o for o in options if o["value"] == flavour)}},
            *(field(name) for name in FIELDS["dyte"]),
            *(field(name) for name in FIELDS["realtimekit"]),
            {"type": "input", "block_id": "public_url", "label": plain("recbot's public URL"),
             "hint": plain("Where the platform can reach recbot; its webhooks go to this URL's /webhooks/…"),
             "element": url},
        ],
    }


def connect_values(view: dict[str, Any]) -> tuple[str, dict[str, str], str, dict[str, str]]:
    """(platform, its credentials, the public URL, errors by block id)."""
    state = ((view.get("state") or {}).get("values")) or {}

    def value(name: str) -> str:
        return str((state.get(name, {}).get("value") or {}).get("value") or "").strip()

    chosen = (state.get("platform", {}).get("value") or {}).get("selected_option") or {}
    flavour = str(chosen.get("value") or "")
    errors: dict[str, str] = {}
    if flavour not in FIELDS:
        errors["platform"] = "Choose Dyte or Cloudflare RealtimeKit."
        return flavour, {}, value("public_url"), errors
    credentials = {name: value(name) for name in FIELDS[flavour]}
    for name, text in credentials.items():
        if not text:
            errors[name] = f"Needed for {PLATFORMS[flavour]}."
        elif any(c.isspace() for c in text):
            errors[name] = "No spaces, please: paste it as the platform shows it."
    public_url = value("public_url")
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        errors["public_url"] = "An http(s) URL such as https://rec.example.com."
    return flavour, credentials, public_url, errors
