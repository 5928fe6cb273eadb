"""``dpostudio export`` and ``dpostudio push`` from the command line (fake Hub on 127.0.0.1)."""

from __future__ import annotations


import pytest

from dpostudio.cli import main
from fake_hub import FakeHub

TOKEN = "hf_cli_token_0123456789abcdef"


@pytest.fixture
def run_id(fake_run_id):
    return fake_run_id


def test_export_adapter_and_checkpoint(run_id, tmp_path, capsys):
    assert main(["export", run_id, "--adapter", str(tmp_path / "a")]) == 0
    out, err = capsys.readouterr()
    assert f"Exported the adapter (final) of run {run_id} to {tmp_path / 'a'}" in out
    assert "100%" in err  # the tqdm bar
    assert (tmp_path / "a" / "adapter_model.safetensors").is_file()
    assert main(["export", run_id[:12], "--adapter", str(tmp_path / "c"), "--checkpoint", "2"]) == 0
    assert "(checkpoint 2)" in capsys.readouterr().out


def test_export_errors_are_one_line(run_id, tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert main(["export", run_id, "--merged", str(tmp_path / "full"), "--dtype", "bf16"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "not empty" in err and "--force" in err
    assert main(["export", "no-such-run", "--adapter", str(tmp_path / "n")]) == 1
    assert "no run called 'no-such-run'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", run_id, str(tmp_path / "k")])  # --adapter or --merged is required


def test_push_and_its_failures(run_id, tmp_path, capsys, monkeypatch, memory_keyring):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert main(["push", run_id, "--repo", "x"]) == 1
    assert "no Hugging Face token" in capsys.readouterr().err

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with FakeHub({TOKEN: "carol"}) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        assert main(["push", run_id, "--repo", "smol", "--private", "--message", "from the CLI"]) == 0
        out, err = capsys.readouterr()
        assert f"Published the adapter to {hub.url}/carol/smol (private" in out
        assert hub.repo("carol/smol").commits[0]["summary"] == "from the CLI"
        assert "…cdef" in err and TOKEN not in out + err

        hub.fail["whoami"] = 401
        assert main(["push", run_id, "--repo", "smol"]) == 1
        err = capsys.readouterr().err
        assert err.strip().splitlines()[-1].startswith("error: the Hugging Face token was refused")
        assert "nothing was published" in err and TOKEN not in err and "Published" not in err
    assert main(["push", "--repo", "x"]) == 1
    assert "either a RUN or --dataset" in capsys.readouterr().err
