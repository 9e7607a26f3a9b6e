"""Which launcher starts nodes, and which nodes the fork server hands to a cold process."""

import sys
from queue import SimpleQueue

import pytest

from headwater.local.launchers import (
    COLD_VARIABLE,
    ColdLauncher,
    Exit,
    ForkServer,
    changes_startup,
    make_launcher,
)


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
