"""The local Slack's Workflow Builder steps: the `function_executed` event a workflow sends when it reaches
one of the app's steps (as manifest.yml declares them), and functions.completeSuccess / completeError."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from bot.workbench.slack_args import _json
from bot.workbench.slack_state import SlackState


class Workflows(SlackState):
    """Steps run and completed, over the state `SlackState` keeps."""

    def run_function(self, callback_id: str, inputs: dict[str, Any], team_id: str | None = None) -> dict[str, Any]:
        """A workflow reaches one of the app's steps: the `function_executed` event Slack sends, kept running
        until the app completes it."""
        definition = FUNCTIONS.get(callback_id) if FUNCTIONS else {}
        if definition is None:
            raise ValueError(f"the manifest has no function {callback_id!r}")
        execution_id, token = f"Fx{next(self._ts):010d}", f"xwfp-{secrets.token_hex(12)}"
        self.executions[execution_id] = {"callback_id": callback_id, "inputs": inputs, "token": token,
                                         "team": team_id or self.team_id, "state": "running", "outputs": None,
                                         "error": None, "at": time.time()}
        return {"type": "function_executed", "function_execution_id": execution_id,
                "workflow_execution_id": f"Wx{next(self._ts):010d}", "inputs": inputs, "bot_access_token": token,
                "event_ts": f"{time.time():.6f}",
                "function": {"id": f"Fn{callback_id}", "callback_id": callback_id, "type": "app",
                             "title": (definition or {}).get("title", callback_id), "app_id": "A0REC",
                             "input_parameters": _parameters((definition or {}).get("input_parameters")),
                             "output_parameters": _parameters((definition or {}).get("output_parameters"))}}

    def complete_function(self, method: str, token: str, args: dict[str, Any]) -> dict[str, Any]:
        """functions.completeSuccess / completeError as documented: with the execution's own token (as Bolt's
        complete and fail send it), once, while it runs; outputs as the manifest declares them."""
        execution = self.executions.get(str(args.get("function_execution_id", "")))
        if execution is None:
            return {"ok": False, "error": "function_execution_not_found"}
        if token != execution["token"]:
            return {"ok": False, "error": "access_denied"}
        if execution["state"] != "running":
            return {"ok": False, "error": "execution_not_in_running_state"}
        if method == "functions.completeError":
            if not str(args.get("error") or "").strip():
                return {"ok": False, "error": "invalid_arguments"}
            execution.update(state="failed", error=str(args["error"]))
            return {"ok": True}
        outputs = _json(args.get("outputs"), None)
        wanted = ((FUNCTIONS or {}).get(execution["callback_id"]) or {}).get("output_parameters") or {}
        if not isinstance(outputs, dict) or any(
                (spec.get("is_required") and name not in outputs) or
                (name in outputs and spec.get("type") == "string" and not isinstance(outputs[name], str))
                for name, spec in wanted.items()):
            return {"ok": False, "error": "parameter_validation_failed"}
        execution.update(state="completed", outputs=outputs)
        return {"ok": True}


def _load_functions() -> dict[str, Any] | None:
    """The steps manifest.yml declares (None when recbot runs without its source tree)."""
    path = Path(__file__).resolve().parents[2] / "manifest.yml"
    try:
        import yaml
    except ImportError:  # a test dependency: without it the steps' outputs are not checked
        return None
    return (yaml.safe_load(path.read_text()) or {}).get("functions") or {} if path.exists() else None


def _parameters(declared: Any) -> list[dict[str, Any]]:
    """A manifest's parameters as function_executed lists them."""
    return [{"name": name, **spec} for name, spec in (declared or {}).items()]


FUNCTIONS = _load_functions()
