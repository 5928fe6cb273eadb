"""Built-in judge: any OpenAI-compatible chat-completions server (Ollama, LM Studio, llama.cpp server, vLLM, ...).

``POST {base_url}/chat/completions`` with the rubric, ``temperature`` 0 and a JSON response format (a JSON
schema by default; ``json_object`` or none for servers that lack it). The reply is parsed strictly (see
``remote_judging``). HTTP 408/429/5xx, timeouts and network errors are retried with backoff (``Retry-After``
honoured); 401/403 (key refused), a content filter or a bad request fail that comparison at once, in words.

Uses only the standard library's HTTP client, so it adds no dependency. The optional API key comes from the
``api_key`` option, else from the OS keyring (Settings -> OpenAI-compatible server API key) or
``OPENAI_API_KEY``; it is sent as a Bearer token and never written anywhere.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from dpostudio.plugins import DEFAULT_CRITERIA, JudgeInfo, PluginError, SourceOption, hookimpl

from . import remote_judging as rj

DPOSTUDIO_HOOK_API = 1

OPENAI_JUDGE = "openai-compatible"
DEFAULT_BASE_URL = "http://localhost:11434/v1"  # Ollama; LM Studio: :1234/v1, llama.cpp: :8080/v1, vLLM: :8000/v1
RESPONSE_FORMATS = ("json_schema", "json_object", "none")


@hookimpl
def dpostudio_judges():
    """The OpenAI-compatible server judge."""
    return [
        JudgeInfo(
            id=OPENAI_JUDGE,
            title="OpenAI-compatible server",
            description="A chat-completions server (Ollama, LM Studio, llama.cpp, vLLM, or OpenAI itself) scores both "
            "answers on each criterion (1-10) with a reason and names the better one.",
            modes=["pairwise"],
            options=[
                SourceOption(
                    "base_url",
                    "Server address",
                    default=DEFAULT_BASE_URL,
                    required=True,
                    help="up to /v1: Ollama http://localhost:11434/v1, LM Studio http://localhost:1234/v1, "
                    "llama.cpp http://localhost:8080/v1, vLLM http://localhost:8000/v1",
                ),
                SourceOption("model", "Model", default="", required=True, help="the model name the server knows"),
                SourceOption(
                    "api_key",
                    "API key",
                    kind="secret",
                    help="optional; empty uses the key saved in Settings or OPENAI_API_KEY, if any",
                ),
                SourceOption(
                    "response_format",
                    "JSON mode",
                    kind="choice",
                    choices=list(RESPONSE_FORMATS),
                    default="json_schema",
                    help="how to ask for JSON; pick another if the server rejects it",
                ),
                SourceOption("timeout", "Timeout (s)", kind="float", default=rj.DEFAULT_TIMEOUT),
                SourceOption(
                    "retries",
                    "Retries",
                    kind="int",
                    default=rj.DEFAULT_RETRIES,
                    help="extra attempts after a rate limit, server error or timeout",
                ),
            ],
        )
    ]


def _api_key(options: dict) -> str | None:
    key = str(options.get("api_key") or "").strip()
    if key:
        return key
    from dpostudio.core.secrets import get_token

    return get_token("openai_compatible")


def request_body(model: str, prompt: str, answer_a: str, answer_b: str, criteria: list[str], fmt: str) -> dict:
    body = {
        "model": model,
        "temperature": 0,
        "stream": False,
        "messages": [
            {"role": "system", "content": rj.SYSTEM_INSTRUCTION},
            {"role": "user", "content": rj.rubric(prompt, answer_a, answer_b, criteria)},
        ],
    }
    if fmt == "json_schema":
        schema = {"name": "verdict", "strict": True, "schema": rj.json_schema(criteria)}
        body["response_format"] = {"type": "json_schema", "json_schema": schema}
    elif fmt == "json_object":
        body["response_format"] = {"type": "json_object"}
    return body


def _error_detail(raw: bytes) -> str:
    try:
        data = json.loads(raw.decode("utf-8", "replace"))
        err = data.get("error", data) if isinstance(data, dict) else data
        message = err.get("message") if isinstance(err, dict) else err
        return str(message or "").strip()[:300]
    except Exception:
        return raw.decode("utf-8", "replace").strip()[:300]


def _post(url: str, body: dict, key: str | None, timeout: float) -> dict:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        code = exc.code
        detail = _error_detail(exc.read() or b"")
        detail_text = f": {detail}" if detail else ""
        retry_after = rj.retry_after_seconds(exc.headers.get("Retry-After") if exc.headers else None)
        if code in (401, 403):
            raise rj.Fatal(f"the server refused the API key (HTTP {code}{detail_text}); check it in Settings") from None
        if code == 429:
            raise rj.Transient(f"rate limited by the server (HTTP 429{detail_text})", retry_after) from None
        if code in (408, 409) or code >= 500:
            raise rj.Transient(f"server error (HTTP {code}{detail_text})", retry_after) from None
        if code == 404:
            raise rj.Fatal(
                f"{url} was not found (HTTP 404{detail_text}); the address should end in /v1 and the "
                "model must exist on the server"
            ) from None
        hint = (
            "; try another JSON mode (response_format option)"
            if "response_format" in detail or "json" in detail.lower()
            else ""
        )
        raise rj.Fatal(f"the server rejected the request (HTTP {code}{detail_text}){hint}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        _, words = rj.describe_network_error(reason if isinstance(reason, BaseException) else exc)
        raise rj.Transient(words) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError:
        raise rj.Transient("the server's reply was not JSON (a proxy error page?)") from None
    if not isinstance(data, dict):
        raise rj.Transient("the server's reply was not a JSON object")
    return data


def reply_text(data: dict) -> str:
    """The assistant text of a chat-completions reply; Fatal for a content filter or a refusal."""
    if isinstance(data.get("error"), (dict, str)):
        raise rj.Transient(f"the server reported an error: {_error_detail(json.dumps(data).encode())}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise rj.Transient("the server's reply has no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    if choice.get("finish_reason") == "content_filter":
        raise rj.Fatal("the server's content filter blocked the answer (safety); this comparison is skipped")
    if isinstance(message, dict) and message.get("refusal"):
        raise rj.Fatal(f"the judge model refused: {str(message['refusal'])[:200]}")
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):  # content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


@hookimpl
def dpostudio_judge_pair(judge_id, prompt, answer_a, answer_b, criteria, options):
    """Ask the OpenAI-compatible server for a verdict; None for other judges."""
    if judge_id != OPENAI_JUDGE:
        return None
    criteria = list(criteria or DEFAULT_CRITERIA)
    options = dict(options or {})
    base = str(options.get("base_url") or DEFAULT_BASE_URL).strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise PluginError(f"the server address must start with http:// or https://, not {base!r}")
    if base.endswith("/chat/completions"):
        base = base[: -len("/chat/completions")]
    model = str(options.get("model") or "").strip()
    if not model:
        raise PluginError("name the model the server should use (model option), e.g. llama3.1:8b for Ollama")
    fmt = str(options.get("response_format") or "json_schema")
    if fmt not in RESPONSE_FORMATS:
        raise PluginError(f"response_format must be one of {', '.join(RESPONSE_FORMATS)}, not {fmt!r}")
    timeout = rj.float_option(options, "timeout", rj.DEFAULT_TIMEOUT, 0.1, 3600)
    retries = rj.int_option(options, "retries", rj.DEFAULT_RETRIES, 0, 20)
    key = _api_key(options)
    body = request_body(model, prompt, answer_a, answer_b, criteria, fmt)
    url = f"{base}/chat/completions"
    return rj.judge_with_retries(
        lambda: reply_text(_post(url, body, key, timeout)),
        criteria,
        judge_name=f"{model} at {base}",
        retries=retries,
        secret=key,
    )
