"""The reference log-prob cache in real training (embedded SmolLM2): a run with the cache learns exactly as one
without it, and a second run on the same data reads every reference value from the cache (its log says so)."""

from __future__ import annotations

import pytest
from test_engine_e2e import quick_config, small_pairs  # noqa: F401 (a fixture)

from dpostudio.core.training.engine import train
from dpostudio.core.training.ref_cache import RefLogpCache

pytestmark = pytest.mark.slow


def _uses(run):
    return {use["set"]: use for use in run.info()["reference_cache"]}


def test_cached_reference_matches_the_live_one_and_a_second_run_reuses_it(embedded_model, small_pairs):  # noqa: F811
    settings = dict(max_steps=3, eval_steps=3, save_steps=3)  # 3 steps of 2 pairs; 6 evaluation pairs
    live = train(quick_config(small_pairs, reference_cache=False, **settings), lambda e: None)
    assert "reference_cache" not in live.info()
    first = train(quick_config(small_pairs, **settings), lambda e: None)
    uses = _uses(first)
    assert uses["training"]["rows"] == 6 and uses["training"]["computed"] == 6  # only the pairs it trained on
    assert uses["evaluation"]["computed"] == 6  # each evaluation pair once; a later evaluation reads them back
    assert uses["evaluation"]["reused"] == uses["evaluation"]["rows"] - 6
    assert RefLogpCache().count() == 12

    # the values are TRL's own reference forward, in the same batches: the run is the live one, number for number
    assert first.metrics("log")[0]["loss"] == pytest.approx(0.693147, abs=1e-6)  # policy == reference at step 1
    for a, b in zip(live.metrics("log"), first.metrics("log"), strict=True):
        for name in ("loss", "rewards/chosen", "rewards/rejected", "logps/chosen"):
            assert b[name] == pytest.approx(a[name], rel=1e-4, abs=1e-5), (a["step"], name)
    assert first.metrics("eval")[-1]["eval_loss"] == pytest.approx(live.metrics("eval")[-1]["eval_loss"], abs=1e-5)

    second = train(quick_config(small_pairs, **settings), lambda e: None)
    uses = _uses(second)
    assert uses["training"]["computed"] == 0 and uses["training"]["reused"] == 6
    assert uses["evaluation"]["computed"] == 0
    assert "reference log-probs (training): all 6 pair lookups answered by the cache" in second.log_path.read_text()
    for a, b in zip(first.metrics("log"), second.metrics("log"), strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-4, abs=1e-5)
