"""Publishing through the real huggingface_hub client to a fake Hub on 127.0.0.1 (tests/fake_hub.py)."""

from __future__ import annotations

import hashlib
import logging
import os
import socket

import pytest

from dpostudio.core.publish.hub import PublishError, push_dataset, push_folder, push_run, token_status
from dpostudio.core.publish.model_card import read_front_matter
from fake_hub import FakeHub

TOKEN = "hf_test_token_0123456789abcdef"


@pytest.fixture(autouse=True)
def online(monkeypatch):
    """conftest makes the Hub client offline; these tests talk to 127.0.0.1 only."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)


@pytest.fixture
def hub():
    with FakeHub({TOKEN: "alice", "hf_readonly_token_abcdefghij": "alice"},
                 read_only_tokens={"hf_readonly_token_abcdefghij"}, lfs=False) as server:
        yield server


@pytest.fixture
def lfs_hub(monkeypatch):
    """A Hub that asks for LFS uploads of weights; xet is switched off so the client uses the LFS batch API."""
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    with FakeHub({TOKEN: "alice"}, lfs=True) as server:
        yield server


@pytest.fixture
def run(fake_run_id):
    from dpostudio.core.training.runs import get_run

    return get_run(fake_run_id)


@pytest.fixture
def small_folder(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# test\n")
    (folder / "weights.safetensors").write_bytes(os.urandom(4096))
    (folder / "config.json").write_text("{}")
    return folder


def assert_token_nowhere(token, *roots, texts=()):
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                assert token.encode() not in path.read_bytes(), f"token leaked into {path}"
    for text in texts:
        assert token not in text


# ---- success -----------------------------------------------------------------------------------------
def test_push_adapter_with_keyring_token(run, hub, memory_keyring, tmp_path, dpostudio_home, caplog, capfd):
    from dpostudio.core.secrets import set_token

    caplog.set_level(logging.DEBUG)
    set_token("huggingface", TOKEN)
    assert "…cdef" in token_status() and TOKEN not in token_status()
    seen = []
    result = push_run(run, "smol-dpo", private=True, message="First DPO adapter", endpoint=hub.url,
                      on_progress=lambda f, m: seen.append((f, m)))

    assert result.repo_id == "alice/smol-dpo" and result.private and result.commit_oid
    assert result.url == f"{hub.url}/alice/smol-dpo"
    repo = hub.repo("alice/smol-dpo")
    assert repo.private and repo.create_payload["visibility"] == "private"
    assert [c["summary"] for c in repo.commits] == ["First DPO adapter"]
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md", "tokenizer.json"} <= set(repo.files)
    assert repo.files["adapter_model.safetensors"] == (run.adapter_dir / "adapter_model.safetensors").read_bytes()
    card = repo.files["README.md"].decode()
    meta = read_front_matter(card)
    assert meta["library_name"] == "peft" and meta["license"] == "apache-2.0" and "dpo" in meta["tags"]
    assert "| DPO beta | 0.25 |" in card and 'PeftModel.from_pretrained(base, "alice/smol-dpo")' in card
    assert seen[-1] == (1.0, "published to alice/smol-dpo")
    assert [f for f, _ in seen] == sorted(f for f, _ in seen)
    # every Hub request carried the token, and it is nowhere else
    api_calls = [r for r in hub.requests if r.path.startswith("/api/") and "validate" not in r.path]
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in api_calls)
    out = capfd.readouterr()
    assert_token_nowhere(TOKEN, dpostudio_home, tmp_path,
                         texts=[caplog.text, out.out, out.err, repr(result), card])


def test_push_merged_model_through_lfs(run, lfs_hub, tmp_path):
    from safetensors.torch import load

    result = push_run(run, "alice/smol-merged", merged=True, token=TOKEN, endpoint=lfs_hub.url)
    routes = lfs_hub.routes_called()
    assert "POST /alice/smol-merged.git/info/lfs/objects/batch" in routes
    assert any(r.startswith("PUT /__lfs/") for r in routes) and "POST /__lfs/verify" in routes
    assert routes[-1] == "POST /api/models/alice/smol-merged/commit/main"
    repo = lfs_hub.repo("alice/smol-merged")
    weights = repo.files["model.safetensors"]
    assert hashlib.sha256(weights).hexdigest() in lfs_hub.lfs_objects
    tensors = load(weights)
    assert not any("lora" in k for k in tensors) and {str(t.dtype) for t in tensors.values()} == {"torch.float16"}
    assert {"config.json", "generation_config.json", "tokenizer.json", "README.md"} <= set(repo.files)
    assert read_front_matter(repo.files["README.md"].decode())["library_name"] == "transformers"
    assert not repo.private and result.what == "merged model"
    assert not list(tmp_path.glob("dpostudio-push-*"))


def test_hf_endpoint_environment_and_dataset_push(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    data = tmp_path / "pairs"
    data.mkdir()
    (data / "train.jsonl").write_text('{"prompt": "p", "chosen": "c", "rejected": "r"}\n')
    result = push_dataset(data, "my-pairs", message="pairs")
    assert result.repo_type == "dataset" and result.url == f"{hub.url}/datasets/alice/my-pairs"
    repo = hub.repo("alice/my-pairs", "dataset")
    assert set(repo.files) == {"train.jsonl", "README.md"}
    assert "dpo" in read_front_matter(repo.files["README.md"].decode())["tags"]
    assert not (data / "README.md").exists()  # the user's folder is not modified


def test_slow_replies_still_finish(hub, small_folder):
    hub.delay["commit"] = 1.0
    seen = []
    result = push_folder(small_folder, "slow", token=TOKEN, endpoint=hub.url,
                         on_progress=lambda f, m: seen.append(m))
    assert result.commit_oid and seen[-1] == "published to alice/slow"


# ---- failures --------------------------------------------------------------------------------------------
@pytest.fixture
def no_backoff(monkeypatch):
    """huggingface_hub retries 5xx with back-off (1+2+4+8+8 s); keep the retries, skip the waiting."""
    import huggingface_hub.utils._http as http

    monkeypatch.setattr(http.time, "sleep", lambda seconds: None)


@pytest.mark.parametrize("setup, token, repo, words", [
    (lambda h: None, "hf_wrong_token_zzzzzzzzzzzz", "x", "token was refused (401 Unauthorized)"),
    (lambda h: None, "hf_readonly_token_abcdefghij", "x", "is read-only"),
    (lambda h: None, TOKEN, "bob/x", "no permission to write to bob/x (403 Forbidden)"),
    (lambda h: h.add_repo("bob/taken", "bob"), TOKEN, "bob/taken", "no permission to write to bob/taken"),
    (lambda h: h.fail.update(create=409), TOKEN, "alice/y", None),  # 409 = exists already: reused
    (lambda h: h.fail.update(commit=500), TOKEN, "x", "the Hub had a server error (500)"),
    (lambda h: h.fail.update(preupload=503), TOKEN, "x", "server error (503)"),
    (lambda h: h.fail.update(create=429), TOKEN, "x", "rate-limiting"),
])
def test_failures_are_described_and_nothing_is_claimed(hub, small_folder, no_backoff, caplog, setup, token, repo,
                                                       words):
    caplog.set_level(logging.DEBUG)
    setup(hub)
    seen = []
    if words is None:  # a 409 on create with exist_ok: the repo is reused, but here it does not exist
        with pytest.raises(PublishError, match="not found"):
            push_folder(small_folder, repo, token=token, endpoint=hub.url, on_progress=lambda f, m: seen.append(m))
        return
    with pytest.raises(PublishError) as info:
        push_folder(small_folder, repo, token=token, endpoint=hub.url, on_progress=lambda f, m: seen.append(m))
    text = str(info.value)
    assert words in text and "nothing was published" in text
    assert not any(m.startswith("published") for m in seen)
    assert all(not r.commits for r in hub.repos.values())
    assert token not in text and token not in caplog.text


def test_name_taken_inside_own_account_is_reused(hub, small_folder):
    hub.add_repo("alice/mine", "alice")
    result = push_folder(small_folder, "mine", token=TOKEN, endpoint=hub.url, message="second")
    assert result.repo_id == "alice/mine" and hub.repo("alice/mine").commits[-1]["summary"] == "second"


def test_network_down(small_folder):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    with pytest.raises(PublishError, match=r"cannot reach the Hub at http://127\.0\.0\.1:\d+.*nothing was published"):
        push_folder(small_folder, "x", token=TOKEN, endpoint=f"http://127.0.0.1:{port}")


def test_missing_token_fails_before_any_work(run, hub, memory_keyring):
    with pytest.raises(PublishError, match="no Hugging Face token"):
        push_run(run, "x", merged=True, endpoint=hub.url)
    assert hub.requests == []
    assert "no token" in token_status()


def test_bad_repo_name(small_folder):
    with pytest.raises(PublishError, match="not a valid repository name"):
        push_folder(small_folder, "a/b/c", token=TOKEN, endpoint="http://127.0.0.1:9")


def test_offline_mode_is_explained(small_folder, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(PublishError, match="offline mode is on"):
        push_folder(small_folder, "x", token=TOKEN, endpoint="http://127.0.0.1:9")


def test_a_generated_preference_dataset_folder_is_pushed_as_a_dataset(hub, tmp_path):
    """A folder made by ``dpostudio generate`` (pairs, every candidate, the rankings, its card) goes up as a dataset
    repo through the same publish code, its own README (whose front matter points at pairs.jsonl) kept."""
    from dpostudio.core.loop.pairs import PairSettings, write_dataset
    from dpostudio.core.loop.records import append_jsonl

    folder = tmp_path / "generated"
    folder.mkdir()
    for i, (answers, scores) in enumerate(((["a", "bb", "ccc"], [1, 2, 3]), (["x", "y", "z"], [3, 1, 2]))):
        record = {"index": i, "prompt": f"prompt {i}", "messages": [{"role": "user", "content": f"prompt {i}"}],
                  "candidates": [{"text": text} for text in answers]}
        append_jsonl(folder / "candidates.jsonl", record)
        append_jsonl(folder / "rankings.jsonl", {"index": i, "status": "ok", "scores": scores})
    card = write_dataset(folder, PairSettings(), {"generator": {"model": "m"}, "sampling": {"k": 3}})
    assert card["counts"]["pairs"] == 2
    result = push_dataset(folder, "generated-pairs", token=TOKEN, endpoint=hub.url)
    repo = hub.repo("alice/generated-pairs", "dataset")
    assert {"pairs.jsonl", "candidates.jsonl", "rankings.jsonl", "card.json", "README.md"} <= set(repo.files)
    assert repo.files["README.md"] == (folder / "README.md").read_bytes()
    assert "pairs.jsonl" in str(read_front_matter(repo.files["README.md"].decode()).get("configs"))
    assert result.url == f"{hub.url}/datasets/alice/generated-pairs"
