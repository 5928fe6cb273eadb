"""A fake Gemini API on 127.0.0.1 speaking ``POST /v1beta/models/{model}:generateContent``.

The real ``google-genai`` client talks to it when given ``HttpOptions(base_url=server.url)``. It replies with
the JSON the SDK parses (``candidates[].content.parts[].text``, ``finishReason``, ``promptFeedback``,
``usageMetadata``), and Google's error body (``{"error": {"code", "message", "status"}}``) for failures.
See ``fake_judge_server`` for the scripted behaviours.
"""

from __future__ import annotations

import json
import re

from fake_judge_server import FakeJudgeServer, length_verdict

PATH = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):generateContent$")
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


class FakeGemini(FakeJudgeServer):
    def __init__(self, api_key: str = "test-gemini-key-123"):
        super().__init__()
        self.api_key = api_key

    @staticmethod
    def prompt_text(body: dict) -> str:
        return "".join(p.get("text", "") for c in body.get("contents", []) for p in c.get("parts", []))

    def error(self, handler, code: int, message: str, headers: dict | None = None):
        handler.send_json(code, {"error": {"code": code, "message": message, "status": STATUS.get(code, "UNKNOWN")}},
                          headers)

    def handle(self, handler, path, body, kind, arg):
        match = PATH.match(path.split("?")[0])
        if not match:
            return self.error(handler, 404, f"unknown path {path}")
        if kind not in ("401", "403") and handler.headers.get("x-goog-api-key") != self.api_key:
            return handler.send_json(400, {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                                                     "status": "INVALID_ARGUMENT",
                                                     "details": [{"reason": "API_KEY_INVALID"}]}})
        if kind in ("401", "403"):
            return self.error(handler, int(kind), "Permission denied: API key not valid")
        if kind == "429":
            headers = {"Retry-After": str(arg)} if arg is not None else None
            return self.error(handler, 429, "Resource has been exhausted (e.g. check quota).", headers)
        if kind in ("500", "503"):
            return self.error(handler, int(kind), "An internal error has occurred.")
        model = match.group("model")
        if kind == "safety":
            return handler.send_json(200, {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}]},
                "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10}, "modelVersion": model})
        if kind == "malformed":
            text = '{"answer_a": {"coherence": "great"'  # cut off, not a verdict
        elif kind == "verdict":
            text = json.dumps(arg)
        else:
            text = json.dumps(length_verdict(self.prompt_text(body)))
        handler.send_json(200, {
            "candidates": [{"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP",
                            "index": 0}],
            "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 40, "totalTokenCount": 140},
            "modelVersion": model, "responseId": "fake"})
