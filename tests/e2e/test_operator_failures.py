"""Failing nodes: the message reaches the Run, descendants are skipped, independent
branches finish, and retries are Kubernetes' own (backoffLimit, podFailurePolicy)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from conftest import hw_dataflow, hw_function, hw_run, items, run_status, wait_for, wait_run

if TYPE_CHECKING:
    from conftest import Cluster, Operator

pytestmark = pytest.mark.e2e

RAISES = "def main(x):\n    raise ValueError('kaboom: x was ' + str(x))\n"
PLUS_ONE = "def main(x):\n    return x + 1\n"
ONE_OF_TWO = "def main(x):\n    return x\n"  # declares two outputs, returns one value


def branches(first: str) -> list[dict]:
    """a → b, and c on its own."""
    return [
        {"name": "a", "function": first, "inputs": {"x": "x"}, "outputs": ["m"]},
        {"name": "b", "function": "plus-one", "inputs": {"x": "m"}, "outputs": ["z"]},
        {"name": "c", "function": "plus-one", "inputs": {"x": "x"}, "outputs": ["w"]},
    ]


def pods_of_node(cluster: Cluster, namespace: str, run: str, node: str) -> list[dict]:
    return items(cluster, namespace, "pods", f"headwater.dev/run={run},headwater.dev/node={node}")


def test_failing_function_retried_then_run_failed(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    cluster.apply(
        [
            hw_function("raises", RAISES, ["x"], ["m"]),
            hw_function("plus-one", PLUS_ONE, ["x"], ["m"]),
            hw_dataflow("flow", branches("raises")),
            hw_run("r", "flow", parameters={"x": {"value": 7}}, retries=2),
        ],
        namespace,
    )
    # The condition is the contract: kubectl wait can tell a failure.
    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Succeeded=False", "--timeout=180s", "run/r",
        timeout=200,
    )  # fmt: skip
    status = wait_run(cluster, namespace, "r", "Failed")
    nodes = status["nodes"]
    assert nodes["a"]["phase"] == "Failed"
    assert "kaboom: x was 7" in nodes["a"]["message"]
    assert nodes["a"]["attempts"] == 3
    assert nodes["b"]["phase"] == "Skipped"
    assert nodes["c"]["phase"] == "Succeeded"
    condition = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert condition["status"] == "False"
    assert condition["reason"] == "NodeFailed"
    assert "a" in condition["message"]
    # Kubernetes' Job controller made the attempts: backoffLimit 2 → 3 Pods.
    assert len(pods_of_node(cluster, namespace, "r", "a")) == 3
    assert pods_of_node(cluster, namespace, "r", "b") == []
    assert items(cluster, namespace, "jobs", "headwater.dev/run=r,headwater.dev/node=b") == []

    def warnings() -> set[str] | None:
        events = cluster.json("events", "-n", namespace, "--field-selector=type=Warning")
        found = {e["reason"] for e in events["items"] if e["involvedObject"]["name"] == "r"}
        return found if {"NodeFailed", "RunFailed"} <= found else None

    wait_for(warnings, 30, "NodeFailed and RunFailed warnings")


def test_bad_input_is_not_retried(cluster: Cluster, namespace: str, operator: Operator) -> None:
    cluster.apply(
        [
            hw_function("one-of-two", ONE_OF_TWO, ["x"], ["m", "extra"]),
            hw_function("plus-one", PLUS_ONE, ["x"], ["m"]),
            hw_dataflow(
                "flow",
                [
                    {"name": "a", "function": "one-of-two", "inputs": {"x": "x"}},
                    {"name": "c", "function": "plus-one", "inputs": {"x": "x"}, "outputs": ["w"]},
                ],
            ),
            hw_run("r", "flow", parameters={"x": {"value": 1}}, retries=2),
        ],
        namespace,
    )
    status = wait_run(cluster, namespace, "r", "Failed", timeout=120)
    a = status["nodes"]["a"]
    assert a["phase"] == "Failed"
    assert a.get("exitCode") == 2, a
    assert "output" in a["message"].lower(), a
    assert status["nodes"]["c"]["phase"] == "Succeeded"
    # podFailurePolicy: exit code 2 fails the Job at once despite retries: 2.
    assert len(pods_of_node(cluster, namespace, "r", "a")) == 1


def test_a_job_the_api_server_rejects_fails_its_node(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    greedy = hw_function("greedy", PLUS_ONE, ["x"], ["m"])
    # Well-formed quantities (a malformed one is refused at apply time), but a limit
    # below its request: only the API server's Job validation knows that rule.
    greedy["spec"]["resources"] = {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
    cluster.apply(
        [
            greedy,
            hw_function("plus-one", PLUS_ONE, ["x"], ["m"]),
            hw_dataflow("flow", branches("greedy")),
            hw_run("r", "flow", parameters={"x": {"value": 1}}),
        ],
        namespace,
    )
    status = wait_run(cluster, namespace, "r", "Failed")
    a = status["nodes"]["a"]
    assert a["phase"] == "Failed"
    assert "rejected" in a["message"] and "less than or equal to cpu limit" in a["message"], a
    assert status["nodes"]["b"]["phase"] == "Skipped"
    assert status["nodes"]["c"]["phase"] == "Succeeded"


def test_a_snapshot_too_big_for_a_config_map_fails_the_run(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    """Twenty Functions with code at its length limit each fit etcd, but the Run's
    snapshot of their code does not fit a ConfigMap (1 MiB)."""
    import yaml

    from headwater.limits import CODE_LENGTH

    padding = "# " + "x" * (CODE_LENGTH - len(PLUS_ONE) - 3) + "\n"
    functions = [hw_function(f"big-{i}", PLUS_ONE + padding, ["x"], ["m"]) for i in range(20)]
    nodes = [
        {"name": f"n{i}", "function": f"big-{i}", "inputs": {"x": "x"}, "outputs": [f"o{i}"]}
        for i in range(20)
    ]
    # kubectl create: apply would store a copy of each in an annotation (256 kB at most).
    cluster.kubectl("create", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(functions))
    cluster.apply(
        [hw_dataflow("flow", nodes), hw_run("r", "flow", parameters={"x": {"value": 1}})],
        namespace,
    )
    status = wait_run(cluster, namespace, "r", "Failed")
    failed = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert failed["reason"] == "SnapshotRejected", failed
    assert "1048576 bytes" in failed["message"], failed
    assert items(cluster, namespace, "jobs", "headwater.dev/run=r") == []


FLAKY = """
import time
from pathlib import Path

MARKER = Path("/var/lib/headwater/store/first-attempt")

def main(x):
    if not MARKER.exists():
        MARKER.write_text("seen")
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")
    time.sleep(15)
    return x
"""


def test_a_retried_node_says_which_attempt_failed_and_finished_always_comes(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    """The first attempt fails (a marker in the shared store tells the second it is
    second); while the second runs, node and Run say what went wrong. Then a failing Run
    ends with Finished=True, so `kubectl wait --for=condition=Finished` returns."""
    cluster.apply(
        [
            hw_function("flaky", FLAKY, ["x"], ["m"]),
            hw_function("raises", RAISES, ["x"], ["m"]),
            hw_dataflow("flow", [{"name": "a", "function": "flaky", "inputs": ["x"]}]),
            hw_dataflow("doomed", [{"name": "a", "function": "raises", "inputs": ["x"]}]),
            hw_run("r", "flow", parameters={"x": {"value": 7}}, retries=2),
            hw_run("doomed", "doomed", parameters={"x": {"value": 7}}),
        ],
        namespace,
    )
    expected = "attempt 1 of 3 failed: TypeError: unsupported operand type(s) for +"

    def retrying() -> dict | None:
        status = run_status(cluster, namespace, "r")
        node = status.get("nodes", {}).get("a", {})
        return status if expected in (node.get("message") or "") else None

    status = wait_for(retrying, 90, "the retry message")
    assert status["nodes"]["a"]["phase"] == "Running"
    condition = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert f"node a: {expected}" in condition["message"], condition
    wait_run(cluster, namespace, "r", "Succeeded", timeout=120)

    cluster.kubectl(
        "wait", "-n", namespace, "--for=condition=Finished", "--timeout=120s", "run/doomed",
        timeout=140,
    )  # fmt: skip
    doomed = run_status(cluster, namespace, "doomed")
    assert doomed["phase"] == "Failed" and doomed["progress"] == "0/1"
    assert doomed["nodeCounts"]["failed"] == 1
