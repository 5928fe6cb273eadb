"""Sample K answers per prompt from a model (the base, or a base with a run's adapter or checkpoint), batched.

``generate_candidates(prompts, generator, sampling, path, on_event, cancel)`` appends one JSONL record per finished
prompt to ``path`` (flushed at once), so a crash or a Stop loses at most the batch in progress; called again on
the same file it **resumes**: prompts already there are skipped (and must be the same prompts). Each prompt is
shaped as the comparison shapes it (``compare.generation.model_inputs``: the chat template or Alpaca, and the
system prompt); the model loads through ``compare.generation.load_for_inference``. A record::

    {"index", "prompt", "messages", "source", "candidates": [{"text", "tokens", "stop"}, ...], "seconds", "seed"}

Sampling is seeded per batch (``seed`` + the batch's first prompt index), so the same settings and batch size
give the same answers.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from dpostudio.core.compare.generation import LoadedPair, load_for_inference, model_inputs
from dpostudio.core.compare.prompt_sets import Prompt
from dpostudio.core.errors import UserError
from dpostudio.core.loop.events import GENERATE, PROMPT_DONE, STAGE, EventFn, Progress, guarded
from dpostudio.core.loop.records import append_jsonl, read_jsonl
from dpostudio.core.training.run_config import DEFAULT_MODEL, PROMPT_TEMPLATES


class GenerateError(UserError, ValueError):
    """Generation cannot start (bad settings, unknown run, a file made for other prompts); said in words."""


@dataclass
class Generator:
    """Which model answers. ``run`` (an id) takes its base model, adapter (``checkpoint``: a step, ``latest``, or
    empty for the final adapter), prompt template and system prompt; otherwise ``model`` plus an optional
    ``adapter`` folder."""

    model: str = DEFAULT_MODEL
    adapter: str | None = None
    run: str | None = None
    checkpoint: str | None = None
    prompt_template: str = "chat"
    system_prompt: str | None = None
    trust_remote_code: bool = False

    def resolved(self) -> Generator:
        """A copy with ``model``, ``adapter`` and the template filled in from the run, if any; checked."""
        if self.prompt_template not in PROMPT_TEMPLATES:
            raise GenerateError(
                f"prompt template must be one of {', '.join(PROMPT_TEMPLATES)}, not {self.prompt_template!r}"
            )
        if not self.run:
            if self.adapter and not Path(self.adapter).expanduser().is_dir():
                raise GenerateError(f"adapter folder not found: {self.adapter}")
            return replace(self)
        from dpostudio.core.compare.generation import adapter_path
        from dpostudio.core.compare.settings import ComparisonError
        from dpostudio.core.training.runs import RunError, get_run

        try:
            run = get_run(str(self.run))
            config = run.config()
            path, _ = adapter_path(run, self.checkpoint)
        except (RunError, ComparisonError, OSError) as exc:
            raise GenerateError(str(exc)) from None
        return replace(
            self,
            run=run.id,
            model=config.model,
            adapter=str(path),
            prompt_template=config.prompt_template,
            system_prompt=self.system_prompt if self.system_prompt is not None else config.system_prompt,
            trust_remote_code=config.trust_remote_code,
        )

    def describe(self) -> str:
        if self.run:
            return f"run {self.run} ({self.checkpoint or 'final adapter'}) on {self.model}"
        return self.model + (f" + adapter {self.adapter}" if self.adapter else " (base, no adapter)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Generator:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class Sampling:
    """How answers are sampled: ``k`` per prompt; ``temperature`` 0 is greedy (then ``k`` must be 1)."""

    k: int = 5
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 256
    seed: int = 0
    batch_size: int = 4

    def validate(self) -> Sampling:
        for name, low, high in (("k", 1, 64), ("max_new_tokens", 1, 32768), ("batch_size", 1, 1024)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise GenerateError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise GenerateError(f"seed must be a whole number >= 0, not {self.seed!r}")
        if not 0 <= float(self.temperature) <= 5:
            raise GenerateError(f"temperature must be from 0 (greedy) to 5, not {self.temperature!r}")
        if not 0 < float(self.top_p) <= 1:
            raise GenerateError(f"top_p must be above 0 and at most 1, not {self.top_p!r}")
        if float(self.temperature) == 0 and self.k > 1:
            raise GenerateError(f"{self.k} different answers per prompt need sampling: set a temperature above 0")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Sampling:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


# --- the model, loaded once per process ------------------------------------------------------------------

_loaded: dict[tuple, LoadedPair] = {}
_loaded_lock = threading.Lock()


def load_generator(generator: Generator, on_stage=None) -> LoadedPair:
    """The generator's model (base, or base + adapter), loaded once and kept for the next call with the same one."""
    key = (generator.model, generator.adapter, _mtime(generator.adapter))
    with _loaded_lock:
        if key in _loaded:
            return _loaded[key]
        _loaded.clear()  # free the previous model first
    loaded = load_for_inference(
        generator.model,
        Path(generator.adapter).expanduser() if generator.adapter else None,
        trust_remote_code=generator.trust_remote_code,
        on_stage=on_stage,
    )
    with _loaded_lock:
        _loaded[key] = loaded
    return loaded


def release_generator() -> None:
    """Forget the loaded model (before training loads its own)."""
    with _loaded_lock:
        _loaded.clear()
    import gc

    gc.collect()


def _mtime(folder: str | None) -> float:
    if not folder:
        return 0.0
    try:
        return max(p.stat().st_mtime for p in Path(folder).expanduser().iterdir())
    except (OSError, ValueError):
        return 0.0


def encode(loaded: LoadedPair, prompt: Prompt, generator: Generator) -> list[int]:
    """The prompt's token ids, shaped by the generator's template and system prompt."""
    shape = SimpleNamespace(prompt_template=generator.prompt_template, system_prompt=generator.system_prompt)
    return model_inputs(prompt, shape, loaded.tokenizer)["input_ids"][0].tolist()


def generate_batch(
    loaded: LoadedPair,
    encoded: list[list[int]],
    *,
    k: int,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    seed: int,
    cancel: threading.Event | None = None,
) -> list[list[dict]] | None:
    """``k`` answers for each encoded prompt, in one ``generate`` call (left-padded); None when cancelled."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    tokenizer, model = loaded.tokenizer, loaded.model
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    width = max(len(ids) for ids in encoded)
    input_ids = torch.tensor([[pad_id] * (width - len(ids)) + ids for ids in encoded])
    attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in encoded])
    stop_flag = cancel or threading.Event()

    class _Cancel(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return stop_flag.is_set()

    kwargs: dict[str, Any] = dict(
        input_ids=input_ids.to(loaded.device),
        attention_mask=attention.to(loaded.device),
        max_new_tokens=max_new_tokens,
        num_return_sequences=k,
        pad_token_id=pad_id,
        stopping_criteria=StoppingCriteriaList([_Cancel()]),
    )
    if float(temperature) == 0:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        kwargs.update(do_sample=True, temperature=float(temperature), top_p=float(top_p), top_k=0)
    torch.manual_seed(seed)
    with torch.inference_mode():
        out = model.generate(**kwargs)
    if stop_flag.is_set():
        return None
    specials = {i for i in (tokenizer.eos_token_id, tokenizer.pad_token_id) if i is not None}
    answers: list[list[dict]] = []
    for p in range(len(encoded)):
        group = []
        for j in range(k):
            ids = out[p * k + j, width:].tolist()
            stop = "length"
            if any(t in specials for t in ids):
                ids = ids[: next(n for n, t in enumerate(ids) if t in specials)]
                stop = "eos"
            text = tokenizer.decode(ids, skip_special_tokens=True).strip()
            group.append({"text": text, "tokens": len(ids), "stop": stop})
        answers.append(group)
    return answers


def generate_candidates(
    prompts: list[Prompt],
    generator: Generator,
    sampling: Sampling,
    path: str | Path,
    on_event: EventFn | None = None,
    cancel: threading.Event | None = None,
) -> dict:
    """Answer every prompt ``sampling.k`` times, appending each finished prompt to ``path``; resumes a file that
    holds some already. Returns ``{"status": "finished"|"cancelled", "done", "total", "path"}``."""
    sampling.validate()
    generator = generator.resolved()
    emit, cancel, path = guarded(on_event), cancel or threading.Event(), Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = done_indices(path, prompts)
    pending = [i for i in range(len(prompts)) if i not in done]
    progress = Progress(emit, GENERATE, len(prompts), len(done))
    emit(progress.event())
    if not pending:
        return {"status": "finished", "done": len(done), "total": len(prompts), "path": str(path)}
    loaded = load_generator(
        generator, lambda m, f: emit({"type": STAGE, "phase": GENERATE, "message": m, "fraction": f})
    )
    for start in range(0, len(pending), sampling.batch_size):
        if cancel.is_set():
            break
        batch = pending[start : start + sampling.batch_size]
        seed = sampling.seed + batch[0]
        t0 = time.perf_counter()
        answers = generate_batch(
            loaded,
            [encode(loaded, prompts[i], generator) for i in batch],
            k=sampling.k,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_new_tokens=sampling.max_new_tokens,
            seed=seed,
            cancel=cancel,
        )
        if answers is None:  # stopped mid-batch: its answers are incomplete and not kept
            break
        seconds = round((time.perf_counter() - t0) / len(batch), 2)
        for index, group in zip(batch, answers):
            p = prompts[index]
            record = {
                "index": index,
                "prompt": p.text,
                "messages": p.messages,
                "source": p.source,
                "candidates": group,
                "seconds": seconds,
                "seed": seed,
            }
            append_jsonl(path, record)
            done.add(index)
            emit({"type": PROMPT_DONE, "phase": GENERATE, "index": index, "record": record})
            progress.step()
    status = "finished" if len(done) == len(prompts) else "cancelled"
    return {"status": status, "done": len(done), "total": len(prompts), "path": str(path)}


def done_indices(path: Path, prompts: list[Prompt]) -> set[int]:
    """Prompts already answered in ``path``; ``GenerateError`` when the file was made for other prompts."""
    done: set[int] = set()
    for record in read_jsonl(path):
        index = record.get("index")
        if not isinstance(index, int) or not 0 <= index < len(prompts) or record.get("prompt") != prompts[index].text:
            raise GenerateError(
                f"{path} holds answers to other prompts (prompt {index!r}: {str(record.get('prompt'))[:60]!r}); "
                "resume with the same prompts, or write to a new folder"
            )
        done.add(index)
    return done
