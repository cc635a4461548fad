"""The local Slack's file uploads: files.getUploadURLExternal, the bytes posted to the upload URL, then
files.completeUploadExternal shares them (files.upload is retired)."""

from __future__ import annotations

import json
import uuid

from starlette.requests import Request
from starlette.responses import Response

from bot.workbench.slack_state import File, Message, SlackState


class Files(SlackState):
    """files.* and the upload URL, over the state `SlackState` keeps."""

    def m_files_getUploadURLExternal(self, args):
        """`filename` and `length` (bytes, a positive integer) are required; the answer is a one-use URL to POST
        the bytes to, and the file's id for files.completeUploadExternal."""
        filename, length = str(args.get("filename") or ""), str(args.get("length") or "")
        if not filename or not length.isdigit() or int(length) <= 0:
            return {"ok": False, "error": "invalid_arguments",
                    "response_metadata": {"messages": ["[ERROR] filename and a positive length are required"]}}
        file_id, key = f"F{next(self._ts):09d}", uuid.uuid4().hex
        self.files[file_id] = File(file_id, filename, int(length), args.get("_team"))
        self._uploads[key] = file_id
        return {"ok": True, "upload_url": f"{args['_base']}upload/v1/{key}", "file_id": file_id}

    async def upload(self, request: Request) -> Response:
        """The upload URL: the file's bytes, as the body or as a multipart form's `file`; once."""
        file_id = self._uploads.pop(request.path_params["key"], None)
        if file_id is None:
            return Response("upload URL unknown or used", status_code=404)
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            part = form.get("file") or form.get("filename")
            raw = await part.read() if part is not None and not isinstance(part, str) else str(part or "").encode()
        self.files[file_id].content = raw
        return Response(f"OK - {len(raw)}", media_type="text/plain")

    def m_files_completeUploadExternal(self, args):
        """Shares uploaded files: `files` (a JSON array of {id, title}) is required; `thread_ts` needs a
        `channel_id`; each file must have had its bytes posted, be the caller's, and not be shared yet."""
        try:
            listed = json.loads(args["files"]) if isinstance(args.get("files"), str) else args.get("files")
        except ValueError:
            listed = None
        if not isinstance(listed, list) or not listed or not all(isinstance(f, dict) and f.get("id") for f in listed):
            return {"ok": False, "error": "invalid_arguments"}
        channel, thread_ts = str(args.get("channel_id") or ""), args.get("thread_ts") or None
        if thread_ts and not channel:
            return {"ok": False, "error": "invalid_arguments",
                    "response_metadata": {"messages": ["[ERROR] thread_ts requires channel_id"]}}
        found = [self.files.get(str(f["id"])) for f in listed]
        if any(f is None or f.content is None or f.shared or f.team != args.get("_caller") for f in found):
            return {"ok": False, "error": "file_not_found"}
        if len(found[0].content or b"") != found[0].length:  # the bytes posted are not the length asked for
            return {"ok": False, "error": "invalid_arguments",
                    "response_metadata": {"messages": ["[ERROR] the uploaded size differs from length"]}}
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        if thread_ts and (channel, thread_ts) not in self.messages:
            return {"ok": False, "error": "thread_not_found"}
        shown = []
        for f, asked in zip(found, listed, strict=True):
            f.shared, f.title = bool(channel), str(asked.get("title") or f.filename)
            shown.append({"id": f.id, "name": f.filename, "title": f.title, "size": f.length})
        if channel:
            ts = self._next_ts()
            self.messages[(channel, ts)] = Message(channel, ts, str(args.get("initial_comment") or ""), None,
                                                   thread_ts, files=shown, team=args.get("_caller"))
        return {"ok": True, "files": shown}

    def file_text(self, file_id: str) -> str:
        """What a person downloading the file would read."""
        return (self.files[file_id].content or b"").decode("utf-8", errors="replace")
