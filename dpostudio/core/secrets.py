"""API tokens (Hugging Face, Gemini, ...) kept in the operating system's keyring, never in files or logs.

The settings file stores only whether a token is remembered. On a machine without a secure keyring backend
(e.g. a headless Linux box) saving fails with a message in words; nothing falls back to a plaintext file
(``keyrings.alt``'s plaintext backends are refused on purpose).
"""

from __future__ import annotations

import os

from dpostudio.core.errors import UserError

SERVICE = "dpostudio"
KNOWN = {
    "huggingface": ("Hugging Face token", "HF_TOKEN"),
    "gemini": ("Gemini API key", "GEMINI_API_KEY"),
    "openai_compatible": ("OpenAI-compatible server API key", "OPENAI_API_KEY"),
}
INSECURE_BACKENDS = ("keyrings.alt", "keyring.backends.fail", "keyring.backends.null")


class SecretError(UserError, RuntimeError):
    """The keyring cannot store or read a token; the message says why in words."""


def _backend():
    import keyring

    backend = keyring.get_keyring()
    module = type(backend).__module__
    if module.startswith(INSECURE_BACKENDS) or getattr(backend, "priority", 1) <= 0 and "chainer" not in module:
        raise SecretError(
            "no secure keyring is available on this system (found "
            f"{type(backend).__name__}); tokens cannot be saved. Set the token as an environment variable instead."
        )
    return keyring


def _check_name(name: str) -> None:
    if name not in KNOWN:
        raise SecretError(f"unknown token name {name!r}; known: {', '.join(KNOWN)}")


def set_token(name: str, value: str) -> None:
    _check_name(name)
    value = (value or "").strip()
    if not value:
        raise SecretError(f"the {KNOWN[name][0]} is empty")
    if any(ch.isspace() for ch in value):
        raise SecretError(f"the {KNOWN[name][0]} must not contain spaces or line breaks")
    try:
        _backend().set_password(SERVICE, name, value)
    except SecretError:
        raise
    except Exception as exc:
        raise SecretError(f"the keyring refused to save the {KNOWN[name][0]}: {type(exc).__name__}") from exc


def get_token(name: str) -> str | None:
    """The token: its environment variable (e.g. HF_TOKEN) overrides the keyring; None when neither has it."""
    _check_name(name)
    override = os.environ.get(KNOWN[name][1], "").strip()
    if override:
        return override
    return stored_token(name)


def stored_token(name: str) -> str | None:
    """The token saved in the keyring only (None when absent or when no secure keyring exists)."""
    _check_name(name)
    try:
        return _backend().get_password(SERVICE, name) or None
    except Exception:  # no secure backend, or the keyring itself failed
        return None


def keyring_problem() -> str | None:
    """None when a secure keyring backend is available, else why not, in words."""
    try:
        _backend()
    except SecretError as exc:
        return str(exc)
    except Exception as exc:  # keyring itself broken
        return f"the keyring cannot be used: {type(exc).__name__}"
    return None


def delete_token(name: str) -> None:
    _check_name(name)
    import keyring.errors

    try:
        _backend().delete_password(SERVICE, name)
    except keyring.errors.PasswordDeleteError:
        pass


def mask(value: str | None) -> str:
    """A token as it may be shown or logged: the last four characters only."""
    if not value:
        return "(not set)"
    return "…" + value[-4:] if len(value) > 8 else "…"
