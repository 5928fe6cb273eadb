"""The run's model with its adapter, and the answers it streams.

``load_pair`` loads the run's base model and its LoRA adapter (the final one, or a checkpoint's) **once** and keeps
it for the next comparison of the same adapter in this process. Base answers come from the same weights with the
adapter disabled (``with model.disable_adapter():``), tuned answers with it enabled: no second copy in memory.
``model_inputs`` shapes a prompt exactly as the run's training data was (its prompt template and system prompt);
``generate_streaming`` generates one answer, handing each decoded piece to a callback as it comes
(``transformers.TextIteratorStreamer``). Which adapter folder belongs to a checkpoint is the run's own rule
(``Run.final_adapter``, ``Run.adapter_for``, ``Run.checkpoint_steps``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpostudio.core.compare.prompt_sets import Prompt
from dpostudio.core.compare.settings import ComparisonError, GenerationSettings


def adapter_path(run, checkpoint: int | str | None = None) -> tuple[Path, str]:
    """The adapter folder to load and a label for it: the final adapter, ``checkpoint-N``, or "latest"."""
    if checkpoint in (None, "", "final"):
        path = run.final_adapter()
        if path is None:
            steps = run.checkpoint_steps()
            hint = (
                f"; compare a checkpoint instead (--checkpoint {steps[-1]})"
                if steps
                else "; finish (or resume) the training first"
            )
            raise ComparisonError(f"run {run.id} has no final adapter{hint}")
        return path, "final adapter"
    if checkpoint == "latest":
        steps = run.checkpoint_steps()
        if not steps:
            raise ComparisonError(f"run {run.id} has no checkpoints")
        checkpoint = steps[-1]
    try:
        step = int(checkpoint)
    except (TypeError, ValueError):
        raise ComparisonError(f"checkpoint must be a step number, 'latest' or 'final', not {checkpoint!r}") from None
    path = run.adapter_for(step)
    if path is None:
        available = ", ".join(str(s) for s in run.checkpoint_steps()) or "none"
        raise ComparisonError(f"run {run.id} has no adapter checkpoint at step {step} (available: {available})")
    return path, f"checkpoint {step}"


@dataclass
class LoadedPair:
    """The base model with the adapter attached (a ``PeftModel``) and its tokenizer, on one device."""

    model: Any
    tokenizer: Any
    device: str
    key: tuple


_cache: dict[str, LoadedPair] = {}
_cache_lock = threading.Lock()


def _inference_dtype(device: str, precision: str):
    import torch

    if device == "cpu":
        return torch.float32  # reproducible greedy answers; bf16 autocast is a training speed-up
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)


def load_pair(
    run, checkpoint: int | str | None = None, on_stage: Callable[[str, float], None] | None = None
) -> LoadedPair:
    """Load the run's base model and its adapter once (cached for the next comparison of the same adapter)."""
    stage = on_stage or (lambda message, fraction: None)
    path, _ = adapter_path(run, checkpoint)
    config = run.config()
    key = (str(path.resolve()), _mtime(path))
    with _cache_lock:
        cached = _cache.get("pair")
        if cached is not None and cached.key == key:
            return cached
        _cache.pop("pair", None)  # free the previous model before loading another
    pair = load_for_inference(config.model, path, trust_remote_code=config.trust_remote_code, on_stage=stage)
    pair.key = key
    with _cache_lock:
        _cache["pair"] = pair
    return pair


def load_for_inference(
    model_spec: str,
    adapter: Path | None,
    *,
    trust_remote_code: bool = False,
    on_stage: Callable[[str, float], None] | None = None,
) -> LoadedPair:
    """The base model, with ``adapter`` attached when given (a ``PeftModel``), and its tokenizer, ready to
    generate on the chosen device; not cached (``load_pair`` caches)."""
    from dpostudio.core.model_store import load_model, load_tokenizer, resolve_model
    from dpostudio.core.training.device import choose_device, probe_hardware

    stage = on_stage or (lambda message, fraction: None)
    stage("resolving the base model", 0.05)
    resolved = resolve_model(model_spec, on_progress=lambda f, m: stage(f"base model: {m}", 0.05 + 0.25 * f))
    choice = choose_device(probe_hardware(), "auto")
    stage(f"loading the base model {resolved.display_name} on {choice.device.upper()}", 0.35)
    tokenizer = load_tokenizer(resolved, trust_remote_code=trust_remote_code)
    model = load_model(
        resolved, dtype=_inference_dtype(choice.device, choice.precision), trust_remote_code=trust_remote_code
    )
    if adapter is not None:
        stage("attaching the adapter", 0.8)
        from peft import PeftModel

        try:
            model = PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
        except Exception as exc:
            raise ComparisonError(
                f"the adapter in {adapter} does not fit the base model {model_spec}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from exc
    model.eval()
    if choice.device != "cpu":
        model.to(choice.device)
    stage("model ready", 1.0)
    return LoadedPair(model, tokenizer, choice.device, ())


def release_models() -> None:
    """Forget the cached model (frees its memory once nothing else holds it)."""
    with _cache_lock:
        _cache.clear()


def _mtime(path: Path) -> float:
    try:
        return max(p.stat().st_mtime for p in Path(path).iterdir())
    except (OSError, ValueError):
        return 0.0


def model_inputs(prompt: Prompt, config, tokenizer) -> dict:
    """Token ids for a prompt, templated exactly as the run's training data was (template + system prompt)."""
    from dpostudio.core.data.templates import check_template, supports_system_role, template_pair

    try:
        check_template(config.prompt_template, tokenizer)
    except ValueError as exc:
        raise ComparisonError(str(exc)) from None
    fold = config.prompt_template == "chat" and not supports_system_role(tokenizer)
    shaped = template_pair(
        {"prompt": prompt.messages, "chosen": "", "rejected": ""},
        config.prompt_template,
        system_prompt=config.system_prompt,
        fold_system=fold,
    )["prompt"]
    if isinstance(shaped, list):
        text = tokenizer.apply_chat_template(shaped, tokenize=False, add_generation_prompt=True)
        return tokenizer(text, return_tensors="pt", add_special_tokens=False)
    return tokenizer(shaped, return_tensors="pt")


def generate_streaming(
    pair: LoadedPair,
    inputs: dict,
    settings: GenerationSettings,
    *,
    adapter: bool,
    on_text: Callable[[str], None],
    cancel: threading.Event,
) -> dict:
    """Generate one answer, calling ``on_text`` with each decoded piece; the adapter off for the base model.

    Returns ``{"answer", "tokens", "words", "seconds", "stop"}`` (stop: "eos", "length" or "cancelled").
    """
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

    model, tokenizer = pair.model, pair.tokenizer

    class _Cancel(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return cancel.is_set()

    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    inputs = {k: v.to(pair.device) for k, v in inputs.items()}
    kwargs: dict[str, Any] = dict(
        **inputs,
        max_new_tokens=settings.max_new_tokens,
        streamer=streamer,
        stopping_criteria=StoppingCriteriaList([_Cancel()]),
        pad_token_id=tokenizer.pad_token_id,
    )
    if settings.greedy:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(do_sample=True, temperature=float(settings.temperature), top_p=float(settings.top_p), top_k=0)
    box: dict[str, Any] = {}

    def work():
        try:
            torch.manual_seed(settings.seed)  # both sides start from the same seed
            with torch.inference_mode():
                if adapter:
                    box["out"] = model.generate(**kwargs)
                else:
                    with model.disable_adapter():
                        box["out"] = model.generate(**kwargs)
        except BaseException as exc:  # handed to the caller
            box["error"] = exc
            streamer.end()

    t0 = time.perf_counter()
    thread = threading.Thread(target=work, name="dpostudio-compare-generate", daemon=True)
    thread.start()
    pieces = []
    for piece in streamer:
        if piece:
            pieces.append(piece)
            on_text(piece)
    thread.join()
    if "error" in box:
        raise box["error"]
    seconds = time.perf_counter() - t0
    new_ids = box["out"][0, inputs["input_ids"].shape[1] :].tolist()
    specials = {i for i in (tokenizer.eos_token_id, tokenizer.pad_token_id) if i is not None}
    stop = "length"
    while new_ids and new_ids[-1] in specials:
        new_ids.pop()
        stop = "eos"
    if cancel.is_set() and stop == "length" and len(new_ids) < settings.max_new_tokens:
        stop = "cancelled"
    answer = tokenizer.decode(new_ids, skip_special_tokens=True).strip()
    return {
        "answer": answer,
        "tokens": len(new_ids),
        "words": len(answer.split()),
        "seconds": round(seconds, 2),
        "stop": stop,
    }
