"""Shared test set-up: every test gets its own empty DPO Studio home; imported models are shared.

The embedded model is converted from GGUF once into ``.dpostudio-test-home/models`` (git-ignored), so
only the first test run on a machine pays the ~40 s import.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

REPO = Path(__file__).resolve().parents[1]
SHARED_MODELS = REPO / ".dpostudio-test-home" / "models"

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def collect_garbage_on_the_main_thread():
    """As in the app (see ui/app.py): cyclic garbage is collected on the main thread only, never on a worker
    thread, where deleting a Qt object left over from a widget crashes Qt."""
    gc.disable()
    yield
    gc.collect()


@pytest.fixture(autouse=True)
def dpostudio_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("DPOSTUDIO_HOME", str(home))
    monkeypatch.setenv("DPOSTUDIO_MODELS", str(SHARED_MODELS))
    return home


@pytest.fixture(scope="session")
def embedded_model():
    """The embedded SmolLM2 default, imported into the shared store (once per machine)."""
    os.environ["DPOSTUDIO_MODELS"] = str(SHARED_MODELS)
    from dpostudio.core.model_store import resolve_model

    return resolve_model("embedded:smollm2-135m-instruct")


@pytest.fixture(autouse=True)
def _no_community_plugins(monkeypatch):
    """Tests do not autoload installed community plugins; a test that wants them deletes DPOSTUDIO_NO_PLUGINS.

    Built-in plugins (registered by DPO Studio's own entry points) still load. The application-wide plugin
    manager is reset around each test so settings and environment changes are seen.
    """
    monkeypatch.setenv("DPOSTUDIO_NO_PLUGINS", "1")
    for name in ("DPOSTUDIO_DISABLE_PLUGINS", "DPOSTUDIO_TRACE_PLUGINS", "DPOSTUDIO_PLUGIN_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    from dpostudio.plugins.manager import reset_manager

    reset_manager()
    yield
    reset_manager()


@pytest.fixture(autouse=True)
def _core_reaches_plugins():
    """As every entry point does (``dpostudio.plugins.connect_core()``): the core reaches ``plugin:`` specs and
    judges through the application's plugin manager, looked up on each use (so ``reset_manager()`` is seen)."""
    from dpostudio.plugins import connect_core

    connect_core()


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps passwords in memory (tests only)."""

    priority = 1

    def __init__(self):
        super().__init__()
        self.store = {}

    def set_password(self, service, username, password):
        self.store[(service, username)] = password

    def get_password(self, service, username):
        return self.store.get((service, username))

    def delete_password(self, service, username):
        if (service, username) not in self.store:
            raise keyring.errors.PasswordDeleteError("not found")
        del self.store[(service, username)]


@pytest.fixture
def memory_keyring():
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture(scope="session")
def fake_run_template(embedded_model, tmp_path_factory):
    """A finished-looking run (deterministic LoRA weights, no training), made once; copy it with ``fake_run_id``."""
    from fake_runs import make_fake_run

    home = tmp_path_factory.mktemp("fake-run-home")
    old = os.environ.get("DPOSTUDIO_HOME")
    os.environ["DPOSTUDIO_HOME"] = str(home)
    try:
        return make_fake_run(embedded_model.location, name="fake").path
    finally:
        if old is None:
            os.environ.pop("DPOSTUDIO_HOME", None)
        else:
            os.environ["DPOSTUDIO_HOME"] = old


@pytest.fixture
def fake_run_id(fake_run_template, dpostudio_home):
    """The id of a copy of ``fake_run_template`` in this test's own DPO Studio home."""
    import shutil

    shutil.copytree(fake_run_template, dpostudio_home / "runs" / fake_run_template.name)
    return fake_run_template.name


@pytest.fixture
def fake_run(fake_run_id):
    """A copy of ``fake_run_template`` in this test's own DPO Studio home, as a ``Run``."""
    from dpostudio.core.training.runs import get_run

    return get_run(fake_run_id)
