"""One sweep shared by two workers through a real PostgreSQL server: a throwaway cluster on a free local port,
two ``dpostudio sweep worker --study URL`` processes training the embedded SmolLM2 on short runs, one killed
(SIGKILL) mid-trial. Every trial must be accounted for exactly once: the killed one marked interrupted and retried
once with the same values (never run twice, never lost), the others finished, each trial with its own run folder.

The server binaries come from Debian's ``postgresql`` package (``/usr/lib/postgresql/<version>/bin``, not on PATH).
PostgreSQL refuses to run as root, so under root (CI) the cluster runs as the unprivileged user ``nobody``
(``subprocess``'s ``user=``/``group=``), in a directory of its own under the system temp dir, since pytest's
``tmp_path`` is private to root; under any other user it runs as that user in ``tmp_path``. Without the binaries
the test fails when ``CI`` is set and is skipped otherwise.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState
from test_sweeps import base_settings, set_flags, small_pairs, sweep_runs  # noqa: F401 (small_pairs: a fixture)

from dpostudio.cli import main
from dpostudio.core.paths import REPO_ROOT
from dpostudio.core.sweeps import open_sweep
from dpostudio.core.sweeps.store import INTERRUPTED, PID, counted, outcome_of, retries
from dpostudio.core.training.runs import get_run

pytestmark = pytest.mark.slow

UNPRIVILEGED = "nobody"  # every Debian/Ubuntu system has it
WORKER_TIMEOUT_S = 900


def postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, else the newest /usr/lib/postgresql/<version>/bin (Debian)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").is_file()]
    versions.sort(key=lambda p: [int(n) for n in re.findall(r"\d+", p.parent.name)] or [0], reverse=True)
    return versions[0] if versions else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A PostgreSQL cluster of its own (trust login for user ``dpostudio`` on 127.0.0.1 only)."""

    def __init__(self, bindir: Path, root: Path, as_user: dict[str, Any]):
        self.bindir, self.root, self.as_user = bindir, root, as_user
        self.data, self.log = root / "data", root / "server.log"
        self.port = 0

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        env = {"PATH": f"{self.bindir}:/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC"}
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            **self.as_user,
        )

    def start(self) -> str:
        made = self._run("initdb", "-D", str(self.data), "-U", "dpostudio", "-A", "trust", "-E", "UTF8", "--no-sync")
        assert made.returncode == 0, f"initdb failed:\n{made.stdout}\n{made.stderr}"
        for _attempt in range(3):  # another process may take the free port between the look and the bind
            self.port = free_port()
            options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
            started = self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log),
                                "-o", options)
            if started.returncode == 0:
                break
        else:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            pytest.fail(f"the PostgreSQL server did not start:\n{started.stdout}\n{started.stderr}\n{log[-3000:]}")
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="dpostudio", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE sweeps")
        connection.close()
        return f"postgresql://dpostudio@127.0.0.1:{self.port}/sweeps"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-m", "immediate", "-w", "-D", str(self.data), timeout=60)


@pytest.fixture
def postgres_url(request, tmp_path):
    """The URL of a database on a fresh PostgreSQL cluster, stopped (and removed) when the test ends."""
    bindir = postgres_bindir()
    if bindir is None:
        reason = ("PostgreSQL server binaries (initdb, pg_ctl) are not installed: not on PATH and no "
                  "/usr/lib/postgresql/*/bin (Debian: apt-get install postgresql)")
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    if os.geteuid() == 0:  # PostgreSQL will not run as root: run it as an unprivileged user
        user = pwd.getpwnam(UNPRIVILEGED)
        root = Path(tempfile.mkdtemp(prefix="dpostudio-pg-"))
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user: dict[str, Any] = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    else:
        root = tmp_path / "postgres"
        root.mkdir()
        as_user = {}
    cluster = Cluster(bindir, root, as_user)
    request.addfinalizer(cluster.stop)  # runs before the directory is removed (finalizers run last-in first-out)
    return cluster.start()


def start_worker(url: str, log: Path) -> subprocess.Popen:
    env = os.environ.copy() | {"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}  # two workers share the cores
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "dpostudio", "sweep", "worker", "--study", url],
                                cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def trained_a_step(trial) -> bool:
    run_id = trial.user_attrs.get("run_id")
    return bool(run_id) and bool(get_run(run_id).metrics("log"))


def test_two_workers_share_a_postgres_sweep_and_a_killed_workers_trial_is_retried_once(
    postgres_url, embedded_model, small_pairs, tmp_path, capsys  # noqa: F811 (a fixture)
):
    url = postgres_url
    assert main(["sweep", "start", "shared", "--storage", url, "--space", "lr=loguniform:1e-4:1e-3",
                 "--space", "beta=choice:0.1,0.2,0.5", "--trials", "3", "--sampler", "random", "--pruner", "none",
                 "--no-run", *set_flags(base_settings(small_pairs, steps=3))]) == 0
    assert "random search over learning_rate" in capsys.readouterr().out

    started = time.monotonic()
    logs = [tmp_path / "worker-0.log", tmp_path / "worker-1.log"]
    workers = [start_worker(url, log) for log in logs]
    sweep = open_sweep(url=url)

    def output() -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}" for log in logs)

    try:
        victim = None
        deadline = time.monotonic() + 600
        while victim is None:  # kill the first worker whose trial has trained a step (and not yet finished)
            assert time.monotonic() < deadline, "no trial trained a step in 10 minutes\n" + output()
            assert all(w.poll() is None for w in workers), "a worker ended early\n" + output()
            for trial in sweep.study.get_trials(states=(TrialState.RUNNING,)):
                owner = next((w for w in workers if w.pid == trial.user_attrs.get(PID)), None)
                if owner is not None and trained_a_step(trial):
                    victim, killed_number = owner, trial.number
                    break
            else:
                time.sleep(0.3)
        victim.send_signal(signal.SIGKILL)
        victim.wait(30)
        survivor = next(w for w in workers if w is not victim)
        assert survivor.wait(WORKER_TIMEOUT_S) == 0, output()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(30)
    print(f"two workers, 3 trials + 1 killed: {time.monotonic() - started:.0f} s", file=sys.stderr)

    trials = open_sweep(url=url).trials()
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)], output()
    killed = trials[killed_number]
    assert outcome_of(killed) == INTERRUPTED and killed.user_attrs[PID] == victim.pid
    assert [t.number for t in trials if outcome_of(t) == INTERRUPTED] == [killed_number]  # the only one lost
    retry_of = retries(trials)
    again = trials[retry_of[killed_number]]  # queued again once, with the same values, and run
    assert [t.number for t in trials if t.system_attrs.get("failed_trial") == killed_number] == [again.number]
    assert again.params == killed.params and outcome_of(again) == "finished"
    others = [t for t in trials if t.number != killed_number]
    assert [outcome_of(t) for t in others] == ["finished"] * 3 and sum(map(counted, trials)) == 3
    assert {t.user_attrs[PID] for t in others} == {survivor.pid}
    fresh = [repr(sorted(t.params.items())) for t in others if t.number != again.number]
    assert len(set(fresh)) == len(fresh)  # the two workers' samplers are seeded apart

    tagged = sorted((run.info()["sweep_trial"], run.id) for run in sweep_runs("shared"))
    assert [number for number, _ in tagged] == [t.number for t in trials]  # one run folder per trial, none twice
    assert {t.number: t.user_attrs["run_id"] for t in trials} == dict(tagged)
    assert get_run(killed.user_attrs["run_id"]).status() == "interrupted"
    for trial in others:
        run = get_run(trial.user_attrs["run_id"])
        assert run.status() == "finished" and run.config().beta == trial.params["beta"]
        assert trial.value == pytest.approx(run.metrics("eval")[-1]["eval_loss"])

    assert main(["sweep", "status", "shared", "--storage", url]) == 0
    status = capsys.readouterr().out
    assert "3 finished" in status and "1 interrupted" in status and "0 to go" in status
    assert main(["sweep", "top", "shared", "--storage", url]) == 0
    assert f"interrupted (retried as trial {again.number})" in capsys.readouterr().out
