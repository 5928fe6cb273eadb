import keyring
import pytest

from dpostudio.core import secrets


def test_tokens_round_trip_through_the_keyring(memory_keyring, monkeypatch, dpostudio_home):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert secrets.get_token("huggingface") is None
    secrets.set_token("huggingface", "hf_abcdefghijklmnop")
    assert memory_keyring.store[("dpostudio", "huggingface")] == "hf_abcdefghijklmnop"
    assert secrets.get_token("huggingface") == "hf_abcdefghijklmnop"
    secrets.delete_token("huggingface")
    secrets.delete_token("huggingface")  # deleting twice is fine
    assert secrets.get_token("huggingface") is None
    # nothing was written to the app's data folder
    assert not any("hf_abc" in p.read_text(errors="ignore") for p in dpostudio_home.rglob("*") if p.is_file())


def test_environment_variable_overrides_the_keyring(memory_keyring, monkeypatch):
    secrets.set_token("gemini", "from-keyring-5678")
    monkeypatch.setenv("GEMINI_API_KEY", "from-env-1234")
    assert secrets.get_token("gemini") == "from-env-1234"
    assert secrets.stored_token("gemini") == "from-keyring-5678"
    monkeypatch.delenv("GEMINI_API_KEY")
    assert secrets.get_token("gemini") == "from-keyring-5678"


def test_bad_values_and_names(memory_keyring):
    with pytest.raises(secrets.SecretError, match="is empty"):
        secrets.set_token("gemini", "  ")
    with pytest.raises(secrets.SecretError, match="spaces or line breaks"):
        secrets.set_token("gemini", "abc def")
    with pytest.raises(secrets.SecretError, match="unknown token name"):
        secrets.set_token("github", "x")
    assert secrets.mask("hf_abcdefghijkl") == "…ijkl"
    assert secrets.mask(None) == "(not set)"


def test_no_secure_backend_refuses_to_save():
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(secrets.SecretError, match="no secure keyring"):
            secrets.set_token("huggingface", "hf_123456789")
    finally:
        keyring.set_keyring(previous)
