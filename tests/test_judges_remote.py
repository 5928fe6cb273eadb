"""The Gemini and OpenAI-compatible judges, with their real clients (google-genai SDK, stdlib HTTP) against fake
servers on 127.0.0.1: retries (429 + Retry-After, 5xx, timeouts, unreadable replies), failures in words (invalid key,
safety block), error records in a comparison, nothing already judged lost, and the key never written anywhere."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import pytest
from compare_fixtures import fake_adapter_folder_run
from fake_gemini import FakeGemini
from fake_openai import FakeOpenAI

from dpostudio.plugins import Verdict
from dpostudio.plugins.manager import HookCallError, get_manager
from dpostudio_builtin import remote_judging

GEMINI_KEY = "test-gemini-key-123"
OPENAI_KEY = "sk-test-openai-456"
PROMPT = "What is the capital of France?"
SHORT = "Paris."
LONG = "The capital of France is Paris, on the Seine."


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    monkeypatch.setattr(remote_judging, "BACKOFF_BASE", 0.01)


@pytest.fixture
def gemini():
    with FakeGemini(GEMINI_KEY) as server:
        yield server


@pytest.fixture
def openai_server():
    with FakeOpenAI(OPENAI_KEY) as server:
        yield server


def gemini_options(server, **extra):
    return {"api_key": GEMINI_KEY, "base_url": server.url, "timeout": 5, **extra}


def openai_options(server, **extra):
    return {"api_key": OPENAI_KEY, "base_url": server.base_url, "model": "judge-model", "timeout": 5, **extra}


def test_both_remote_judges_are_listed_with_options():
    judges = {j.id: j for j in get_manager().judges()}
    assert {"gemini", "openai-compatible", "local-model"} <= set(judges)
    gemini_opts = {o.name: o for o in judges["gemini"].options}
    assert gemini_opts["model"].default.startswith("gemini-") and "flash" in gemini_opts["model"].default
    assert gemini_opts["api_key"].kind == "secret"
    assert {"base_url", "model", "api_key"} <= {o.name for o in judges["openai-compatible"].options}


# --- Gemini through the real SDK -----------------------------------------------------------------------------

def test_gemini_verdict_through_the_sdk(gemini):
    verdict = get_manager().judge_pair("gemini", PROMPT, SHORT, LONG, None, gemini_options(gemini))
    assert isinstance(verdict, Verdict) and verdict.winner == "B" and verdict.method == "json"
    assert verdict.scores["depth"] == {"A": 3.0, "B": 8.0}
    request = gemini.requests[0]
    assert request["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert request["headers"]["x-goog-api-key"] == GEMINI_KEY
    config = request["body"]["generationConfig"]
    assert config["responseMimeType"] == "application/json" and config["responseSchema"]["type"] == "OBJECT"
    assert LONG in json.dumps(request["body"]["contents"])


def test_gemini_key_comes_from_the_keyring(gemini, memory_keyring, monkeypatch):
    from dpostudio.core import secrets

    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    secrets.set_token("gemini", GEMINI_KEY)
    options = {"base_url": gemini.url, "model": "gemini-2.5-pro"}
    verdict = get_manager().judge_pair("gemini", PROMPT, LONG, SHORT, None, options)
    assert verdict.winner == "A"
    assert gemini.requests[0]["path"].endswith("/models/gemini-2.5-pro:generateContent")


def test_gemini_without_a_key_says_so(gemini, memory_keyring, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    with pytest.raises(HookCallError, match="no Gemini API key") as exc:
        get_manager().judge_pair("gemini", PROMPT, SHORT, LONG, None, {"base_url": gemini.url})
    assert exc.value.user_error and not gemini.requests


def test_gemini_retries_rate_limits_server_errors_and_unreadable_replies(gemini):
    gemini.script += [("429", 0.5), "500", "malformed"]
    t0 = time.monotonic()
    verdict = get_manager().judge_pair("gemini", PROMPT, SHORT, LONG, None, gemini_options(gemini))
    assert time.monotonic() - t0 >= 0.5  # Retry-After was honoured
    assert gemini.behaviours() == [("429", 0.5), "500", "malformed", "ok"]
    assert verdict.winner == "B" and verdict.method == "json, 3 retries"
    assert "Retry-After" in verdict.raw and GEMINI_KEY not in verdict.raw


@pytest.mark.parametrize("behaviour, words", [
    ("safety", "blocked the request for safety reasons"),
    ("401", "API key was refused"),
    ("403", "API key was refused"),
])
def test_gemini_fails_at_once_for_safety_blocks_and_refused_keys(gemini, behaviour, words):
    gemini.script.append(behaviour)
    with pytest.raises(HookCallError, match=words) as exc:
        get_manager().judge_pair("gemini", PROMPT, SHORT, LONG, None, gemini_options(gemini))
    assert exc.value.user_error and len(gemini.requests) == 1  # not retried
    assert GEMINI_KEY not in str(exc.value)
    assert get_manager().info("builtin-gemini-judge").status == "active"


def test_gemini_wrong_key_is_not_retried(gemini):
    with pytest.raises(HookCallError, match="API key was refused"):
        get_manager().judge_pair("gemini", PROMPT, SHORT, LONG, None, gemini_options(gemini, api_key="wrong-key-0"))
    assert len(gemini.requests) == 1


def test_gemini_timeouts_are_retried_then_reported(gemini):
    gemini.script += [("slow", 2.5)] * 2
    with pytest.raises(HookCallError, match="timeout.*after 2 attempts"):
        get_manager().judge_pair("gemini", PROMPT, SHORT, LONG, None, gemini_options(gemini, timeout=1, retries=1))
    assert len(gemini.requests) == 2


def test_gemini_unreadable_replies_are_never_guessed(gemini):
    gemini.script += ["malformed", "malformed"]
    with pytest.raises(HookCallError, match="could not be read as a verdict"):
        get_manager().judge_pair("gemini", PROMPT, SHORT, LONG, None, gemini_options(gemini))
    assert len(gemini.requests) == 2


# --- OpenAI-compatible through plain HTTP -------------------------------------------------------------------

def test_openai_compatible_verdict(openai_server):
    verdict = get_manager().judge_pair("openai-compatible", PROMPT, LONG, SHORT, None, openai_options(openai_server))
    assert verdict.winner == "A" and verdict.scores["coherence"] == {"A": 8.0, "B": 3.0}
    request = openai_server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {OPENAI_KEY}"
    body = request["body"]
    assert body["model"] == "judge-model" and body["temperature"] == 0
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["answer_a", "answer_b", "winner", "reason"]


def test_openai_compatible_without_key_and_json_object_mode():
    with FakeOpenAI(None) as server:
        options = {"base_url": server.base_url + "/", "model": "llama3.1:8b", "response_format": "json_object"}
        verdict = get_manager().judge_pair("openai-compatible", PROMPT, SHORT, LONG, None, options)
        assert verdict.winner == "B"
        assert "Authorization" not in server.requests[0]["headers"]
        assert server.requests[0]["body"]["response_format"] == {"type": "json_object"}


def test_openai_compatible_retries(openai_server):
    openai_server.script += [("429", 0.3), "503", ("slow", 2), "malformed"]
    verdict = get_manager().judge_pair("openai-compatible", PROMPT, SHORT, LONG, None,
                                       openai_options(openai_server, timeout=1))
    assert verdict.winner == "B"
    assert len(openai_server.requests) == 5 and verdict.method == "json, 4 retries"


@pytest.mark.parametrize("behaviour, words", [
    ("safety", "content filter"), ("401", "refused the API key"), ("403", "refused the API key"),
])
def test_openai_compatible_fails_at_once(openai_server, behaviour, words):
    openai_server.script.append(behaviour)
    with pytest.raises(HookCallError, match=words) as exc:
        get_manager().judge_pair("openai-compatible", PROMPT, SHORT, LONG, None, openai_options(openai_server))
    assert exc.value.user_error and len(openai_server.requests) == 1
    assert OPENAI_KEY not in str(exc.value)


def test_openai_compatible_unreachable_server_in_words():
    options = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "timeout": 1, "retries": 1}
    with pytest.raises(HookCallError, match="cannot reach the server.*after 2 attempts") as exc:
        get_manager().judge_pair("openai-compatible", PROMPT, SHORT, LONG, None, options)
    assert exc.value.user_error


def test_openai_compatible_needs_a_model_name(openai_server):
    with pytest.raises(HookCallError, match="name the model"):
        get_manager().judge_pair("openai-compatible", PROMPT, SHORT, LONG, None,
                                 {"base_url": openai_server.base_url})


def test_strict_parser_accepts_only_complete_verdicts():
    good = {"answer_a": {"coherence": 7, "relevance": 8, "depth": 6, "reason": "ok"},
            "answer_b": {"coherence": 5, "relevance": 9, "depth": 4, "reason": "meh"}, "winner": "A", "reason": "A"}
    parsed, _ = remote_judging.parse_verdict("```json\n" + json.dumps(good) + "\n```", ["coherence", "relevance", "depth"])
    assert parsed["winner"] == "A" and parsed["scores"]["relevance"] == {"A": 8.0, "B": 9.0}
    for bad in [dict(good, winner="C"), dict(good, answer_b={"coherence": 11, "relevance": 9, "depth": 4}),
                dict(good, answer_a={"coherence": "7", "relevance": 8, "depth": 6}), {"winner": "A"}]:
        assert remote_judging.parse_verdict(json.dumps(bad), ["coherence", "relevance", "depth"])[0] is None
    assert remote_judging.parse_verdict("Answer A: " + json.dumps(good), ["coherence"])[0] is None


# --- in a comparison: both orders, error records, nothing lost, no key on disk -------------------------------

@pytest.fixture
def stand_in_model(monkeypatch):
    """Replace the model with canned answers so these tests need no weights (the e2e test uses the real one)."""
    from dpostudio.core.compare import comparison

    answers = {"base": "Short.", "tuned": "A longer and more detailed tuned answer."}

    def fake_generate(pair, inputs, settings, *, adapter, on_text, cancel):
        text = answers["tuned" if adapter else "base"]
        for word in text.split(" "):
            on_text(word + " ")
        return {"answer": text, "tokens": len(text.split()) + 1, "words": len(text.split()), "seconds": 0.0,
                "stop": "eos"}

    monkeypatch.setattr(comparison, "load_pair", lambda run, checkpoint=None, on_stage=None: SimpleNamespace(tokenizer=None))
    monkeypatch.setattr(comparison, "model_inputs", lambda prompt, config, tokenizer: {})
    monkeypatch.setattr(comparison, "generate_streaming", fake_generate)
    return answers


def test_each_pair_is_judged_in_both_orders_and_disagreement_is_a_tie(stand_in_model, openai_server):
    from dpostudio.core.compare.comparison import compare

    run = fake_adapter_folder_run()
    always_a = {"answer_a": {"coherence": 9, "relevance": 9, "depth": 9, "reason": "first"},
                "answer_b": {"coherence": 2, "relevance": 2, "depth": 2, "reason": "second"},
                "winner": "A", "reason": "position bias"}
    openai_server.script += [("verdict", always_a), ("verdict", always_a)]  # prompt 1: the judge always says A
    result = compare(run.id, ["Q1", "Q2"], None, "openai-compatible", openai_options(openai_server))
    first, second = result.items
    bodies = [r["body"]["messages"][1]["content"] for r in openai_server.requests]
    assert bodies[0].index(stand_in_model["base"]) < bodies[0].index(stand_in_model["tuned"])  # base as A
    assert bodies[1].index(stand_in_model["tuned"]) < bodies[1].index(stand_in_model["base"])  # swapped
    assert first["verdict"] == "tie" and first["position_disagreement"]
    assert first["scores"]["depth"] == {"base": 5.5, "tuned": 5.5}
    assert second["verdict"] == "tuned" and not second["position_disagreement"]
    assert result.summary["headline"].startswith("tuned better in 1/2")
    assert result.summary["position_disagreements"] == 1


def test_judge_failures_are_recorded_and_nothing_already_judged_is_lost(stand_in_model, gemini):
    from dpostudio.core.compare import store as comparison_store
    from dpostudio.core.compare.comparison import compare

    run = fake_adapter_folder_run()
    seen_items = []
    # prompt 1: ok after a 429; prompt 2: safety block on the first order; prompt 3: ok
    gemini.script += [("429", 0.1), "ok", "ok", "safety", "ok", "ok", "ok"]
    options = gemini_options(gemini)

    def on_event(event):
        if event["type"] == "item":  # the record is on disk before the event arrives
            on_disk = comparison_store.read_items(event_dir[0])
            seen_items.append(len(on_disk))
        if event["type"] == "started":
            event_dir.append(event["dir"])
    event_dir: list = []
    result = compare(run.id, ["Q1", "Q2", "Q3"], None, "gemini", options, on_event)
    assert seen_items == [1, 2, 3]
    assert [it["verdict"] for it in result.items] == ["tuned", "error", "tuned"]
    assert "safety" in result.items[1]["judge_error"]
    assert result.summary["judge_errors"] == 1 and result.summary["tuned_wins"] == 2
    assert result.summary["headline"] == "tuned better in 2/3 (base better in 0, 0 ties, 1 judge error)"
    assert "(hidden)" in json.dumps(comparison_store.read_meta(result.path)["judge_options"])
    for f in result.path.iterdir():
        assert GEMINI_KEY not in f.read_text(encoding="utf-8"), f.name
    assert "judge error" in result.log_path.read_text(encoding="utf-8")
    reopened = comparison_store.load(result.path)
    assert len(reopened["items"]) == 3 and reopened["summary"]["judge_errors"] == 1
    csv_text = result.csv_path.read_text(encoding="utf-8")
    assert csv_text.splitlines()[0].startswith("index,prompt,base_answer,tuned_answer")
    assert len(csv_text.strip().splitlines()) == 4


def test_a_comparison_cut_short_keeps_its_finished_items(stand_in_model, openai_server):
    from dpostudio.core.compare import store as comparison_store
    from dpostudio.core.compare.comparison import compare

    run = fake_adapter_folder_run()
    cancel = threading.Event()

    def on_event(event):
        if event["type"] == "item" and event["prompt_index"] == 1:
            cancel.set()
    result = compare(run.id, ["Q1", "Q2", "Q3", "Q4"], None, "openai-compatible", openai_options(openai_server),
                     on_event, cancel)
    assert result.status == "cancelled" and len(result.items) == 2
    assert "only 2 of 4 prompts" in " ".join(result.summary["notes"])
    listed = comparison_store.list_comparisons(run)
    assert listed[0]["status"] == "cancelled" and listed[0]["prompts"] == 4
    assert len(comparison_store.load(listed[0]["path"])["items"]) == 2
