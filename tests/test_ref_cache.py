"""The persistent reference log-prob cache: keys depend on everything the values depend on; the SQLite store is
shared by processes and survives them."""

from __future__ import annotations

import multiprocessing

from dpostudio.core.training.ref_cache import CacheScope, CacheUse, RefLogpCache, model_fingerprint, pair_key

SCOPE = CacheScope(model="m1", precision="bf16", device="cpu", max_length=256, truncation_mode="keep_start")


def test_a_key_changes_with_the_scope_and_the_tokens_and_with_nothing_else():
    base = pair_key(SCOPE.digest(), [1, 2], [3], [4])
    assert base == pair_key(CacheScope(**SCOPE.__dict__).digest(), [1, 2], [3], [4])  # same inputs, same key
    others = [
        pair_key(CacheScope(**{**SCOPE.__dict__, "precision": "fp32"}).digest(), [1, 2], [3], [4]),
        pair_key(CacheScope(**{**SCOPE.__dict__, "max_length": 128}).digest(), [1, 2], [3], [4]),
        pair_key(CacheScope(**{**SCOPE.__dict__, "model": "m2"}).digest(), [1, 2], [3], [4]),
        pair_key(SCOPE.digest(), [1, 2], [4], [3]),  # chosen and rejected swapped
        pair_key(SCOPE.digest(), [1], [2, 3], [4]),  # the prompt/answer boundary moved
        pair_key(SCOPE.digest(), [12], [3], [4]),  # no ambiguity between [1, 2] and [12]
    ]
    assert len({base, *others}) == len(others) + 1


def _writer(path, start):
    cache = RefLogpCache(path)
    cache.put_many({f"k{i}": (-float(i), -float(i) - 0.5) for i in range(start, start + 200)})


def test_the_store_round_trips_and_is_shared_by_processes(tmp_path):
    path = tmp_path / "cache" / "ref.sqlite"
    cache = RefLogpCache(path)
    assert cache.get_many(["nope"]) == {}
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, start)) for start in (0, 100)]  # overlapping keys
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert cache.count() == 300
    got = RefLogpCache(path).get_many([f"k{i}" for i in range(0, 1200)])  # more than one SQL chunk of keys
    assert len(got) == 300 and got["k7"] == (-7.0, -7.5)
    assert cache.clear() == 300 and cache.count() == 0


def test_the_model_fingerprint_follows_the_weights_files(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"x" * 10)
    first = model_fingerprint(tmp_path)
    assert first == model_fingerprint(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"y" * 11)
    assert model_fingerprint(tmp_path) != first


def test_cache_use_says_what_was_reused():
    assert CacheUse("evaluation", 40, 40, 0).describe() == (
        "reference log-probs (evaluation): all 40 pair lookups answered by the cache"
    )
    assert "30 of 80 pair lookups answered by the cache, 50 computed" in CacheUse("training", 80, 30, 50).describe()
