"""A persistent cache of reference log-probabilities, shared by every run on this computer.

With a LoRA adapter the DPO reference is the base model with the adapter off, so the reference log-probs of a pair
depend only on the base weights, the precision they run in, and the exact token sequences the collator builds (the
tokenizer, the chat template, the pair's text, ``max_length`` and the truncation mode). They are computed once and
kept in an SQLite file (``data_dir()/cache/ref_logps.sqlite``), one row per pair, keyed by a hash of all that; a
later run -- another evaluation, epoch, resumed run, sweep trial or iterative round -- reads them instead of running
the reference forward pass again. Pairs new to a run (a grown dataset, another subset) are the only ones computed.

TRL's own ``precompute_ref_log_probs`` computes them for the whole dataset before the first step of every run (and
its file cache lives in a temporary folder for in-memory datasets). Here they are looked up batch by batch instead:
pairs not yet in the cache get TRL's own reference forward, in that batch, and are kept; the loss then reads the
values as TRL's precomputed-reference path does.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpostudio.core.paths import data_dir

CACHE_FILE = "ref_logps.sqlite"
_lock = threading.Lock()


def cache_path() -> Path:
    return data_dir() / "cache" / CACHE_FILE


def model_fingerprint(model_dir: str | Path) -> str:
    """The base weights' identity without reading them: the model folder and each weights file's name, size and
    modification time (a re-import or an edited file changes it)."""
    folder = Path(model_dir)
    parts: list[str] = [str(folder.resolve())]
    for file in sorted(folder.glob("*")):
        if file.suffix in (".safetensors", ".bin", ".json", ".model") and file.is_file():
            stat = file.stat()
            parts.append(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class CacheScope:
    """Everything besides a pair's token ids that its reference log-probs depend on."""

    model: str  # model_fingerprint(...)
    precision: str  # "fp32", "bf16", "fp16": the reference forward runs in it
    device: str  # kernels differ slightly between devices
    max_length: int | None
    truncation_mode: str
    ld_alpha: float | None = None

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.__dict__, sort_keys=True).encode()).hexdigest()


def pair_key(scope_digest: str, *sequences: Sequence[int]) -> str:
    """The cache key of one pair: the scope and the pair's token sequences, in order."""
    h = hashlib.sha256(scope_digest.encode())
    for ids in sequences:
        h.update(b"|")
        h.update(",".join(map(str, ids)).encode())
    return h.hexdigest()


class RefLogpCache:
    """The SQLite store: ``get_many(keys)`` and ``put_many({key: (chosen, rejected)})``; safe across processes."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS ref_logps (key TEXT PRIMARY KEY, chosen REAL NOT NULL, "
                "rejected REAL NOT NULL, created REAL NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[float, float]]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, tuple[float, float]] = {}
        with _lock, self._connect() as db:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(f"SELECT key, chosen, rejected FROM ref_logps WHERE key IN ({marks})", chunk)
                found.update({key: (chosen, rejected) for key, chosen, rejected in rows})
        return found

    def put_many(self, values: Mapping[str, tuple[float, float]]) -> None:
        now = time.time()
        with _lock, self._connect() as db:
            db.executemany(
                "INSERT OR REPLACE INTO ref_logps (key, chosen, rejected, created) VALUES (?, ?, ?, ?)",
                [(key, float(c), float(r), now) for key, (c, r) in values.items()],
            )

    def count(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM ref_logps").fetchone()[0])

    def clear(self) -> int:
        """Forget every cached value (Settings ▸ clear cache); returns how many were removed."""
        with _lock, self._connect() as db:
            n = int(db.execute("SELECT COUNT(*) FROM ref_logps").fetchone()[0])
            db.execute("DELETE FROM ref_logps")
        return n


@dataclass
class CacheUse:
    """What the cache did in one run, per phase ("training" or "evaluation"): pairs looked up, found, computed."""

    name: str
    rows: int = 0
    reused: int = 0
    computed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"set": self.name, "rows": self.rows, "reused": self.reused, "computed": self.computed}

    def describe(self) -> str:
        if self.rows and self.computed == 0:
            return f"reference log-probs ({self.name}): all {self.rows} pair lookups answered by the cache"
        return (
            f"reference log-probs ({self.name}): {self.reused} of {self.rows} pair lookups answered by the cache, "
            f"{self.computed} computed and kept for later runs"
        )


def batch_keys(scope_digest: str, inputs: Mapping[str, Any]) -> list[str]:
    """One key per pair of a collated DPO batch (rows ``[chosen_1..n, rejected_1..n]``): the exact token ids the
    model sees (after truncation, without padding) and which of them are the answer."""
    ids, attention, completion = inputs["input_ids"], inputs["attention_mask"], inputs["completion_mask"]
    n = ids.shape[0] // 2
    keys = []
    for i in range(n):
        parts = []
        for row in (i, n + i):
            keep = attention[row].bool()
            parts.append(ids[row][keep].tolist())
            parts.append(completion[row][keep].tolist())
        keys.append(pair_key(scope_digest, *parts))
    return keys


def make_cached_trainer_class(base: type, cache: RefLogpCache, scope: CacheScope) -> type:
    """A subclass of TRL's ``DPOTrainer`` (passed in, so this module does not import TRL) that takes each batch's
    reference log-probs from ``cache`` and computes (and keeps) only the pairs it has not seen.

    Nothing is computed up front: a short run pays only for the pairs it trains on, and a cold run costs what a
    run without the cache costs (the reference forward of each batch, as TRL does it, in the same batch, so the
    numbers are TRL's own). The loss then reads them as TRL's precomputed-reference path does."""

    class CachedReferenceTrainer(base):  # type: ignore[valid-type, misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.ref_cache, self.ref_scope, self.ref_digest = cache, scope, scope.digest()
            self.cache_uses = {"training": CacheUse("training"), "evaluation": CacheUse("evaluation")}
            self.precompute_ref_logps = True  # the loss reads inputs["ref_*_logps"], which compute_loss supplies

        def compute_loss(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
            if "ref_chosen_logps" not in inputs:
                inputs = {**inputs, **reference_for_batch(self, model, inputs)}
            return super().compute_loss(model, inputs, *args, **kwargs)

    return CachedReferenceTrainer


def reference_for_batch(trainer: Any, model: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """``ref_chosen_logps`` / ``ref_rejected_logps`` for a collated batch: from the cache, or (when any pair is
    new) from the trainer's own reference forward of the whole batch, whose new pairs are then kept."""
    import torch

    keys = batch_keys(trainer.ref_digest, inputs)
    known = trainer.ref_cache.get_many(keys)
    use = trainer.cache_uses["training" if trainer.model.training else "evaluation"]
    use.rows += len(keys)
    device = inputs["input_ids"].device
    if all(key in known for key in keys):
        use.reused += len(keys)
        chosen = torch.tensor([known[k][0] for k in keys], dtype=torch.float32, device=device)
        rejected = torch.tensor([known[k][1] for k in keys], dtype=torch.float32, device=device)
        return {"ref_chosen_logps": chosen, "ref_rejected_logps": rejected}
    chosen, rejected = trainer.compute_ref_log_probs(trainer.ref_model or model, inputs)
    fresh = {
        key: (c, r)
        for key, c, r in zip(keys, chosen.float().tolist(), rejected.float().tolist(), strict=True)
        if key not in known
    }
    use.reused += len(keys) - len(fresh)
    use.computed += len(fresh)
    if fresh and trainer.accelerator.is_main_process:
        trainer.ref_cache.put_many(fresh)
    return {"ref_chosen_logps": chosen.detach(), "ref_rejected_logps": rejected.detach()}
