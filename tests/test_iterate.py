"""Iterative DPO for real, tiny: two rounds on the embedded model (generate with the current model, rank with a
judge on a local HTTP server through the real client, train from the previous adapter, win rates on held-out
prompts judged in both orders); then ``dpostudio iterate`` killed during training and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI

from dpostudio.core.loop import LoopSpec, PromptSource, RankSettings, Sampling, create_loop, open_loop, run_loop

REPO = Path(__file__).resolve().parents[1]
TRAINING = {"max_steps": 2, "per_device_batch_size": 2, "max_length": 96, "eval_ratio": 0.0, "save_steps": 1}


def _judge_options(server) -> dict:
    return {"base_url": server.base_url, "model": "judge", "retries": 0, "timeout": 10}


@pytest.mark.slow
def test_two_rounds_each_train_from_the_previous_adapter_and_are_judged_against_it(embedded_model):
    from dpostudio.core.training.runs import get_run

    with FakeOpenAI() as server:
        spec = LoopSpec(
            name="tiny",
            rounds=2,
            prompts=PromptSource("set:demo"),
            prompts_per_round=3,
            heldout=2,
            sampling=Sampling(k=3, temperature=1.0, top_p=1.0, max_new_tokens=12, seed=1, batch_size=3),
            ranker=RankSettings(kind="judge", id="openai-compatible", options=_judge_options(server), retry_wait=0),
            run_config={"model": embedded_model.spec, **TRAINING},
            eval_judge="openai-compatible",
            eval_judge_options=_judge_options(server),
            eval_max_new_tokens=12,
        )
        loop = create_loop(spec)
        events: list[dict] = []
        result = run_loop(loop, events.append)
    assert result["status"] == "finished", result["message"]
    rows = result["table"]
    assert [r["round"] for r in rows] == [0, 1, 2] and rows[0]["run_id"] == "(base model)"
    rounds = loop.rounds()
    for row, entry in zip(rows[1:], rounds):
        assert row["step"] == "done" and row["pairs"] >= 1 and row["prompts"] == 3
        assert row["pairs"] + row["ties"] + row["unjudged"] >= 3
        assert 0 <= row["win_vs_previous"] <= 1 and 0 <= row["win_vs_base"] <= 1 and row["judged"] == 2
        run = get_run(entry["run_id"])
        assert run.status() == "finished" and run.info()["loop"] == "tiny"
        assert Path(entry["dataset"], "pairs.jsonl").is_file()
    first, second = (get_run(e["run_id"]) for e in rounds)
    assert first.config().init_adapter is None
    assert second.config().init_adapter == rounds[0]["adapter"] == str(first.final_adapter())
    assert second.config().dataset == rounds[1]["dataset"]
    # round 2 generated with round 1's adapter; its card says so
    card = json.loads(Path(rounds[1]["dataset"], "card.json").read_text())
    assert card["generator"]["adapter"] == rounds[0]["adapter"] and card["round"] == 2
    answers = {n: (loop.path / "heldout" / f"round-{n}.jsonl").read_text().count("\n") for n in (0, 1, 2)}
    assert answers == {0: 2, 1: 2, 2: 2}
    assert rounds[0]["win_rates"]["vs_base"] == rounds[0]["win_rates"]["vs_previous"]  # round 1: one comparison
    assert any(e["type"] == "train" and e["event"]["type"] == "log" for e in events)
    assert [e["round"] for e in events if e["type"] == "round" and e["state"] == "finished"] == [1, 2]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "dpostudio", *args]


@pytest.mark.slow
def test_a_loop_killed_during_training_resumes_its_run_from_the_checkpoint(embedded_model, dpostudio_home):
    from dpostudio.core.training.runs import get_run

    env = {**os.environ, "DPOSTUDIO_HOME": str(dpostudio_home), "PYTHONUNBUFFERED": "1"}
    with FakeOpenAI() as server:
        start = [
            "iterate",
            "start",
            "killed",
            "--rounds",
            "1",
            "--per-round",
            "3",
            "--heldout",
            "0",
            "-k",
            "3",
            "--temperature",
            "1.0",
            "--top-p",
            "1.0",
            "--max-new-tokens",
            "12",
            "--ranker",
            "judge:openai-compatible",
            "--rank-option",
            f"base_url={server.base_url}",
            "--rank-option",
            "model=judge",
            "--rank-option",
            "retries=0",
            "--set",
            f"model={json.dumps(embedded_model.spec)}",
            "--set",
            "per_device_batch_size=1",
            "--set",
            "max_length=96",
            "--set",
            "eval_ratio=0.0",
            "--set",
            "save_steps=1",
            "--max-steps",
            "6",
            "--quiet",
        ]
        process = subprocess.Popen(_cli(*start), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        loop_file = dpostudio_home / "loops" / "killed" / "loop.json"
        deadline, run = time.time() + 900, None
        while process.poll() is None and time.time() < deadline:
            entry = (json.loads(loop_file.read_text()).get("rounds") or [{}])[0] if loop_file.is_file() else {}
            if entry.get("run_id"):
                run = get_run(entry["run_id"])
                if run.latest_checkpoint() is not None:
                    break
            time.sleep(0.3)
        assert process.poll() is None and run is not None, process.stdout.read().decode() if process.stdout else ""
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed_at = int(run.latest_checkpoint().name.rsplit("-", 1)[-1])
        assert killed_at < 6 and run.status() == "interrupted"
        assert open_loop("killed").status() == "interrupted"
        status = subprocess.run(_cli("iterate", "status", "killed"), cwd=REPO, env=env, capture_output=True, text=True)
        assert "interrupted" in status.stdout and "train" in status.stdout
        done = subprocess.run(
            _cli("iterate", "resume", "killed", "--quiet"),
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    loop = open_loop("killed")
    (entry,) = loop.rounds()
    assert loop.status() == "finished" and entry["step"] == "done" and entry["run_id"] == run.id  # the same run
    assert run.status() == "finished" and run.info()["step"] == 6
    resumed = [e for e in run.events() if e["type"] == "resumed"]
    assert resumed and resumed[0]["from_step"] == killed_at
    assert "1 rounds done" in done.stdout
