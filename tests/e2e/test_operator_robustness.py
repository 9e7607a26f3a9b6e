"""What ordinary and careless objects must not do to the operator: wedge it, hide a Pod
that cannot start, lose a race, or take everyone down when it stops or changes hands.

Several tests stop the session's shared operator and start their own (see the fixture's
comment in conftest.py); the next test's fixture starts the shared one again."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import pytest
from conftest import (
    PLUS_ONE,
    POD_START_TIMEOUT,
    claim_path,
    hw_dataflow,
    hw_function,
    hw_run,
    items,
    restart_apiserver,
    run_status,
    wait_for,
    wait_run,
)

from headwater.artifacts import read_artifact

if TYPE_CHECKING:
    from conftest import Cluster, Operator

pytestmark = pytest.mark.e2e

NAP = "import time\n\ndef main(x):\n    time.sleep(0.5)\n    return x + 1\n"


def node_of(cluster: Cluster, namespace: str, run: str, node: str) -> dict:
    return dict(run_status(cluster, namespace, run).get("nodes", {}).get(node) or {})


def test_runs_expiring_by_the_dozen_do_not_stop_new_ones(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    """The TTL deadlock: every expiry used to block a thread for ever."""
    flow = hw_dataflow("one", [{"name": "only", "function": "plus-one", "inputs": ["x"]}])
    runs = [
        hw_run(f"brief-{i}", "one", parameters={"x": {"value": i}}, ttlSecondsAfterFinished=1)
        for i in range(16)
    ]
    cluster.apply([hw_function("plus-one", PLUS_ONE, ["x"], ["out"]), flow, *runs], namespace)
    wait_for(lambda: not items(cluster, namespace, "runs", ""), 180, "every brief Run to expire")
    cluster.apply(hw_run("after", "one", parameters={"x": {"value": 41}}), namespace)
    wait_run(cluster, namespace, "after", "Succeeded", timeout=60)


def test_a_node_whose_image_cannot_be_pulled_says_so_then_fails(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    function = hw_function("plus-one", PLUS_ONE, ["x"], ["out"])
    function["spec"]["image"] = "registry.invalid/team/cor:1.2"
    flow = hw_dataflow("one", [{"name": "only", "function": "plus-one", "inputs": ["x"]}])
    cluster.apply([function, flow, hw_run("r", "one", parameters={"x": {"value": 1}})], namespace)

    def waiting() -> str | None:
        message = node_of(cluster, namespace, "r", "only").get("message") or ""
        return message if "ImagePull" in message or "ErrImagePull" in message else None

    message = wait_for(waiting, 30, "the pull error in the node's message")
    assert message.startswith("waiting: "), message
    status = wait_run(cluster, namespace, "r", "Failed", timeout=POD_START_TIMEOUT + 60)
    failed = status["nodes"]["only"]
    assert f"could not start within {POD_START_TIMEOUT}s" in failed["message"], failed
    assert "registry.invalid" in failed["message"], failed
    wait_for(lambda: not items(cluster, namespace, "jobs", "headwater.dev/run=r"), 60, "Job gone")


def test_a_missing_secret_dataset_fails_its_node_with_the_mount_error(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    reader = hw_function("reads", "def main(token):\n    return len(token)\n", ["token"], ["n"])
    reader["spec"]["params"][0]["type"] = "artifact"
    dataset = {
        "apiVersion": "headwater.dev/v1alpha1",
        "kind": "Dataset",
        "metadata": {"name": "token"},
        "spec": {"source": {"secretKeyRef": {"name": "not-there", "key": "token"}}},
    }
    flow = hw_dataflow("one", [{"name": "only", "function": "reads", "inputs": ["token"]}])
    run = hw_run("r", "one", parameters={"token": {"dataset": "token"}})
    cluster.apply([reader, dataset, flow, run], namespace)

    def mount_error() -> str | None:
        message = node_of(cluster, namespace, "r", "only").get("message") or ""
        return message if "FailedMount" in message else None

    message = wait_for(mount_error, 40, "the FailedMount warning in the node's message")
    assert '"not-there" not found' in message, message
    status = wait_run(cluster, namespace, "r", "Failed", timeout=POD_START_TIMEOUT + 60)
    assert "not-there" in status["nodes"]["only"]["message"]


def test_a_pending_claim_makes_the_node_unschedulable_then_fails_it(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    """ReadWriteMany is Pending on single-node clusters: the Pod cannot be scheduled."""
    OperatorProcess = type(operator)
    rwx = OperatorProcess(
        cluster, operator.log_path, "--namespace", namespace, "--pvc-access-mode", "ReadWriteMany"
    )
    operator.stop()
    try:
        rwx.start()
        flow = hw_dataflow("one", [{"name": "only", "function": "plus-one", "inputs": ["x"]}])
        cluster.apply(
            [
                hw_function("plus-one", PLUS_ONE, ["x"], ["out"]),
                flow,
                hw_run("r", "one", parameters={"x": {"value": 1}}),
            ],
            namespace,
        )

        def unschedulable() -> str | None:
            message = node_of(cluster, namespace, "r", "only").get("message") or ""
            return message if "Unschedulable" in message else None

        message = wait_for(unschedulable, 40, "Unschedulable in the node's message")
        assert "unbound immediate PersistentVolumeClaims" in message, message
        wait_run(cluster, namespace, "r", "Failed", timeout=POD_START_TIMEOUT + 60)
    finally:
        rwx.stop()


def test_a_status_write_over_a_stale_version_is_refused(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    from kubernetes import config as kube_config

    from headwater.controller.kube import Conflict, Kube
    from headwater.controller.settings import OperatorSettings

    flow = hw_dataflow("one", [{"name": "only", "function": "plus-one", "inputs": ["x"]}])
    cluster.apply(
        [
            hw_function("plus-one", PLUS_ONE, ["x"], ["out"]),
            flow,
            hw_run("r", "one", parameters={"x": {"value": 1}}),
        ],
        namespace,
    )
    wait_run(cluster, namespace, "r", "Succeeded")
    configuration = kube_config.kube_config.Configuration()
    kube_config.load_kube_config(str(cluster.kubeconfig), client_configuration=configuration)
    kube = Kube(OperatorSettings(), configuration)
    try:
        stale = cluster.json("run", "r", "-n", namespace)
        cluster.kubectl("label", "run", "r", "-n", namespace, "touched=yes")
        with pytest.raises(Conflict):
            kube.replace_status("runs", stale, {"phase": "Failed"})
        assert run_status(cluster, namespace, "r")["phase"] == "Succeeded"
        fresh = cluster.json("run", "r", "-n", namespace)
        written = kube.replace_status("runs", fresh, fresh["status"])
        assert written is not None and written["status"]["phase"] == "Succeeded"
    finally:
        kube.close()


def test_sigterm_stops_the_operator_quickly_and_quietly(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    flow = hw_dataflow("one", [{"name": "only", "function": "nap", "inputs": ["x"]}])
    cluster.apply(
        [hw_function("nap", NAP, ["x"], ["out"]), flow]
        + [hw_run(f"r{i}", "one", parameters={"x": {"value": i}}) for i in range(10)],
        namespace,
    )
    wait_for(lambda: items(cluster, namespace, "jobs", "headwater.dev/run"), 30, "some Jobs")
    since = operator.log_size()
    assert operator.proc is not None
    started = time.monotonic()
    operator.proc.terminate()
    operator.proc.wait(30)
    took = time.monotonic() - started
    log = operator.tail(since, lines=500)
    print(f"operator stopped {took:.1f}s after SIGTERM")
    assert took < 8, f"{took:.1f}s to stop:\n{log}"
    assert "is cancelled" not in log, log
    operator.start()
    for i in range(10):
        wait_run(cluster, namespace, f"r{i}", "Succeeded", timeout=120)


def test_a_run_survives_an_api_server_restart(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    nodes = [
        {
            "name": f"n{i}",
            "function": "nap",
            "inputs": {"x": "x" if i == 0 else f"v{i - 1}"},
            "outputs": [f"v{i}"],
        }
        for i in range(8)
    ]
    cluster.apply(
        [
            hw_function("nap", NAP, ["x"], ["out"]),
            hw_dataflow("chain", nodes),
            hw_run("r", "chain", parameters={"x": {"value": 0}}),
        ],
        namespace,
    )
    wait_for(lambda: node_of(cluster, namespace, "r", "n2").get("phase"), 120, "n2 to start")
    restart_apiserver(cluster)
    status = wait_run(cluster, namespace, "r", "Succeeded", timeout=180)
    assert read_artifact(claim_path(cluster, namespace, status["outputs"]["v7"])) == 8
    jobs = items(cluster, namespace, "jobs", "headwater.dev/run=r")
    assert len(jobs) == 8, "one Job per node"
    assert operator.alive


def holder(cluster: Cluster, namespace: str) -> str | None:
    found = cluster.kubectl(
        "get", "lease", "headwater-operator", "-n", namespace, "-o", "json", check=False
    )
    if found.returncode != 0:
        return None
    return json.loads(found.stdout)["spec"].get("holderIdentity") or None


def test_the_leader_of_two_replicas_killed_again_and_again_loses_nothing(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    OperatorProcess = type(operator)
    election = ("--leader-elect", "--operator-namespace", namespace)
    replicas = [OperatorProcess(cluster, operator.log_path, *election) for _ in range(2)]
    operator.stop()
    chains, length = 3, 10
    nodes = [
        {
            "name": f"c{c}-n{s}",
            "function": "nap",
            "inputs": {"x": "x" if s == 0 else f"v{c}-{s - 1}"},
            "outputs": [f"v{c}-{s}"],
        }
        for c in range(chains)
        for s in range(length)
    ]
    handovers: list[float] = []
    try:
        replicas[0].start()
        replicas[1].start(ready=False)
        cluster.apply(
            [
                hw_function("nap", NAP, ["x"], ["out"]),
                hw_dataflow("chains", nodes),
                hw_run("r", "chains", parameters={"x": {"value": 0}}),
            ],
            namespace,
        )
        while run_status(cluster, namespace, "r").get("phase") not in ("Succeeded", "Failed"):
            time.sleep(3)
            current = holder(cluster, namespace)
            leader = next(
                (p for p in replicas if p.proc and current and f"-{p.proc.pid}-" in current), None
            )
            if leader is None or len(handovers) >= 6:
                continue
            killed_at = time.monotonic()
            leader.kill()
            wait_for(
                lambda old=current: (holder(cluster, namespace) or old) != old,
                30,
                "another replica to take the lease",
            )
            handovers.append(time.monotonic() - killed_at)
            leader.start(ready=False)  # back as the standby
        print("handovers (s):", ", ".join(f"{h:.1f}" for h in handovers))
        assert len(handovers) >= 3, "the run ended before the leader was killed three times"
        assert max(handovers) < 15, handovers
        status = wait_run(cluster, namespace, "r", "Succeeded", timeout=60)
        jobs = items(cluster, namespace, "jobs", "headwater.dev/run=r")
        by_node = [j["metadata"]["labels"]["headwater.dev/node"] for j in jobs]
        assert sorted(by_node) == sorted(n["name"] for n in nodes), "one Job per node"
        for c in range(chains):
            uri = status["outputs"][f"v{c}-{length - 1}"]
            assert read_artifact(claim_path(cluster, namespace, uri)) == length
    finally:
        for replica in replicas:
            replica.stop()
