"""A persistent cache of reference log-probabilities, shared by every run on this computer.

With a LoRA adapter the DPO reference is the base model with the adapter off, so the reference log-probs of a pair
depend only on the base weights, the precision they run in, and the exact token sequences the collator builds (the
tokenizer, the chat template, the pair's text, ``max_length`` and the truncation mode). They are computed once and
kept in an SQLite file (``data_dir()/cache/ref_logps.sqlite``), one row per pair, keyed by a hash of all that; a
later run -- another evaluation, epoch, resumed run, sweep trial or iterative round -- reads them instead of running
the reference forward pass again. Pairs new to a run (a grown dataset, another subset) are the only ones computed.

TRL's own ``precompute_ref_log_probs`` computes them once per run (and its file cache lives in a temporary folder
for in-memory datasets); ``CachedReferenceTrainer`` replaces just that step, so training with the cached values is
TRL's own precomputed-reference code path.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
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


def pair_key(
    scope_digest: str, prompt_ids: Sequence[int], chosen_ids: Sequence[int], rejected_ids: Sequence[int]
) -> str:
    h = hashlib.sha256(scope_digest.encode())
    for ids in (prompt_ids, chosen_ids, rejected_ids):
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
    """What one precompute pass did, for the run log and the benchmark."""

    name: str  # "train", "eval", an extra set's name
    rows: int
    reused: int
    computed: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "set": self.name,
            "rows": self.rows,
            "reused": self.reused,
            "computed": self.computed,
            "seconds": round(self.seconds, 2),
        }

    def describe(self) -> str:
        if self.computed == 0:
            return f"reference log-probs for {self.name}: all {self.rows} pairs from the cache ({self.seconds:.1f} s)"
        return (
            f"reference log-probs for {self.name}: {self.reused} of {self.rows} pairs from the cache, "
            f"{self.computed} computed ({self.seconds:.1f} s)"
        )


ProgressFn = Callable[[str, int, int], None]  # (set name, pairs done, pairs in all)


def make_cached_trainer_class(
    base: type, cache: RefLogpCache, scope: CacheScope, progress: ProgressFn | None = None
) -> type:
    """A subclass of TRL's ``DPOTrainer`` (passed in, so this module does not import TRL) whose reference
    precompute (``precompute_ref_log_probs=True``) reads and fills ``cache`` for ``scope``; ``progress`` hears
    how many new pairs are done."""

    class CachedReferenceTrainer(base):  # type: ignore[valid-type, misc]
        ref_cache = cache
        ref_scope = scope
        ref_progress = staticmethod(progress) if progress is not None else None
        cache_uses: list[CacheUse]

        def _precompute_ref_logps(self, dataset: Any, name: str, batch_size: int) -> Any:
            return precompute_with_cache(self, dataset, name, batch_size)

    return CachedReferenceTrainer


def precompute_with_cache(trainer: Any, dataset: Any, name: str, batch_size: int) -> Any:
    """Reference log-probs for every row of ``dataset`` (TRL-tokenized): from the cache where present, else with
    the trainer's own ``compute_ref_log_probs`` (adapter off), stored for next time. Returns the dataset with the
    ``ref_chosen_logps`` / ``ref_rejected_logps`` columns TRL's collator and loss read."""
    import torch
    from torch.utils.data import DataLoader

    started = time.perf_counter()
    cache, scope = trainer.ref_cache, trainer.ref_scope
    digest = scope.digest()
    columns = dataset.select_columns(["prompt_ids", "chosen_ids", "rejected_ids"]).to_dict()
    keys = [
        pair_key(digest, p, c, r)
        for p, c, r in zip(columns["prompt_ids"], columns["chosen_ids"], columns["rejected_ids"])
    ]
    known = cache.get_many(keys)
    missing = [i for i, key in enumerate(keys) if key not in known]
    progress = trainer.ref_progress
    if missing:
        loader = trainer.accelerator.prepare(
            DataLoader(
                dataset.select(missing),
                batch_size=batch_size,
                collate_fn=trainer.data_collator,
                num_workers=trainer.args.dataloader_num_workers,
                shuffle=False,
            )
        )
        model = trainer.ref_model or trainer.model
        chosen_all: list[torch.Tensor] = []
        rejected_all: list[torch.Tensor] = []
        done = 0
        if progress:
            progress(name, 0, len(missing))
        for batch in loader:
            chosen, rejected = trainer.compute_ref_log_probs(model, batch)
            chosen, rejected = trainer.accelerator.gather_for_metrics((chosen, rejected))
            chosen_all.append(chosen.float().cpu())
            rejected_all.append(rejected.float().cpu())
            done += len(chosen)
            if progress:
                progress(name, min(done, len(missing)), len(missing))
        new_chosen = torch.cat(chosen_all).tolist()
        new_rejected = torch.cat(rejected_all).tolist()
        fresh = {keys[i]: (new_chosen[j], new_rejected[j]) for j, i in enumerate(missing)}
        if trainer.accelerator.is_main_process:
            cache.put_many(fresh)
        known.update(fresh)
    chosen_col = [known[key][0] for key in keys]
    rejected_col = [known[key][1] for key in keys]
    use = CacheUse(name, len(keys), len(keys) - len(missing), len(missing), time.perf_counter() - started)
    if not hasattr(trainer, "cache_uses"):
        trainer.cache_uses = []
    trainer.cache_uses.append(use)
    for column in ("ref_chosen_logps", "ref_rejected_logps"):
        if column in dataset.column_names:
            dataset = dataset.remove_columns(column)
    return dataset.add_column("ref_chosen_logps", chosen_col).add_column("ref_rejected_logps", rejected_col)
