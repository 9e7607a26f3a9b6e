"""How `headwater run` starts nodes: every attempt its own process, forked from the fork
server by default or started cold with HEADWATER_COLD_NODES=1, and what a node can and
cannot see of the others and of the executor. Most tests run on both paths."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import dataflow, function, headwater, headwater_env, run, write_manifests

from headwater.limits import ENV_VALUE_LENGTH
from headwater.local.driver import Workspace, execute
from headwater.local.launchers import COLD_VARIABLE
from headwater.local.resolve import snapshot_for
from headwater.manifests import load_manifests

VALUE = {"type": "value"}
FORK_SERVER = "headwater.local.forkserver"


@pytest.fixture(params=["fork", "cold"])
def executor(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment that picks how nodes start."""
    return {COLD_VARIABLE: "1" if request.param == "cold" else "0"}


def is_cold(executor: dict[str, str]) -> bool:
    return executor[COLD_VARIABLE] == "1"


def output(project: Path, node: str, name: str, run_name: str = "flow-1") -> Any:
    return json.loads((node_dir(project, node, run_name) / name / "data.json").read_text())


def node_dir(project: Path, node: str, run_name: str = "flow-1") -> Path:
    return project / ".headwater" / "runs" / run_name / node


def one_run(project: Path, functions: list[dict], nodes: list[dict], **spec: Any) -> None:
    """Manifests for the Run flow-1 of the Dataflow flow."""
    write_manifests(
        project / "flow", [*functions, dataflow("flow", nodes), run("flow-1", "flow", **spec)]
    )


def run_flow(project: Path, executor: dict[str, str], *args: str) -> dict[str, Any]:
    done = headwater("run", "flow", "--output", "json", *args, cwd=project, env=executor)
    assert done.stdout, done.stderr
    return done.status()


INSPECT = """
import builtins, os, signal

def handler(number):
    found = signal.getsignal(number)
    names = {signal.SIG_DFL: "default", signal.SIG_IGN: "ignored"}
    return names.get(found) or getattr(found, "__name__", repr(found))

def inspect(seen):
    leaked = getattr(builtins, "headwater_leak", None)
    builtins.headwater_leak = os.getpid()
    listed = [int(fd) for fd in os.listdir("/proc/self/fd")]
    parent = os.getppid()
    return {
        "leaked": leaked,
        "fds": sorted(fd for fd in listed if os.path.exists(f"/proc/self/fd/{fd}")),
        "stdio": [os.readlink(f"/proc/self/fd/{fd}") for fd in (0, 1, 2)],
        "leads_its_session": os.getpgid(0) == os.getpid() == os.getsid(0),
        "signals": [handler(s) for s in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM)],
        "wakeup_fd": signal.set_wakeup_fd(-1),
        "parent": open(f"/proc/{parent}/cmdline").read().replace("\\0", " "),
        "parent_threads": len(os.listdir(f"/proc/{parent}/task")),
    }
"""


def test_a_node_sees_a_fresh_process_and_nothing_of_the_node_before(
    project: Path, executor: dict[str, str]
) -> None:
    one_run(
        project,
        [function("inspect", INSPECT, [{"name": "seen", **VALUE}], ["report"])],
        [
            {"name": "first", "function": "inspect", "inputs": {"seen": "start"}, "outputs": ["a"]},
            {"name": "second", "function": "inspect", "inputs": {"seen": "a"}, "outputs": ["b"]},
        ],
        parameters={"start": {"value": 0}},
    )
    status = run_flow(project, executor)
    assert status["phase"] == "Succeeded", status
    for node, name in (("first", "a"), ("second", "b")):
        report = output(project, node, name)
        log = str((node_dir(project, node) / "node.log").resolve())
        assert report["leaked"] is None, "the second node saw the first one's globals"
        assert report["fds"] == [0, 1, 2], "a node inherits no descriptor but its stdio"
        assert report["stdio"] == ["/dev/null", log, log]
        assert report["leads_its_session"]
        # SIGTERM is the runner's own: it stops the function cleanly (runner/stopping.py).
        assert report["signals"] == ["default", "default_int_handler", "_handle"]
        assert report["wakeup_fd"] == -1, "the server's SIGCHLD wake-up fd was inherited"
        if is_cold(executor):
            assert "-m headwater run" in report["parent"]
        else:
            assert FORK_SERVER in report["parent"]
            assert report["parent_threads"] == 1, "the fork server must be single-threaded"


CRASHES = {
    "segfault": "import ctypes\n\ndef segfault():\n    ctypes.string_at(0)\n",
    "exits": "import os\n\ndef exits():\n    print('leaving', flush=True)\n    os._exit(3)\n",
    "self-kill": "import os\n\ndef self_kill():\n    os.kill(os.getpid(), 9)\n",
    "fine": "def fine():\n    return 1\n",
}


def test_crashing_nodes_are_reported_and_the_executor_carries_on(
    project: Path, executor: dict[str, str]
) -> None:
    one_run(
        project,
        [function(name, code, [], ["out"]) for name, code in CRASHES.items()],
        [
            {"name": name, "function": name, "outputs": [f"out{i}"]}
            for i, name in enumerate(CRASHES)
        ],
        retries=1,
    )
    status = run_flow(project, executor)
    nodes = status["nodes"]
    assert status["phase"] == "Failed"
    assert nodes["fine"]["phase"] == "Succeeded"
    expected = {
        "segfault": (-signal.SIGSEGV, "killed by signal SIGSEGV"),
        "exits": (3, "runner exited with code 3"),
        "self-kill": (-signal.SIGKILL, "killed by signal SIGKILL"),
    }
    for node, (code, message) in expected.items():
        assert nodes[node]["phase"] == "Failed"
        assert nodes[node]["exitCode"] == code
        assert nodes[node]["message"] == message
        assert nodes[node]["attempts"] == 2, "a crash is worth a retry"
    log = (node_dir(project, "exits") / "node.log").read_text()
    assert log.count("leaving") == 2, "each attempt's output is appended to the log"


def test_a_node_gets_exactly_its_environment(project: Path, executor: dict[str, str]) -> None:
    # Every value at its limit, more in all than a pipe holds: the server reads in pieces.
    big = {f"BIG_{i}": chr(ord("a") + i) * ENV_VALUE_LENGTH for i in range(20)}
    spec = function(
        "environment", "import os\n\ndef environment():\n    return dict(os.environ)\n", [], ["env"]
    )
    spec["spec"]["env"] = [
        {"name": "SHARED", "value": "from the function"},
        {"name": "ONLY_FUNCTION", "value": "yes"},
    ]
    one_run(
        project,
        [spec],
        [{"function": "environment"}],
        env=[
            {"name": "SHARED", "value": "from the run"},
            *({"name": name, "value": value} for name, value in big.items()),
        ],
    )
    expected = {
        **headwater_env(executor),
        "HEADWATER_RUN": "flow-1",
        "HEADWATER_NODE": "environment",
        "SHARED": "from the run",
        "ONLY_FUNCTION": "yes",
        **big,
    }
    status = run_flow(project, executor)
    assert status["phase"] == "Succeeded", status
    assert output(project, "environment", "env") == expected


def test_a_start_up_variable_in_the_env_takes_effect(
    project: Path, executor: dict[str, str]
) -> None:
    """PYTHONPATH is read when an interpreter starts, so a forked node would miss it: such
    a node gets a cold process."""
    libs = project / "libs"
    libs.mkdir()
    (libs / "shouting.py").write_text("def shout(word):\n    return word.upper()\n")
    spec = {
        "apiVersion": "headwater.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": "shout"},
        "spec": {
            "handler": "shout",
            "code": {"module": "shouting"},
            "params": [{"name": "word", **VALUE}],
            "outputs": ["loud"],
            "env": [{"name": "PYTHONPATH", "value": str(libs)}],
        },
    }
    one_run(
        project,
        [spec],
        [{"function": "shout", "inputs": ["word"]}],
        parameters={"word": {"value": "quiet"}},
    )
    status = run_flow(project, executor)
    assert status["phase"] == "Succeeded", status
    assert output(project, "shout", "loud") == "QUIET"


TALK = """
import os, subprocess, sys

def talk():
    print("to stdout, never flushed")
    print("to stderr", file=sys.stderr)
    os.write(1, b"straight to fd 1\\n")
    os.write(2, b"straight to fd 2\\n")
    subprocess.run(["echo", "from a subprocess"], check=True)
    return 1
"""


def test_the_node_log_holds_everything_the_function_wrote(
    project: Path, executor: dict[str, str]
) -> None:
    one_run(
        project,
        [
            function("talk", TALK, [], ["said"]),
            function("quiet", "def quiet():\n    return 2\n", [], ["kept"]),
        ],
        [{"function": "talk"}, {"function": "quiet"}],
    )
    status = run_flow(project, executor)
    assert status["phase"] == "Succeeded", status
    log = (node_dir(project, "talk") / "node.log").read_text()
    for line in (
        "to stdout, never flushed",
        "to stderr",
        "straight to fd 1",
        "straight to fd 2",
        "from a subprocess",
        "headwater: exit 0",
    ):
        assert line in log
    assert "to stdout" not in (node_dir(project, "quiet") / "node.log").read_text()
    assert json.loads((node_dir(project, "talk") / "result.json").read_text())["exitCode"] == 0


FLAKY = """
from pathlib import Path

def flaky(marker):
    path = Path(marker)
    attempt = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempt))
    if attempt < 3:
        raise RuntimeError(f"attempt {attempt} fails")
    return attempt
"""


def test_retries_follow_the_exit_code(project: Path, executor: dict[str, str]) -> None:
    one_run(
        project,
        [
            function("flaky", FLAKY, [{"name": "marker", **VALUE}], ["attempt"]),
            function("two-outputs", "def two_outputs():\n    return 7\n", [], ["a", "b"]),
        ],
        [{"function": "flaky", "inputs": ["marker"]}, {"function": "two-outputs"}],
        parameters={"marker": {"value": str(project / "attempts")}},
        retries=3,
    )
    status = run_flow(project, executor)
    nodes = status["nodes"]
    assert nodes["flaky"]["phase"] == "Succeeded"
    assert nodes["flaky"]["attempts"] == 3
    assert output(project, "flaky", "attempt") == 3
    log = (node_dir(project, "flaky") / "node.log").read_text()
    assert "attempt 1 fails" in log and "attempt 2 fails" in log
    # Exit code 2 (bad input) is never retried, as a Job's podFailurePolicy does.
    assert nodes["two-outputs"]["phase"] == "Failed"
    assert nodes["two-outputs"]["exitCode"] == 2
    assert "attempts" not in nodes["two-outputs"], "one attempt only"


STUBBORN = """
import os, signal, subprocess, time
from pathlib import Path

def stubborn(folder):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    helper = subprocess.Popen(["sleep", "300"])  # inherits the ignored SIGTERM
    Path(folder, "pids.tmp").write_text(f"{os.getpid()} {helper.pid} {os.getppid()}")
    Path(folder, "pids.tmp").rename(Path(folder, "pids"))
    time.sleep(300)
"""


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def start_stubborn(project: Path, executor: dict[str, str]) -> tuple[subprocess.Popen, list[int]]:
    """`headwater run` of a node that ignores SIGTERM, once the node runs; with the pids
    of the node, of its helper and of the process that started it."""
    one_run(
        project,
        [function("stubborn", STUBBORN, [{"name": "folder", **VALUE}], ["never"])],
        [{"function": "stubborn", "inputs": ["folder"]}],
        parameters={"folder": {"value": str(project)}},
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "headwater", "run", "flow", "--output", "json"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=headwater_env(executor),
    )
    deadline = time.monotonic() + 60
    while not (project / "pids").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return process, [int(pid) for pid in (project / "pids").read_text().split()]


def test_stop_kills_a_node_that_ignores_sigterm_and_its_children(
    project: Path, executor: dict[str, str]
) -> None:
    process, pids = start_stubborn(project, executor)
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    status = json.loads(stdout)
    assert status["phase"] == "Cancelled"
    assert status["nodes"]["stubborn"]["phase"] == "Cancelled"
    assert status["nodes"]["stubborn"]["exitCode"] == -signal.SIGKILL
    assert not any(alive(pid) for pid in pids), "SIGKILL reaches the node's whole group"


def test_forked_nodes_end_when_the_driver_is_killed_outright(project: Path) -> None:
    """The fork server sees its stdin close, stops its children and leaves."""
    process, pids = start_stubborn(project, {COLD_VARIABLE: "0"})
    process.kill()
    process.communicate(timeout=60)
    deadline = time.monotonic() + 60
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in pids)


KILLER = """
import os, signal, time

def killer():
    parent = open(f"/proc/{os.getppid()}/cmdline").read()
    if "headwater.local.forkserver" in parent:
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(60)  # the server's death takes this process with it
    return parent.replace("\\0", " ")
"""


def test_a_node_that_kills_the_fork_server_does_not_end_the_run(project: Path) -> None:
    one_run(
        project,
        [
            function("killer", KILLER, [], ["parent"]),
            function(
                "nap", "import time\n\ndef nap():\n    time.sleep(0.2)\n    return 1\n", [], ["z"]
            ),
        ],
        [
            {"function": "killer"},
            *({"name": f"nap{i}", "function": "nap", "outputs": [f"z{i}"]} for i in range(3)),
        ],
        retries=1,
    )
    status = run_flow(project, {COLD_VARIABLE: "0"})
    assert status["phase"] == "Succeeded", status
    assert status["nodes"]["killer"]["attempts"] == 2
    assert "-m headwater run" in output(project, "killer", "parent"), "the retry ran cold"


LINGER = """
import atexit, threading, time
from pathlib import Path

def linger(folder):
    atexit.register(Path(folder, "atexit").write_text, "ran")
    def late():
        time.sleep(0.3)
        Path(folder, "thread").write_text("ran")
    threading.Thread(target=late).start()
    return 1
"""


def test_a_node_ends_like_an_interpreter(project: Path, executor: dict[str, str]) -> None:
    """Its non-daemon threads finish and its atexit handlers run before it exits."""
    one_run(
        project,
        [function("linger", LINGER, [{"name": "folder", **VALUE}], ["done"])],
        [{"function": "linger", "inputs": ["folder"]}],
        parameters={"folder": {"value": str(project)}},
    )
    assert run_flow(project, executor)["phase"] == "Succeeded"
    assert (project / "atexit").read_text() == "ran"
    assert (project / "thread").read_text() == "ran"


def test_nodes_draw_different_random_numbers(project: Path, executor: dict[str, str]) -> None:
    draw = (
        "import random, numpy\n\ndef draw():\n    return [random.random(), numpy.random.random()]\n"
    )
    one_run(
        project,
        [function("draw", draw, [], ["numbers"])],
        [{"name": f"draw{i}", "function": "draw", "outputs": [f"n{i}"]} for i in range(3)],
    )
    assert run_flow(project, executor)["phase"] == "Succeeded"
    drawn = [output(project, f"draw{i}", f"n{i}") for i in range(3)]
    for stream in (0, 1):
        assert len({numbers[stream] for numbers in drawn}) == 3


def test_a_wide_fan_out_keeps_the_fork_server_lean(project: Path) -> None:
    """200 nodes, 4 at a time: all succeed, and the server holds as many descriptors
    for the last of them as for the first."""
    count = (
        "import os\n\ndef count(x):\n    return [x, len(os.listdir(f'/proc/{os.getppid()}/fd'))]\n"
    )
    width = 200
    one_run(
        project,
        [
            function("root", "def root():\n    return 5\n", [], ["x"]),
            function("count", count, [{"name": "x", **VALUE}], ["fds"]),
        ],
        [
            {"function": "root"},
            *(
                {"name": f"c{i}", "function": "count", "inputs": {"x": "x"}, "outputs": [f"f{i}"]}
                for i in range(width)
            ),
        ],
        parallelism=4,
    )
    status = run_flow(project, {COLD_VARIABLE: "0"})
    assert status["phase"] == "Succeeded"
    assert status["progress"] == f"{width + 1}/{width + 1}"
    reports = [output(project, f"c{i}", f"f{i}") for i in range(width)]
    assert {x for x, _ in reports} == {5}
    assert len({fds for _, fds in reports}) == 1


def test_the_driver_leaks_no_descriptors_or_threads(
    project: Path, executor: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(COLD_VARIABLE, executor[COLD_VARIABLE])
    length = 20
    one_run(
        project,
        [
            function("start", "def start():\n    return 0\n", [], ["v"]),
            function("inc", "def inc(v):\n    return v + 1\n", [{"name": "v", **VALUE}], ["w"]),
        ],
        [
            {"name": "n0", "function": "start", "outputs": ["v0"]},
            *(
                {
                    "name": f"n{i}",
                    "function": "inc",
                    "inputs": {"v": f"v{i - 1}"},
                    "outputs": [f"v{i}"],
                }
                for i in range(1, length)
            ),
        ],
    )
    manifests = load_manifests([project / "flow"])
    chosen = manifests.runs["flow-1"]
    workspace = Workspace(project / "state")
    snapshot = snapshot_for(chosen, manifests, workspace.run_dir("flow-1") / "datasets")
    descriptors = sorted(os.listdir("/proc/self/fd"))
    threads = len(os.listdir("/proc/self/task"))
    status = execute(chosen, snapshot, workspace)
    assert status.phase == "Succeeded"
    assert sorted(os.listdir("/proc/self/fd")) == descriptors
    if not is_cold(executor):  # a cold process's waiting thread may still be on its way out
        assert len(os.listdir("/proc/self/task")) == threads
