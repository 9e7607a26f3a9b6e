"""The Run verbs of the command line on the local workspace (`--local`): exit codes,
tables and `-o json`; `function init` and `outputs --local`. The same verbs against a
cluster are in tests/e2e/test_cli_cluster.py."""

import json
from pathlib import Path

import pytest
from conftest import dataflow, function, headwater, write_manifests

from headwater.cli_runs import NO_OPERATOR_SECONDS as CLI_SECONDS
from headwater.sdk.runs import NO_OPERATOR_SECONDS

pytestmark = pytest.mark.timeout(600)

DOUBLE = """
import time

def double(x, delay=0.0):
    time.sleep(delay)
    if x < 0:
        raise ValueError(f"cannot double {x}")
    print("doubled", x)
    return 2 * x
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    params = [{"name": "x", "type": "value"}, {"name": "delay", "type": "value", "default": 0}]
    write_manifests(
        tmp_path / "flow",
        [
            function("double", DOUBLE, params, ["y"]),
            dataflow(
                "twice",
                [
                    {"name": "a", "function": "double", "inputs": ["x", "delay"], "outputs": ["y"]},
                    {"name": "b", "function": "double", "inputs": {"x": "y"}, "outputs": ["z"]},
                ],
            ),
        ],
    )
    return tmp_path


def hw(project: Path, *args: str) -> "object":
    return headwater(*args, "--local", "--workdir", str(project / "ws"), cwd=project)


def test_submit_wait_list_get_logs_outputs_and_delete(project: Path) -> None:
    submitted = hw(project, "submit", "flow", "-p", "x=3", "--name", "ok", "--wait", "-o", "name")
    assert submitted.code == 0, submitted.stderr
    assert submitted.stdout == "ok\n"
    assert "Function/double created" in submitted.stderr
    assert "run ok succeeded (2/2)" in submitted.stderr

    listed = hw(project, "list", "-o", "json")
    assert listed.code == 0
    (item,) = json.loads(listed.stdout)["items"]
    assert item["metadata"]["name"] == "ok" and item["status"]["phase"] == "Succeeded"
    table = hw(project, "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "DATAFLOW", "PHASE", "PROGRESS", "AGE", "DURATION"]
    assert table[1].split()[:4] == ["ok", "twice", "Succeeded", "2/2"]

    got = hw(project, "get", "ok", "-o", "json")
    assert json.loads(got.stdout)["status"]["nodes"]["b"]["phase"] == "Succeeded"
    shown = hw(project, "get", "ok", "-o", "wide").stdout
    assert "Phase:    Succeeded" in shown
    assert [line.split()[:3] for line in shown.splitlines() if line.startswith(("a ", "b "))] == [
        ["a", "Succeeded", "1"],
        ["b", "Succeeded", "1"],
    ]

    every = hw(project, "logs", "ok")
    assert every.code == 0
    assert "[a] doubled 3\n" in every.stdout and "[b] doubled 6\n" in every.stdout
    one = hw(project, "logs", "ok", "b", "--attempt", "1")
    assert "doubled 6\n" in one.stdout and "[b]" not in one.stdout
    assert hw(project, "logs", "ok", "c").code == 1

    outputs = json.loads(hw(project, "outputs", "ok", "-o", "json").stdout)
    assert {(o["node"], o["name"], o["value"]) for o in outputs} == {("a", "y", 6), ("b", "z", 12)}
    downloaded = hw(project, "outputs", "ok", "z", "--download", str(project / "out"))
    assert downloaded.code == 0
    assert json.loads((project / "out" / "b" / "z" / "data.json").read_text()) == 12

    assert hw(project, "wait", "ok").code == 0
    watched = hw(project, "watch", "ok")
    assert watched.code == 0 and "Succeeded" in watched.stderr
    assert hw(project, "delete", "ok").stdout == "run/ok deleted\n"
    missing = hw(project, "get", "ok")
    assert missing.code == 1 and "no Run ok" in missing.stderr


def test_a_failed_run_waits_1_and_retry_reruns_only_the_failed_part(project: Path) -> None:
    assert hw(project, "submit", "flow", "-p", "x=-1", "--name", "bad").code == 0
    waited = hw(project, "wait", "bad")
    assert waited.code == 1
    assert "run bad failed (NodeFailed)" in waited.stderr
    assert "ValueError: cannot double -1" in waited.stderr
    assert json.loads(hw(project, "get", "bad", "-o", "json").stdout)["status"]["phase"] == "Failed"

    retried = hw(project, "retry", "bad", "-p", "x=2", "--name", "good", "--wait")
    assert retried.code == 0, retried.stderr
    assert retried.stdout == "good\n"
    status = json.loads(hw(project, "get", "good", "-o", "json").stdout)["status"]
    assert status["phase"] == "Succeeded"
    # x changed, so node a (which failed) runs; b read a's output and runs too.
    assert "reusedFrom" not in status["nodes"]["a"]

    unchanged = hw(project, "retry", "good", "--name", "same", "--wait")
    assert unchanged.code == 0
    nodes = json.loads(hw(project, "get", "same", "-o", "json").stdout)["status"]["nodes"]
    assert {n: s.get("reusedFrom") for n, s in nodes.items()} == {"a": "good", "b": "good"}


def test_stop_cancels_and_wait_exits_1(project: Path) -> None:
    started = hw(project, "submit", "flow", "-p", "x=1", "-p", "delay=300", "--name", "slow")
    assert started.code == 0
    stopped = hw(project, "stop", "slow")
    assert stopped.code == 0 and stopped.stdout == "run/slow stopping\n"
    waited = hw(project, "wait", "slow", "--timeout", "120")
    assert waited.code == 1 and "run slow cancelled" in waited.stderr
    assert hw(project, "stop", "slow").stderr.startswith("run slow has already ended")


def test_invalid_manifests_exit_2_and_start_nothing(project: Path) -> None:
    refused = hw(project, "submit", "flow", "-p", "nope=1", "--name", "typo")
    assert refused.code == 2
    assert "error" in refused.stderr and "nope" in refused.stderr
    assert not (project / "ws" / "runs" / "typo").exists()


def test_function_init_prints_manifests_that_validate(tmp_path: Path) -> None:
    (tmp_path / "steps.py").write_text(
        "from pathlib import Path\n\n"
        "def _helper(x):\n    return x\n\n"
        "def read(source: Path, limit: int = 10):\n    rows = open(source).read().split()\n"
        "    return rows[:limit]\n\n"
        "def count(rows) -> None:\n    print(len(rows))\n"
    )
    one = headwater("function", "init", "steps.py:read", "--name", "reader", cwd=tmp_path)
    assert one.code == 0, one.stderr
    assert "name: reader" in one.stdout and "configMapKeyRef" in one.stdout
    every = headwater("function", "init", "steps.py", cwd=tmp_path)
    assert every.stdout.count("kind: Function") == 2  # _helper is not one
    (tmp_path / "functions.yaml").write_text(every.stdout)
    (tmp_path / "flow.yaml").write_text(
        "apiVersion: headwater.dev/v1alpha1\nkind: Dataflow\nmetadata: {name: f}\n"
        "spec:\n  nodes:\n  - {function: read, inputs: [source, limit], outputs: [rows]}\n"
        "  - {function: count, inputs: [rows]}\n"
    )
    assert headwater("validate", "functions.yaml", "flow.yaml", cwd=tmp_path).code == 0
    missing = headwater("function", "init", "steps.py:reed", cwd=tmp_path)
    assert missing.code == 1 and "did you mean 'read'" in missing.stderr


def test_the_cli_says_no_operator_after_as_the_api_does() -> None:
    assert CLI_SECONDS == NO_OPERATOR_SECONDS


FLAKY = """
import os
from pathlib import Path

def flaky(marker):
    if not Path(marker).exists():
        Path(marker).write_text("seen")
        print("first go")
        raise TypeError("not this time")
    print("second go,", os.environ["GREETING"])
    return 1
"""


def test_logs_of_a_retried_node_are_read_attempt_by_attempt(tmp_path: Path) -> None:
    params = [{"name": "marker", "type": "value"}]
    write_manifests(
        tmp_path / "flow",
        [
            function("flaky", FLAKY, params, ["out"]),
            dataflow("again", [{"name": "f", "function": "flaky", "inputs": ["marker"]}]),
        ],
    )
    marker = f"marker={tmp_path / 'seen'}"
    submitted = hw(
        tmp_path,
        "submit",
        "flow",
        "-p",
        marker,
        "--name",
        "r",
        "--retries",
        "1",
        "--env",
        "GREETING=hello",
    )
    assert submitted.code == 0, submitted.stderr
    assert hw(tmp_path, "wait", "r").code == 0

    first = hw(tmp_path, "logs", "r", "f", "--attempt", "1").stdout
    assert "first go" in first and "TypeError: not this time" in first
    assert "second go" not in first and "headwater: attempt" not in first
    second = hw(tmp_path, "logs", "r", "f", "--attempt", "2").stdout
    assert "second go, hello" in second and "first go" not in second
    assert hw(tmp_path, "logs", "r", "f").stdout == second
    missing = hw(tmp_path, "logs", "r", "f", "--attempt", "3")
    assert missing.code == 1 and "attempt 3 of node f" in missing.stderr
    assert hw(tmp_path, "submit", "flow", "--env", "GREETING").code == 2
    followed = hw(tmp_path, "logs", "r", "-f").stdout
    assert followed.index("[f] first go") < followed.index("[f] second go")
