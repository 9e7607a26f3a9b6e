"""A Run's life: stop, resume from an earlier Run, timeout, and TTL after finishing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from conftest import (
    PLUS_ONE,
    claim_path,
    hw_dataflow,
    hw_function,
    hw_run,
    of_run,
    run_status,
    running_pod,
    sleeper,
    wait_for,
    wait_run,
)

from headwater.artifacts import read_artifact

if TYPE_CHECKING:
    from conftest import Cluster, Operator

pytestmark = pytest.mark.e2e

BROKEN = "def main(x):\n    raise RuntimeError('not fixed yet')\n"
TIMES_TEN = "def main(x):\n    return x * 10\n"


def test_stop_cancels_a_running_node(cluster: Cluster, namespace: str, operator: Operator) -> None:
    # A node after the sleeping one, which never starts.
    after = {"name": "after", "function": "plus-one", "inputs": {"x": "napped"}}
    sleeper(cluster, namespace, (after,))
    wait_for(lambda: running_pod(cluster, namespace), 60, "the node's pod to run")
    cluster.kubectl(
        "patch", "run", "r", "-n", namespace, "--type=merge", "-p", '{"spec":{"stop":true}}'
    )
    status = wait_run(cluster, namespace, "r", "Cancelled", timeout=60)
    assert status["nodes"]["nap"]["phase"] == "Cancelled"
    assert status["nodes"]["after"]["phase"] == "Cancelled", status["nodes"]
    stopped = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert stopped["status"] == "False" and stopped["reason"] == "Stopped", stopped
    wait_for(lambda: of_run(cluster, namespace, "jobs", "r") == [], 60, "the Job to go")
    wait_for(lambda: of_run(cluster, namespace, "pods", "r") == [], 60, "the pods to go")
    assert of_run(cluster, namespace, "jobs", "r") == []


def test_timeout_fails_the_run(cluster: Cluster, namespace: str, operator: Operator) -> None:
    sleeper(cluster, namespace, timeoutSeconds=3)
    status = wait_run(cluster, namespace, "r", "Failed", timeout=60)
    failed = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert failed["reason"] == "Timeout", failed
    assert status["nodes"]["nap"]["phase"] in ("Cancelled", "Failed"), status
    wait_for(lambda: not running_pod(cluster, namespace), 60, "the pod to stop")


def test_a_lost_snapshot_fails_the_run_instead_of_refreezing(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    sleeper(cluster, namespace)
    wait_for(lambda: running_pod(cluster, namespace), 60, "the node's pod to run")
    (snapshot,) = of_run(cluster, namespace, "configmaps", "r")
    cluster.kubectl("delete", "configmap", snapshot["metadata"]["name"], "-n", namespace)
    status = wait_run(cluster, namespace, "r", "Failed", timeout=60)
    failed = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert failed["reason"] == "SnapshotLost", failed
    assert of_run(cluster, namespace, "configmaps", "r") == [], "not frozen again"


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

    # Resuming from a run that itself reused: everything is reused, nothing runs, and
    # each node names the Run that computed its outputs.
    cluster.apply(
        hw_run("third", "flow", parameters={"x": {"value": 1}}, resumeFrom="second"), namespace
    )
    third = wait_run(cluster, namespace, "third", "Succeeded")
    origins = {n: s.get("reusedFrom") for n, s in third["nodes"].items()}
    assert origins == {"a": "first", "b": "second", "c": "second"}, third
    assert of_run(cluster, namespace, "jobs", "third") == []
    assert read_artifact(claim_path(cluster, namespace, third["outputs"]["cx"])) == 21


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


def test_editing_a_function_does_not_change_a_run_in_flight(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    naps = "import time\n\ndef main(x):\n    time.sleep(4)\n    return x\n"
    cluster.apply(
        [
            hw_function("naps", naps, ["x"], ["out"]),
            hw_function("plus-one", PLUS_ONE, ["x"], ["out"]),
            hw_dataflow(
                "flow",
                [
                    {"name": "a", "function": "naps", "inputs": ["x"], "outputs": ["ax"]},
                    {"name": "b", "function": "plus-one", "inputs": {"x": "ax"}, "outputs": ["bx"]},
                ],
            ),
            hw_run("r", "flow", parameters={"x": {"value": 1}}),
        ],
        namespace,
    )
    wait_for(lambda: running_pod(cluster, namespace), 60, "node a to run")
    cluster.apply(hw_function("plus-one", TIMES_TEN, ["x"], ["out"]), namespace)
    status = wait_run(cluster, namespace, "r", "Succeeded")
    # b ran the code frozen when the Run started: 1 + 1, not 1 * 10.
    assert read_artifact(claim_path(cluster, namespace, status["outputs"]["bx"])) == 2


def test_a_run_deleted_and_applied_again_runs_afresh(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    cluster.apply(
        [
            hw_function("plus-one", PLUS_ONE, ["x"], ["out"]),
            hw_dataflow("flow", [{"name": "p", "function": "plus-one", "inputs": ["x"]}]),
            hw_run("r", "flow", parameters={"x": {"value": 1}}),
        ],
        namespace,
    )
    first = wait_run(cluster, namespace, "r", "Succeeded")
    old_uid = cluster.json("run", "r", "-n", namespace)["metadata"]["uid"]
    cluster.kubectl("delete", "run", "r", "-n", namespace)
    cluster.apply(hw_run("r", "flow", parameters={"x": {"value": 5}}), namespace)

    def new_run_succeeded() -> dict | None:
        body = cluster.json("run", "r", "-n", namespace)
        status = body.get("status") or {}
        fresh = body["metadata"]["uid"] != old_uid
        return status if fresh and status.get("phase") == "Succeeded" else None

    second = wait_for(new_run_succeeded, 120, "the new Run r to succeed")
    assert first["outputs"] == second["outputs"]  # the same place in the store...
    assert read_artifact(claim_path(cluster, namespace, second["outputs"]["out"])) == 6  # ...new
    new_uid = cluster.json("run", "r", "-n", namespace)["metadata"]["uid"]
    jobs = of_run(cluster, namespace, "jobs", "r")
    assert len(jobs) == 1
    assert jobs[0]["metadata"]["ownerReferences"][0]["uid"] == new_uid


def test_a_run_stopped_from_the_start_creates_nothing(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    sleeper(cluster, namespace, stop=True)
    status = wait_run(cluster, namespace, "r", "Cancelled")
    assert status["nodes"]["nap"]["phase"] == "Cancelled", status
    assert of_run(cluster, namespace, "jobs", "r") == []


def test_parallelism_bounds_unfinished_jobs(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    naps = "import time\n\ndef main(x):\n    time.sleep(1)\n    return x\n"
    fan = [
        {"name": f"n{i}", "function": "naps", "inputs": ["x"], "outputs": [f"o{i}"]}
        for i in range(8)
    ]
    cluster.apply(
        [
            hw_function("naps", naps, ["x"], ["out"]),
            hw_dataflow("fan", fan),
            hw_run("r", "fan", parameters={"x": {"value": 1}}, parallelism=2),
        ],
        namespace,
    )
    most = 0

    def finished() -> bool:
        nonlocal most
        jobs = of_run(cluster, namespace, "jobs", "r")
        unfinished = [j for j in jobs if not (j.get("status") or {}).get("conditions")]
        most = max(most, len(unfinished))
        return run_status(cluster, namespace, "r").get("phase") == "Succeeded"

    wait_for(finished, 120, "the run to succeed")
    assert most <= 2, f"{most} Jobs ran at once with parallelism 2"
    assert most == 2
    assert len(of_run(cluster, namespace, "jobs", "r")) == 8


def test_raising_parallelism_mid_run(cluster: Cluster, namespace: str, operator: Operator) -> None:
    naps = "import time\n\ndef main(x):\n    time.sleep(3)\n    return x\n"
    fan = [
        {"name": f"n{i}", "function": "naps", "inputs": ["x"], "outputs": [f"o{i}"]}
        for i in range(4)
    ]
    cluster.apply(
        [
            hw_function("naps", naps, ["x"], ["out"]),
            hw_dataflow("fan", fan),
            hw_run("r", "fan", parameters={"x": {"value": 1}}, parallelism=1),
        ],
        namespace,
    )
    wait_for(lambda: of_run(cluster, namespace, "jobs", "r"), 60, "the first Job")
    cluster.kubectl(
        "patch", "run", "r", "-n", namespace, "--type=merge", "-p", '{"spec":{"parallelism":4}}'
    )

    def unfinished() -> int:
        jobs = of_run(cluster, namespace, "jobs", "r")
        return sum(1 for j in jobs if not (j.get("status") or {}).get("conditions"))

    wait_for(lambda: unfinished() >= 3, 30, "more Jobs at once after the patch")
    status = wait_run(cluster, namespace, "r", "Succeeded")
    assert status["observedGeneration"] == 2, status
