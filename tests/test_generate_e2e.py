"""Making a preference dataset for real: the embedded model answers K=3 times per prompt, a judge on a local HTTP
server (the real OpenAI-compatible client, with injected faults) ranks the answers in both orders, pairs are built,
and two DPO steps train on the folder. Then a Stop and a SIGKILL mid-generation, each resumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI

from dpostudio.core.loop import GenerateJob, Generator, PromptSource, RankSettings, Sampling, create_job, run_job
from dpostudio.core.loop.dataset_job import job_status
from dpostudio.core.loop.generate import generate_candidates
from dpostudio.core.loop.records import read_jsonl

REPO = Path(__file__).resolve().parents[1]
SAMPLING = Sampling(k=3, temperature=1.0, top_p=1.0, max_new_tokens=12, seed=3, batch_size=2)


def _judge(server) -> RankSettings:
    options = {"base_url": server.base_url, "model": "judge", "retries": 2, "timeout": 10}
    return RankSettings(kind="judge", id="openai-compatible", options=options, retry_wait=0)


@pytest.fixture
def fast_retries(monkeypatch):
    from dpostudio_builtin import remote_judging

    monkeypatch.setattr(remote_judging, "BACKOFF_BASE", 0.01)


@pytest.mark.slow
def test_generate_rank_pair_and_train_on_the_folder(embedded_model, tmp_path, fast_retries):
    from dpostudio.core.data.sources import load_raw
    from dpostudio.core.training.engine import train
    from dpostudio.core.training.run_config import RunConfig

    folder = tmp_path / "made"
    job = GenerateJob(PromptSource("set:demo", first_n=3), Generator(model=embedded_model.spec), SAMPLING)
    with FakeOpenAI() as server:
        job.ranker = _judge(server)
        server.script += ["429", "500", "malformed"]  # retried by the client: nothing is lost
        create_job(folder, job)
        events: list[dict] = []
        result = run_job(folder, events.append)
        assert not server.script and {"429", "500", "malformed"} <= set(server.behaviours())
    assert result["status"] == "finished", result["message"]
    candidates = read_jsonl(folder / "candidates.jsonl")
    assert [r["index"] for r in candidates] == [0, 1, 2]
    for record in candidates:
        texts = [c["text"] for c in record["candidates"]]
        assert len(texts) == 3 and all(texts) and len(set(texts)) > 1  # sampled, not three copies
        assert all(c["stop"] in ("eos", "length") and 0 < c["tokens"] <= 12 for c in record["candidates"])
    progress = [e for e in events if e["type"] == "progress" and e["phase"] == "generate"]
    assert [e["done"] for e in progress] == [0, 1, 2, 3] and progress[-1]["eta_s"] == 0
    counts = result["card"]["counts"]
    assert counts["pairs"] + counts["ties"] + counts["unjudged"] == 3 and counts["unjudged"] == 0
    assert counts["pairs"] >= 1, result["card"]
    card = result["card"]
    assert card["generator"]["model"] == embedded_model.spec and card["sampling"]["k"] == 3
    assert card["ranker"]["id"] == "openai-compatible" and card["ranker"]["options"]["base_url"] == server.base_url
    train_rows, _ = load_raw(str(folder))
    assert train_rows.num_rows == counts["pairs"]

    config = RunConfig(
        model=embedded_model.spec,
        dataset=str(folder),
        max_steps=2,
        per_device_batch_size=2,
        max_length=96,
        eval_ratio=0.0,
        logging_steps=1,
    )
    run = train(config)
    assert run.status() == "finished", run.info().get("message")
    assert run.info()["train_rows"] == counts["pairs"] and run.final_adapter() is not None


@pytest.mark.slow
def test_a_stopped_generation_resumes_where_it_stopped(embedded_model, tmp_path):
    from dpostudio.core.loop.prompts import load_prompts

    prompts = load_prompts(PromptSource("set:demo", first_n=4))
    generator = Generator(model=embedded_model.spec)
    path = tmp_path / "candidates.jsonl"
    cancel = threading.Event()

    def stop_after_first(event: dict) -> None:
        if event["type"] == "prompt_done":
            cancel.set()

    first = generate_candidates(prompts, generator, SAMPLING, path, stop_after_first, cancel)
    assert first["status"] == "cancelled" and first["done"] == 2  # the batch under way when Stop came is kept whole
    kept = read_jsonl(path)
    second = generate_candidates(prompts, generator, SAMPLING, path)
    assert second == {"status": "finished", "done": 4, "total": 4, "path": str(path)}
    records = read_jsonl(path)
    assert records[:2] == kept and [r["index"] for r in records] == [0, 1, 2, 3]
    with pytest.raises(Exception, match="holds answers to other prompts"):
        generate_candidates(prompts[1:], generator, SAMPLING, path)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "dpostudio", *args]


@pytest.mark.slow
def test_a_killed_generate_command_resumes(embedded_model, tmp_path, dpostudio_home):
    env = {**os.environ, "DPOSTUDIO_HOME": str(dpostudio_home), "PYTHONUNBUFFERED": "1"}
    folder = tmp_path / "killed"
    with FakeOpenAI() as server:
        args = [
            "generate",
            "--out",
            str(folder),
            "--model",
            embedded_model.spec,
            "--first-n",
            "5",
            "-k",
            "2",
            "--temperature",
            "1.0",
            "--max-new-tokens",
            "10",
            "--batch-size",
            "1",
            "--ranker",
            "judge:openai-compatible",
            "--rank-option",
            f"base_url={server.base_url}",
            "--rank-option",
            "model=judge",
            "--quiet",
        ]
        process = subprocess.Popen(_cli(*args), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 600
        while len(read_jsonl(folder / "candidates.jsonl")) < 2 and process.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        process.send_signal(signal.SIGKILL)
        process.wait()
        before = read_jsonl(folder / "candidates.jsonl")
        assert 2 <= len(before) < 5 and job_status(folder) == "interrupted"
        assert not (folder / "rankings.jsonl").exists()
        done = subprocess.run(
            _cli("generate", "--resume", str(folder), "--quiet"),
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    after = read_jsonl(folder / "candidates.jsonl")
    assert after[: len(before)] == before and sorted(r["index"] for r in after) == [0, 1, 2, 3, 4]
    assert job_status(folder) == "finished" and "pairs from 5 prompts" in done.stdout
    assert len(read_jsonl(folder / "rankings.jsonl")) == 5 and (folder / "pairs.jsonl").is_file()
