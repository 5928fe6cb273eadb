"""packaging/bootstrap.py: the test set-up (dev extras) satisfies the app set-up, so switching between the README's
two commands does not reinstall; a change of requirements or interpreter does."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _bootstrap():
    spec = importlib.util.spec_from_file_location("dpostudio_bootstrap", REPO / "packaging" / "bootstrap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_dev_environment_satisfies_the_app_and_a_stale_one_satisfies_nothing(tmp_path):
    boot = _bootstrap()
    marker = tmp_path / ".dpostudio-installed"
    assert boot.installed_extras(marker) is None  # nothing installed yet
    marker.write_text(f"{boot.stamp()} dev\n")
    assert boot.installed_extras(marker) == {"dev"}
    assert set() <= boot.installed_extras(marker)  # the app's needs ({}) are met by the test set-up
    marker.write_text(f"{boot.stamp()} \n")
    assert boot.installed_extras(marker) == set()
    assert not {"dev"} <= boot.installed_extras(marker)  # the app alone does not satisfy the tests
    marker.write_text("0123abcd dev\n")  # requirements, this script or the interpreter changed
    assert boot.installed_extras(marker) is None
    marker.write_text(boot.stamp())  # the stamp alone: the app's set-up
    assert boot.installed_extras(marker) == set()
