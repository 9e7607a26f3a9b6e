"""The operator killed with SIGKILL in the middle of a Run carries on when started
again: state comes from the cluster, Job names are deterministic, so no node runs twice.

This test kills the session's shared operator (see the fixture's comment in conftest.py)
rather than starting a second one, which would race with it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from conftest import (
    claim_path,
    hw_dataflow,
    hw_function,
    hw_run,
    items,
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

NAP = "import time\n\ndef main(x):\n    time.sleep(0.5)\n    return x + 1\n"
CHAINS, LENGTH = 4, 5


def chain_nodes() -> list[dict]:
    nodes = []
    for chain in range(CHAINS):
        for step in range(LENGTH):
            source = "x" if step == 0 else f"v{chain}-{step - 1}"
            nodes.append(
                {
                    "name": f"c{chain}-n{step}",
                    "function": "nap",
                    "inputs": {"x": source},
                    "outputs": [f"v{chain}-{step}"],
                }
            )
    return nodes


def metric(text: str, name: str) -> float | None:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def jobs_by_node(cluster: Cluster, namespace: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for job in items(cluster, namespace, "jobs", "headwater.dev/run=r"):
        found.setdefault(job["metadata"]["labels"]["headwater.dev/node"], []).append(job)
    return found


def succeeded(cluster: Cluster, namespace: str) -> int:
    nodes = run_status(cluster, namespace, "r").get("nodes", {})
    return sum(1 for n in nodes.values() if n.get("phase") == "Succeeded")


def test_operator_killed_mid_run(cluster: Cluster, namespace: str, operator: Operator) -> None:
    cluster.apply(
        [
            hw_function("nap", NAP, ["x"], ["out"]),
            hw_dataflow("chains", chain_nodes()),
            hw_run("r", "chains", parameters={"x": {"value": 0}}, parallelism=3),
        ],
        namespace,
    )
    wait_for(lambda: succeeded(cluster, namespace) >= 4, 120, "a few nodes to succeed")
    operator.kill()
    before = {
        node: (jobs[0]["metadata"]["uid"], jobs[0]["metadata"]["creationTimestamp"])
        for node, jobs in jobs_by_node(cluster, namespace).items()
    }
    total = CHAINS * LENGTH
    assert 0 < len(before) < total, "kill the operator while the run is under way"
    # Let the Jobs it left running finish while nobody watches.
    wait_for(
        lambda: all(
            j.get("status", {}).get("conditions")
            for js in jobs_by_node(cluster, namespace).values()
            for j in js
        ),
        60,
        "the orphaned Jobs to finish",
    )
    operator.start()

    status = wait_run(cluster, namespace, "r", "Succeeded", timeout=240)
    assert status["progress"] == f"{total}/{total}"
    jobs = jobs_by_node(cluster, namespace)
    assert len(jobs) == total
    assert all(len(js) == 1 for js in jobs.values()), {n: len(js) for n, js in jobs.items()}
    for node, (uid, created) in before.items():
        job = jobs[node][0]["metadata"]
        assert (job["uid"], job["creationTimestamp"]) == (uid, created), node
    # Each node ran once: one Pod each.
    pods = items(cluster, namespace, "pods", "headwater.dev/run=r")
    assert len(pods) == total
    assert all(n.get("attempts", 1) == 1 for n in status["nodes"].values())


def test_operator_killed_again_and_again(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    """Killed as soon as the first Job exists (its status maybe not yet written), then
    again half-way: still one Job per node, and the run succeeds."""
    cluster.apply(
        [
            hw_function("nap", NAP, ["x"], ["out"]),
            hw_dataflow("chains", chain_nodes()),
            hw_run("r", "chains", parameters={"x": {"value": 0}}, parallelism=3),
        ],
        namespace,
    )
    total = CHAINS * LENGTH
    wait_for(lambda: jobs_by_node(cluster, namespace), 60, "the first Job")
    operator.kill()
    operator.start()
    wait_for(lambda: succeeded(cluster, namespace) >= total // 2, 120, "half the nodes")
    operator.kill()
    operator.start()
    status = wait_run(cluster, namespace, "r", "Succeeded", timeout=240)
    jobs = jobs_by_node(cluster, namespace)
    assert len(jobs) == total
    assert all(len(js) == 1 for js in jobs.values())
    assert len(items(cluster, namespace, "pods", "headwater.dev/run=r")) == total
    assert all(n.get("attempts", 1) == 1 for n in status["nodes"].values())
    # Each chain adds one LENGTH times to 0.
    outputs = status["outputs"]
    assert sorted(outputs) == [f"v{chain}-{LENGTH - 1}" for chain in range(CHAINS)]
    for uri in outputs.values():
        assert read_artifact(claim_path(cluster, namespace, uri)) == LENGTH


def test_an_operator_restricted_to_a_namespace(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    """`--namespace NS` serves NS and leaves the others alone. The shared operator is
    stopped meanwhile (and started again by the next test's fixture), so that only the
    restricted one is at work."""
    # The class of the shared one, not `from conftest import`: at run time that name may
    # be another folder's conftest.
    OperatorProcess = type(operator)

    other = f"{namespace[:50]}-other"
    cluster.kubectl("create", "namespace", other)
    objects = [
        hw_function("nap", NAP, ["x"], ["out"]),
        hw_dataflow("one", [{"name": "only", "function": "nap", "inputs": ["x"]}]),
        hw_run("r", "one", parameters={"x": {"value": 1}}),
    ]
    restricted = OperatorProcess(cluster, operator.log_path, "--namespace", namespace)
    operator.stop()
    try:
        restricted.start()
        cluster.apply(objects, other)
        cluster.apply(objects, namespace)
        wait_run(cluster, namespace, "r", "Succeeded")

        def reconciles() -> float:
            count = metric(restricted.metrics(), "headwater_reconcile_duration_seconds_count")
            return count or 0.0

        # Nothing happens in its namespace any more, so the next reconcile is a resync
        # (every 5 s), which looks at everything the operator serves.
        seen = reconciles()
        wait_for(lambda: reconciles() > seen, 30, "a resync")
        assert metric(restricted.metrics(), "headwater_jobs_created_total") == 1
        assert run_status(cluster, other, "r") == {}
        assert items(cluster, other, "jobs", "headwater.dev/run=r") == []
    finally:
        restricted.stop()
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


def test_stop_while_the_operator_is_down(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    sleeper(cluster, namespace)
    wait_for(lambda: running_pod(cluster, namespace), 60, "the node's pod to run")
    operator.kill()
    cluster.kubectl(
        "patch", "run", "r", "-n", namespace, "--type=merge", "-p", '{"spec":{"stop":true}}'
    )
    operator.start()
    status = wait_run(cluster, namespace, "r", "Cancelled", timeout=60)
    assert status["nodes"]["nap"]["phase"] == "Cancelled"
    wait_for(lambda: not items(cluster, namespace, "pods", "headwater.dev/run=r"), 60, "pods gone")
