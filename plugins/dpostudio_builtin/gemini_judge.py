"""Built-in judge: Google Gemini through the ``google-genai`` SDK.

The API key comes from the judge's ``api_key`` option when given, else from the OS keyring (Settings ->
Gemini API key) or the ``GEMINI_API_KEY`` environment variable. The reply is requested as JSON with a response
schema and parsed strictly (see ``remote_judging``); rate limits, server errors and timeouts are retried with
backoff (honouring ``Retry-After``), an invalid key or a safety block fails that comparison at once, in words.
The key is never written to a record, a log or an error message.
"""

from __future__ import annotations

from dpostudio.plugins import DEFAULT_CRITERIA, JudgeInfo, PluginError, SourceOption, hookimpl

from . import remote_judging as rj

DPOSTUDIO_HOOK_API = 1

GEMINI_JUDGE = "gemini"
DEFAULT_MODEL = "gemini-2.5-flash"
API_VERSION = "v1beta"
SAFETY_FINISH = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY", "MODEL_ARMOR"}


@hookimpl
def dpostudio_judges():
    """The Gemini judge."""
    return [
        JudgeInfo(
            id=GEMINI_JUDGE,
            title="Gemini",
            description="Google Gemini scores both answers on each criterion (1-10) with a reason and names the "
            "better one; needs a Gemini API key (Settings) and an internet connection.",
            modes=["pairwise"],
            options=[
                SourceOption(
                    "model",
                    "Model",
                    default=DEFAULT_MODEL,
                    help="a Gemini model name, e.g. gemini-2.5-flash or gemini-2.5-pro",
                ),
                SourceOption(
                    "api_key",
                    "API key",
                    kind="secret",
                    help="leave empty to use the key saved in Settings (OS keyring) or GEMINI_API_KEY",
                ),
                SourceOption(
                    "base_url",
                    "API address",
                    default="",
                    help="leave empty for Google's endpoint; a proxy or test server otherwise",
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


def _api_key(options: dict) -> str:
    key = str(options.get("api_key") or "").strip()
    if key:
        return key
    from dpostudio.core.secrets import get_token

    key = get_token("gemini") or ""
    if not key:
        raise PluginError(
            "no Gemini API key: save one in Settings (it is kept in the OS keyring) "
            "or set the GEMINI_API_KEY environment variable"
        )
    return key


def response_schema(criteria: list[str]) -> dict:
    """The verdict in Gemini's schema dialect (OpenAPI subset, upper-case types, explicit property order)."""
    side_props = {c: {"type": "INTEGER", "minimum": 1, "maximum": 10} for c in criteria}
    side_props["reason"] = {"type": "STRING"}
    side = {
        "type": "OBJECT",
        "properties": side_props,
        "required": [*criteria, "reason"],
        "property_ordering": [*criteria, "reason"],
    }
    return {
        "type": "OBJECT",
        "properties": {
            "answer_a": side,
            "answer_b": side,
            "winner": {"type": "STRING", "enum": ["A", "B", "tie"]},
            "reason": {"type": "STRING"},
        },
        "required": ["answer_a", "answer_b", "winner", "reason"],
        "property_ordering": ["answer_a", "answer_b", "winner", "reason"],
    }


def _classify(exc: BaseException) -> Exception:
    """An SDK/transport exception -> Transient or Fatal, in words."""
    from google.genai import errors

    if isinstance(exc, errors.APIError):
        code = int(getattr(exc, "code", 0) or 0)
        detail = (getattr(exc, "message", None) or getattr(exc, "status", None) or "").strip()
        detail_text = f": {detail}" if detail else ""
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        try:
            retry_after = rj.retry_after_seconds(headers.get("retry-after"))
        except Exception:
            retry_after = None
        key_problem = "API_KEY_INVALID" in str(getattr(exc, "details", "")) or "api key not valid" in detail.lower()
        if code in (401, 403) or key_problem:
            return rj.Fatal(f"the Gemini API key was refused (HTTP {code}{detail_text}); check it in Settings")
        if code == 429:
            return rj.Transient(f"rate limited by Gemini (HTTP 429{detail_text})", retry_after)
        if code in (408, 500, 502, 503, 504) or code >= 500:
            return rj.Transient(f"Gemini server error (HTTP {code}{detail_text})", retry_after)
        if code == 404:
            return rj.Fatal(f"Gemini does not know this model (HTTP 404{detail_text}); check the model name")
        return rj.Fatal(f"Gemini refused the request (HTTP {code}{detail_text})")
    timeout, words = rj.describe_network_error(exc)
    return rj.Transient(words)


def _reply_text(response) -> str:
    """The text of a generateContent reply; Fatal for safety blocks."""
    feedback = getattr(response, "prompt_feedback", None)
    block = getattr(feedback, "block_reason", None) if feedback is not None else None
    if block:
        name = getattr(block, "value", None) or str(block)
        raise rj.Fatal(f"Gemini blocked the request for safety reasons ({name}); this comparison is skipped")
    candidates = getattr(response, "candidates", None) or []
    if not candidates:
        raise rj.Transient("Gemini sent no answer (no candidates)")
    first = candidates[0]
    finish = getattr(first, "finish_reason", None)
    finish_name = getattr(finish, "value", None) or (str(finish) if finish else "")
    if finish_name in SAFETY_FINISH:
        raise rj.Fatal(f"Gemini stopped its answer for safety reasons ({finish_name}); this comparison is skipped")
    parts = getattr(getattr(first, "content", None), "parts", None) or []
    text = "".join(p.text for p in parts if getattr(p, "text", None) and not getattr(p, "thought", False))
    return text


@hookimpl
def dpostudio_judge_pair(judge_id, prompt, answer_a, answer_b, criteria, options):
    """Ask Gemini for a verdict; None for other judges."""
    if judge_id != GEMINI_JUDGE:
        return None
    criteria = list(criteria or DEFAULT_CRITERIA)
    options = dict(options or {})
    model = str(options.get("model") or DEFAULT_MODEL).strip()
    timeout = rj.float_option(options, "timeout", rj.DEFAULT_TIMEOUT, 1, 3600)
    retries = rj.int_option(options, "retries", rj.DEFAULT_RETRIES, 0, 20)
    base_url = str(options.get("base_url") or "").strip() or None
    key = _api_key(options)

    from google import genai
    from google.genai import types

    # v1beta: the API version with structured output (responseSchema) and system instructions for every model;
    # pinned because google-genai 3.x defaults to v1.
    client = genai.Client(
        api_key=key,
        http_options=types.HttpOptions(base_url=base_url, api_version=API_VERSION, timeout=int(timeout * 1000)),
    )
    config = types.GenerateContentConfig(
        system_instruction=rj.SYSTEM_INSTRUCTION,
        temperature=0.0,
        response_mime_type="application/json",
        response_schema=response_schema(criteria),
    )
    contents = rj.rubric(prompt, answer_a, answer_b, criteria)

    def call() -> str:
        try:
            response = client.models.generate_content(model=model, contents=contents, config=config)
        except (rj.Transient, rj.Fatal):
            raise
        except Exception as exc:  # SDK / transport errors, classified in words
            raise _classify(exc) from None
        return _reply_text(response)

    try:
        return rj.judge_with_retries(call, criteria, judge_name=f"Gemini ({model})", retries=retries, secret=key)
    finally:
        try:
            client.close()
        except Exception:
            pass
