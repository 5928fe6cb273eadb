"""A fake OpenAI-compatible server on 127.0.0.1 speaking ``POST /v1/chat/completions``.

Replies with the chat-completions JSON (``choices[0].message.content``, ``finish_reason``) and OpenAI's error body
(``{"error": {"message", "type", "code"}}``). See ``fake_judge_server`` for the scripted behaviours.
"""

from __future__ import annotations

import json

from fake_judge_server import FakeJudgeServer, length_verdict


class FakeOpenAI(FakeJudgeServer):
    def __init__(self, api_key: str | None = None):
        super().__init__()
        self.api_key = api_key

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @staticmethod
    def prompt_text(body: dict) -> str:
        return "\n".join(m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user")

    def error(self, handler, code: int, message: str, headers: dict | None = None):
        handler.send_json(code, {"error": {"message": message, "type": "error", "code": code}}, headers)

    def handle(self, handler, path, body, kind, arg):
        if path.split("?")[0] != "/v1/chat/completions":
            return self.error(handler, 404, f"unknown path {path}")
        if self.api_key and handler.headers.get("Authorization") != f"Bearer {self.api_key}" or kind in ("401", "403"):
            return self.error(handler, 401 if kind != "403" else 403, "Incorrect API key provided")
        if kind == "429":
            headers = {"Retry-After": str(arg)} if arg is not None else None
            return self.error(handler, 429, "Rate limit reached", headers)
        if kind in ("500", "503"):
            return self.error(handler, int(kind), "The server had an error while processing your request")
        finish, text = "stop", None
        if kind == "safety":
            finish, text = "content_filter", ""
        elif kind == "malformed":
            text = "Sure! Answer A is better because it is longer."
        elif kind == "verdict":
            text = json.dumps(arg)
        else:
            text = json.dumps(length_verdict(self.prompt_text(body)))
        handler.send_json(200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": body.get("model", ""),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 40, "total_tokens": 140}})
