"""A Run's life: stop, resume from an earlier Run, timeout, and TTL after finishing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from conftest import claim_path, hw_dataflow, hw_function, hw_run, items, wait_for, wait_run

from headwater.artifacts import read_artifact

if TYPE_CHECKING:
    from conftest import Cluster, Operator

pytestmark = pytest.mark.e2e

SLEEPS = "import time\n\ndef main(x):\n    time.sleep(300)\n    return x\n"
PLUS_ONE = "def main(x):\n    return x + 1\n"
BROKEN = "def main(x):\n    raise RuntimeError('not fixed yet')\n"
TIMES_TEN = "def main(x):\n    return x * 10\n"


def of_run(cluster: Cluster, namespace: str, kind: str, run: str) -> list[dict]:
    return items(cluster, namespace, kind, f"headwater.dev/run={run}")


def sleeper(cluster: Cluster, namespace: str, **spec: object) -> None:
    cluster.apply(
        [
            hw_function("sleeps", SLEEPS, ["x"], ["out"]),
            hw_dataflow("slow", [{"name": "nap", "function": "sleeps", "inputs": ["x"]}]),
            hw_run("r", "slow", parameters={"x": {"value": 1}}, **spec),
        ],
        namespace,
    )


def running_pod(cluster: Cluster, namespace: str) -> bool:
    pods = of_run(cluster, namespace, "pods", "r")
    return any(p.get("status", {}).get("phase") == "Running" for p in pods)


def test_stop_cancels_a_running_node(cluster: Cluster, namespace: str, operator: Operator) -> None:
    sleeper(cluster, namespace)
    wait_for(lambda: running_pod(cluster, namespace), 60, "the node's pod to run")
    cluster.kubectl(
        "patch", "run", "r", "-n", namespace, "--type=merge", "-p", '{"spec":{"stop":true}}'
    )
    status = wait_run(cluster, namespace, "r", "Cancelled", timeout=60)
    assert status["nodes"]["nap"]["phase"] == "Cancelled"
    stopped = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert stopped["status"] == "False" and stopped["reason"] == "Stopped", stopped
    wait_for(lambda: of_run(cluster, namespace, "jobs", "r") == [], 60, "the Job to go")
    wait_for(lambda: of_run(cluster, namespace, "pods", "r") == [], 60, "the pods to go")


def test_timeout_fails_the_run(cluster: Cluster, namespace: str, operator: Operator) -> None:
    sleeper(cluster, namespace, timeoutSeconds=3)
    status = wait_run(cluster, namespace, "r", "Failed", timeout=60)
    failed = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert failed["reason"] == "Timeout", failed
    assert status["nodes"]["nap"]["phase"] in ("Cancelled", "Failed"), status
    wait_for(lambda: not running_pod(cluster, namespace), 60, "the pod to stop")


def test_resume_from_reuses_succeeded_nodes(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    nodes = [
        {"name": "a", "function": "plus-one", "inputs": {"x": "x"}, "outputs": ["ax"]},
        {"name": "b", "function": "fix-me", "inputs": {"x": "ax"}, "outputs": ["bx"]},
        {"name": "c", "function": "plus-one", "inputs": {"x": "bx"}, "outputs": ["cx"]},
    ]
    cluster.apply(
        [
            hw_function("plus-one", PLUS_ONE, ["x"], ["out"]),
            hw_function("fix-me", BROKEN, ["x"], ["out"]),
            hw_dataflow("flow", nodes),
            hw_run("first", "flow", parameters={"x": {"value": 1}}),
        ],
        namespace,
    )
    first = wait_run(cluster, namespace, "first", "Failed")
    assert first["nodes"]["a"]["phase"] == "Succeeded"
    assert "not fixed yet" in first["nodes"]["b"]["message"]
    assert first["nodes"]["c"]["phase"] == "Skipped"

    cluster.apply(
        [
            hw_function("fix-me", TIMES_TEN, ["x"], ["out"]),
            hw_run("second", "flow", parameters={"x": {"value": 1}}, resumeFrom="first"),
        ],
        namespace,
    )
    second = wait_run(cluster, namespace, "second", "Succeeded")
    assert second["nodes"]["a"]["phase"] == "Succeeded"
    assert second["nodes"]["a"].get("reusedFrom") == "first", second["nodes"]["a"]
    assert not second["nodes"]["b"].get("reusedFrom")
    jobs = of_run(cluster, namespace, "jobs", "second")
    assert sorted(j["metadata"]["labels"]["headwater.dev/node"] for j in jobs) == ["b", "c"]
    # (1 + 1) * 10 + 1, computed from the reused output of a.
    assert read_artifact(claim_path(cluster, namespace, second["outputs"]["cx"])) == 21


def test_ttl_deletes_the_finished_run(cluster: Cluster, namespace: str, operator: Operator) -> None:
    cluster.apply(
        [
            hw_function("plus-one", PLUS_ONE, ["x"], ["out"]),
            hw_dataflow("flow", [{"name": "p", "function": "plus-one", "inputs": ["x"]}]),
            hw_run("r", "flow", parameters={"x": {"value": 1}}, ttlSecondsAfterFinished=2),
        ],
        namespace,
    )
    wait_run(cluster, namespace, "r", "Succeeded")
    assert of_run(cluster, namespace, "jobs", "r")

    def gone() -> bool:
        proc = cluster.kubectl("get", "run", "r", "-n", namespace, check=False)
        return proc.returncode != 0 and "NotFound" in proc.stderr

    wait_for(gone, 60, "the Run to be deleted after its TTL")
    wait_for(lambda: of_run(cluster, namespace, "jobs", "r") == [], 60, "its Jobs to go")
