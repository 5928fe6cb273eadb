"""Publish to the Hugging Face Hub: a run's adapter, its merged model, or a preference dataset folder.

Uses ``huggingface_hub.HfApi``: ``whoami`` (checks the token and finds the user's namespace), ``create_repo``
(private flag, ``exist_ok``) and ``upload_folder`` (one commit with the given message). The token comes from
``core.secrets`` (keyring, ``HF_TOKEN`` overrides) and is passed to the client only: it never goes into logs,
files, run folders or error messages (every message is scrubbed before it leaves this module).

The endpoint is ``HF_ENDPOINT`` (read at call time) unless one is passed, so tests point it at a local server.
Success is reported only after the upload commit has returned; any failure raises ``PublishError`` whose message
says, in words, what went wrong and that nothing was published by this attempt.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dpostudio.core.errors import UserError
from dpostudio.core.secrets import get_token, mask
from dpostudio.core.training.runs import Run, get_run

log = logging.getLogger(__name__)
ProgressFn = Callable[[float, str], None]
DEFAULT_ENDPOINT = "https://huggingface.co"
_REPO_NAME = re.compile(r"^(?:[A-Za-z0-9][\w.\-]{0,95}/)?[A-Za-z0-9][\w.\-]{0,95}$")
NOT_PUBLISHED = "nothing was published"


class PublishError(UserError, RuntimeError):
    """Publishing failed; the message says why in words (and never contains the token)."""


@dataclass
class PublishResult:
    repo_id: str
    repo_type: str  # "model" | "dataset"
    url: str
    commit_url: str
    commit_oid: str | None
    private: bool
    what: str  # "adapter" | "merged model" | "dataset"
    files: list[str]


def _checked_repo_and_token(repo: str, token: str | None) -> tuple[str, str]:
    """The validated repo name and the token to use (given, or from the keyring / HF_TOKEN); PublishError if none."""
    repo = check_repo_name(repo)
    token = token or get_token("huggingface")
    if not token:
        raise PublishError(
            f"no Hugging Face token: add one in Settings (kept in the keyring) or set HF_TOKEN; {NOT_PUBLISHED}."
        )
    return repo, token


def _noop(fraction: float, message: str) -> None:
    pass


def endpoint_url(endpoint: str | None = None) -> str:
    return (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def token_status() -> str:
    """One line for the GUI/CLI: whether a Hugging Face token is available, masked."""
    from dpostudio.core.secrets import KNOWN, stored_token

    env_name = KNOWN["huggingface"][1]
    if os.environ.get(env_name, "").strip():
        return f"token from {env_name}: {mask(os.environ[env_name].strip())}"
    stored = stored_token("huggingface")
    if stored:
        return f"token from the keyring: {mask(stored)}"
    return "no token: add one in Settings (kept in the keyring) or set HF_TOKEN"


def check_repo_name(repo: str) -> str:
    repo = (repo or "").strip()
    if not repo:
        raise PublishError("no repository name given (write it as name or owner/name)")
    if not _REPO_NAME.match(repo) or ".." in repo or repo.endswith((".git", ".")):
        raise PublishError(
            f"{repo!r} is not a valid repository name: use letters, digits, '-', '_' or '.', as name or owner/name"
        )
    return repo


def _scrub(text: str, token: str | None) -> str:
    if token:
        text = text.replace(token, mask(token))
    return re.sub(r"hf_[A-Za-z0-9]{10,}", "hf_…", text)


def describe_hub_error(exc: BaseException, repo_id: str, endpoint: str, token: str | None = None) -> str:
    """A sentence for what went wrong talking to the Hub (token scrubbed)."""
    from huggingface_hub import errors as hf_errors

    status = None
    response = getattr(exc, "response", None)
    if response is not None:
        status = getattr(response, "status_code", None)
    server_says = ""
    if response is not None:
        said = (getattr(exc, "server_message", None) or "").strip().splitlines()
        server_says = f" (the Hub says: {said[0][:200]})" if said else ""

    if isinstance(exc, hf_errors.OfflineModeIsEnabled):
        text = "offline mode is on (HF_HUB_OFFLINE is set); unset it to publish"
    elif isinstance(exc, hf_errors.LocalTokenNotFoundError):
        text = "no Hugging Face token: add one in Settings (kept in the keyring) or set HF_TOKEN"
    elif status == 401:
        text = (
            "the Hugging Face token was refused (401 Unauthorized): it is invalid or expired. "
            "Create a token with write access at https://huggingface.co/settings/tokens and save it in Settings"
        )
    elif status == 403:
        text = (
            f"no permission to write to {repo_id} (403 Forbidden): the name belongs to another user or "
            "organisation, or the token is read-only. Choose a name under your own account or use a token "
            f"with write access{server_says}"
        )
    elif status == 409:
        text = f"the repository name {repo_id} is already taken (409 Conflict); choose another name{server_says}"
    elif status == 404:
        text = f"the repository {repo_id} was not found on the Hub (404), or the token cannot see it"
    elif status == 429:
        text = "the Hub is rate-limiting this account (429 Too Many Requests); wait a few minutes and try again"
    elif isinstance(status, int) and status >= 500:
        text = f"the Hub had a server error ({status}); try again later{server_says}"
    elif isinstance(status, int):
        text = f"the Hub refused the upload ({status}){server_says}"
    elif _is_network_error(exc):
        reason = str(exc).strip().splitlines()
        text = (
            f"cannot reach the Hub at {endpoint}: {reason[0] if reason else type(exc).__name__}. "
            "Check the internet connection (or proxy) and try again"
        )
    elif isinstance(exc, RuntimeError) and exc.__cause__ is not None and "uploading" in str(exc):
        return describe_hub_error(exc.__cause__, repo_id, endpoint, token)
    else:
        first = str(exc).strip().splitlines()
        text = f"publishing failed: {type(exc).__name__}: {first[0] if first else ''}"
    return _scrub(f"{text}; {NOT_PUBLISHED}.", token)


def _is_network_error(exc: BaseException) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {
        "TransportError",
        "ConnectError",
        "TimeoutException",
        "NetworkError",
        "ConnectionError",
        "RemoteProtocolError",
        "ProxyError",
    }:
        return True
    return isinstance(exc, OSError)


def push_folder(
    folder: str | Path,
    repo: str,
    *,
    repo_type: str = "model",
    private: bool = False,
    message: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    on_progress: ProgressFn | None = None,
    what: str | None = None,
) -> PublishResult:
    """Create (or reuse) ``repo`` and upload everything in ``folder`` as one commit. Blocks; raises PublishError."""
    from huggingface_hub import HfApi

    progress = on_progress or _noop
    folder = Path(folder)
    if not folder.is_dir() or not any(folder.iterdir()):
        raise PublishError(f"{folder} is not a folder with files to publish; {NOT_PUBLISHED}.")
    repo, token = _checked_repo_and_token(repo, token)
    url_base = endpoint_url(endpoint)
    repo_id = repo
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    bars_were_off = are_progress_bars_disabled()
    disable_progress_bars()  # progress goes through on_progress; the library's own bars would only add noise
    try:
        api = HfApi(endpoint=url_base, token=token, library_name="dpostudio")
        progress(0.02, "checking the Hugging Face token")
        repo_id = _full_repo_id(api, repo, token)
        progress(0.08, f"creating {repo_id}" + (" (private)" if private else ""))
        _create_or_reuse(api, repo_id, repo_type, private)
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        total = sum((folder / f).stat().st_size for f in files)
        progress(0.15, f"uploading {len(files)} files ({_human(total)}) to {repo_id}")
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type=repo_type,
            commit_message=message or f"Upload {what or repo_type} with DPO Studio",
        )
    except PublishError:
        raise
    except Exception as exc:
        text = describe_hub_error(exc, repo_id, url_base, token)
        log.info("publishing to %s failed: %s", repo_id, text)
        raise PublishError(text) from None  # no chained exception: its text may echo request details
    finally:
        if not bars_were_off:
            enable_progress_bars()
    commit_url = str(getattr(commit, "commit_url", "") or "")
    progress(1.0, f"published to {repo_id}")
    prefix = "" if repo_type == "model" else f"{repo_type}s/"
    return PublishResult(
        repo_id=repo_id,
        repo_type=repo_type,
        url=f"{url_base}/{prefix}{repo_id}",
        commit_url=commit_url,
        commit_oid=getattr(commit, "oid", None),
        private=private,
        what=what or repo_type,
        files=files,
    )


def _full_repo_id(api, repo: str, token: str) -> str:
    """Check the token with whoami (write access) and put the user's namespace in front of a bare name."""
    me = api.whoami()
    role = ((me.get("auth") or {}).get("accessToken") or {}).get("role")
    if role == "read":
        raise PublishError(
            f"the Hugging Face token {mask(token)} is read-only; publishing needs a token with "
            f"write access (https://huggingface.co/settings/tokens); {NOT_PUBLISHED}."
        )
    return repo if "/" in repo else f"{me.get('name')}/{repo}"


def _create_or_reuse(api, repo_id: str, repo_type: str, private: bool) -> None:
    """``create_repo(exist_ok=True)`` semantics, done here: huggingface_hub's own fallback after a 403 builds
    its answer for huggingface.co only and fails on any other endpoint."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=False)
    except HfHubHTTPError as err:
        status = err.response.status_code if err.response is not None else None
        if status == 409:  # it exists already under this name: upload into it (403 later if not ours)
            return
        if status in (401, 402, 403):  # no right to create; it may still exist and be writable (org member)
            try:
                api.repo_info(repo_id, repo_type=repo_type)
            except HfHubHTTPError:
                raise err from None
            return
        raise


def resolve_repo_id(repo: str, *, token: str | None = None, endpoint: str | None = None) -> str:
    """``owner/name`` for ``repo``, checking the token on the way; raises PublishError in words."""
    from huggingface_hub import HfApi

    repo, token = _checked_repo_and_token(repo, token)
    url_base = endpoint_url(endpoint)
    try:
        return _full_repo_id(HfApi(endpoint=url_base, token=token, library_name="dpostudio"), repo, token)
    except PublishError:
        raise
    except Exception as exc:
        raise PublishError(describe_hub_error(exc, repo, url_base, token)) from None


def push_run(
    run: Run | str,
    repo: str,
    *,
    merged: bool = False,
    private: bool = False,
    message: str | None = None,
    checkpoint: int | None = None,
    dtype: str = "fp16",
    token: str | None = None,
    endpoint: str | None = None,
    on_progress: ProgressFn | None = None,
) -> PublishResult:
    """Export the run's adapter (or merged model) into a temporary folder and push it with a model card."""
    from dpostudio.core.publish.export import ExportError, export_run

    progress = on_progress or _noop
    run = run if isinstance(run, Run) else get_run(run)
    repo = check_repo_name(repo)
    token = token or get_token("huggingface")
    if not token:  # fail before spending minutes on a merge
        raise PublishError(
            f"no Hugging Face token: add one in Settings (kept in the keyring) or set HF_TOKEN; {NOT_PUBLISHED}."
        )
    kind = "merged" if merged else "adapter"
    progress(0.0, "checking the Hugging Face token")
    repo = resolve_repo_id(repo, token=token, endpoint=endpoint)  # fail fast, before a long merge
    staging = Path(tempfile.mkdtemp(prefix="dpostudio-push-"))
    try:
        try:
            export_run(
                run,
                staging / "export",
                kind,
                checkpoint=checkpoint,
                dtype=dtype,
                repo_id=repo,
                on_progress=lambda f, m: progress(0.5 * f if merged else 0.2 * f, m),
            )
        except ExportError as exc:
            raise PublishError(f"{exc}; {NOT_PUBLISHED}.") from None
        start = 0.5 if merged else 0.2
        return push_folder(
            staging / "export",
            repo,
            private=private,
            message=message,
            token=token,
            endpoint=endpoint,
            what="merged model" if merged else "adapter",
            on_progress=lambda f, m: progress(start + (1 - start) * f, m),
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def push_dataset(
    folder: str | Path,
    repo: str,
    *,
    private: bool = False,
    message: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    on_progress: ProgressFn | None = None,
) -> PublishResult:
    """Push a preference dataset folder (JSONL/Parquet files) as a dataset repo; adds a card if it has none."""
    from dpostudio.core.publish.model_card import build_dataset_card

    folder = Path(folder)
    if not folder.is_dir():
        raise PublishError(f"{folder} is not a folder; {NOT_PUBLISHED}.")
    if (folder / "README.md").is_file():
        return push_folder(
            folder,
            repo,
            repo_type="dataset",
            private=private,
            message=message,
            token=token,
            endpoint=endpoint,
            on_progress=on_progress,
            what="dataset",
        )
    staging = Path(tempfile.mkdtemp(prefix="dpostudio-push-"))
    try:
        copy = staging / "dataset"
        shutil.copytree(folder, copy)
        (copy / "README.md").write_text(build_dataset_card(folder, repo), encoding="utf-8")
        return push_folder(
            copy,
            repo,
            repo_type="dataset",
            private=private,
            message=message,
            token=token,
            endpoint=endpoint,
            on_progress=on_progress,
            what="dataset",
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _human(n: float) -> str:
    from dpostudio.core.publish.export import human_size

    return human_size(n)
