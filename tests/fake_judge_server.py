"""Machinery shared by the fake Gemini and OpenAI-compatible servers used in tests.

A server runs on 127.0.0.1 in a thread. Each request takes the next scripted behaviour from ``script``
(a list you append to); when the script is empty the server answers normally. Behaviours:

``"ok"``                    a well-formed verdict (the longer answer wins, scores follow the lengths)
``("429", seconds)``        HTTP 429 with ``Retry-After: seconds``
``"429"``                   HTTP 429 without Retry-After
``"500"`` / ``"503"``       a server error
``("slow", seconds)``       wait, then answer normally (beyond the client's timeout, the client gives up)
``"malformed"``             HTTP 200 whose text is not a readable verdict
``"safety"``                a safety block (Gemini: promptFeedback.blockReason; OpenAI: content_filter)
``"401"`` / ``"403"``       key refused
``("verdict", dict)``       exactly this verdict object

Every request is recorded in ``requests`` as ``{"path", "headers", "body", "behaviour"}``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ANSWER = re.compile(r"\[Answer ([AB])\]\n(.*?)\n\[End of answer \1\]", re.DOTALL)


def answers_in(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in ANSWER.finditer(text)}


def length_verdict(prompt_text: str, criteria=("coherence", "relevance", "depth")) -> dict:
    """A deterministic judge: the longer answer wins (so both orders agree), ties on equal length."""
    found = answers_in(prompt_text)
    a, b = len(found.get("A", "")), len(found.get("B", ""))

    def score(n: int, other: int) -> int:
        return 8 if n > other else 5 if n == other else 3
    winner = "A" if a > b else "B" if b > a else "tie"
    return {"answer_a": {**{c: score(a, b) for c in criteria}, "reason": f"{a} characters"},
            "answer_b": {**{c: score(b, a) for c in criteria}, "reason": f"{b} characters"},
            "winner": winner, "reason": "the longer answer covers more ground"}


class FakeJudgeServer:
    """Subclasses implement ``handle(handler, path, body, behaviour)``."""

    def __init__(self):
        self.script: list[Any] = []
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                with server._lock:
                    behaviour = server.script.pop(0) if server.script else "ok"
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                            "behaviour": behaviour})
                kind, arg = (behaviour if isinstance(behaviour, tuple) else (behaviour, None))
                if kind == "slow":
                    time.sleep(float(arg or 2))
                    kind = "ok"
                try:
                    server.handle(self, self.path, body, kind, arg)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout)

            def send_json(self, status: int, payload: Any, headers: dict | None = None):
                data = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FakeJudgeServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def behaviours(self) -> list:
        return [r["behaviour"] for r in self.requests]

    def handle(self, handler, path: str, body: dict, kind: str, arg: Any) -> None:  # pragma: no cover
        raise NotImplementedError
