"""Which launcher starts nodes, which nodes the fork server hands to a cold process, and
what becomes of an attempt that cannot start."""

import sys
from pathlib import Path
from queue import SimpleQueue

import pytest

from headwater.api import NodePhase
from headwater.local.launchers import (
    COLD_VARIABLE,
    Attempt,
    ColdLauncher,
    Exit,
    ForkServer,
    changes_startup,
    make_launcher,
)
from headwater.local.processes import ProcessPool


def test_nodes_are_forked_on_linux_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(COLD_VARIABLE, raising=False)
    launcher = make_launcher(SimpleQueue[Exit]())
    try:
        assert isinstance(launcher, ForkServer)
    finally:
        launcher.close()


def test_the_variable_forces_cold_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(COLD_VARIABLE, "1")
    assert isinstance(make_launcher(SimpleQueue[Exit]()), ColdLauncher)


def test_cold_processes_where_fork_is_not_safe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(COLD_VARIABLE, raising=False)
    monkeypatch.setattr(sys, "platform", "darwin")
    assert isinstance(make_launcher(SimpleQueue[Exit]()), ColdLauncher)


BASE = {"HOME": "/root", "PYTHONUNBUFFERED": "1"}


@pytest.mark.parametrize(
    ("env", "cold"),
    [
        ({**BASE, "HOME": "/home/me", "TOKEN": "new"}, False),
        ({**BASE, "PYTHONPATH": "/libs"}, True),
        ({**BASE, "PYTHONUNBUFFERED": "0"}, True),
        ({**BASE, "LD_PRELOAD": "/lib/x.so"}, True),
        ({"HOME": "/root"}, True),
    ],
)
def test_a_changed_start_up_variable_needs_a_cold_process(env: dict[str, str], cold: bool) -> None:
    """Set, changed or dropped: the interpreter reads it before any node code runs."""
    assert changes_startup(env, BASE) is cold


class Exhausted:
    """A launcher on a machine out of processes."""

    def launch(self, attempt: Attempt) -> None:
        raise BlockingIOError("fork: Resource temporarily unavailable")

    def terminate(self, key: int) -> None: ...

    def close(self) -> None: ...


def test_a_node_that_cannot_start_fails_and_is_retried(tmp_path: Path) -> None:
    pool = ProcessPool()
    pool.launcher.close()
    pool.launcher = Exhausted()
    pool.submit("n", tmp_path / "task.json", {}, tmp_path / "log", tmp_path / "result", 1)
    assert pool.observe()["n"].phase == NodePhase.RUNNING, "the first failure is retried"
    seen = pool.observe()["n"]
    assert seen.phase == NodePhase.FAILED
    assert seen.attempts == 2
    assert seen.message == "cannot start the node: fork: Resource temporarily unavailable"
    assert pool.running() == []
