"""The reference log-prob cache in real training (embedded SmolLM2): a run with the cache learns exactly as one
without it, and a second run on the same data reads every pair from the cache (and its log says so)."""

from __future__ import annotations

import pytest
from test_engine_e2e import quick_config, small_pairs  # noqa: F401 (a fixture)

from dpostudio.core.training.engine import train
from dpostudio.core.training.ref_cache import RefLogpCache

pytestmark = pytest.mark.slow


def test_cached_reference_matches_the_live_one_and_a_second_run_reuses_it(embedded_model, small_pairs):  # noqa: F811
    # fp32: the comparison is exact (in bf16 autocast the reference's numerics change with the batch it was computed
    # in, by about 0.1 nats per sequence, so step 1 is not exactly ln 2; bench/ref_cache.py shows those curves)
    settings = dict(max_steps=3, eval_steps=3, save_steps=3, precision="fp32")
    live = train(quick_config(small_pairs, reference_cache=False, **settings), lambda e: None)
    stages = []
    first = train(quick_config(small_pairs, **settings), lambda e: stages.append(e.get("message", "")))
    assert RefLogpCache().count() == 24  # 18 training and 6 evaluation pairs, one row each
    uses = {u["set"]: u for u in first.info()["reference_cache"]}
    assert uses["train"]["computed"] == 18 and uses["eval"]["computed"] == 6
    assert any("reference log-probs (train pairs new to the cache)" in m for m in stages)

    # same seed, same data: the losses and rewards follow the live reference within float noise
    assert first.metrics("log")[0]["loss"] == pytest.approx(0.693147, abs=1e-4)  # policy == reference at step 1
    for a, b in zip(live.metrics("log"), first.metrics("log"), strict=True):
        for name in ("loss", "rewards/chosen", "rewards/rejected", "logps/chosen"):
            assert b[name] == pytest.approx(a[name], rel=1e-3, abs=1e-3), (a["step"], name)
    assert first.metrics("eval")[-1]["eval_loss"] == pytest.approx(live.metrics("eval")[-1]["eval_loss"], abs=1e-3)

    second = train(quick_config(small_pairs, **settings), lambda e: None)
    uses = {u["set"]: u for u in second.info()["reference_cache"]}
    assert uses["train"]["reused"] == 18 and uses["train"]["computed"] == 0 and uses["eval"]["computed"] == 0
    assert "reference log-probs for train: all 18 pairs from the cache" in second.log_path.read_text()
